import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareCoordinatedJob } from '../src/fl/index.js';
import {
  encodeSignedFrame,
  loadParticipantKit,
  provisionWithLocalKeys,
  revocationListPath,
  revokeParticipant,
  signRequest,
  signerFromKit,
  tlsOptionsForClient,
  type MessageSigner,
  type ParticipantKit,
} from '../src/identity/index.js';
import { ServerMessages, decodeMessage, encodeMessage } from '../src/protocol/index.js';
import { startCoordinator, type RunningCoordinator } from '../src/server/index.js';

const CLIENT_ERROR = /^(MESSAGE_|AUTH_|RATE_LIMITED|UPDATE_|ROUND_)/;

/** One snapshot of every table, to show that refused messages change nothing. */
function snapshot(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    return JSON.stringify(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all().map((row) => JSON.stringify(row, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v)))]));
  } finally {
    db.close();
  }
}

describe('coordinator under hostile input', () => {
  let dir: string;
  let dbFile: string;
  let storage: Storage;
  let coordinator: RunningCoordinator;
  let alice: ParticipantKit;
  let bob: ParticipantKit;
  let mallory: ParticipantKit;
  let foreign: ParticipantKit;
  let wsUrl: string;
  let before: string;
  let kitDir: string;
  let auditFile: string;
  let operators: { admin: string; viewer: string; scrape: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-fuzz-'));
    kitDir = join(dir, 'kits');
    auditFile = join(dir, 'audit.jsonl');
    const provisioned = await provisionWithLocalKeys({
      outDir: kitDir,
      participants: ['alice', 'bob', 'mallory'],
      serverHost: '127.0.0.1',
      serverPort: 0,
      operators: [{ name: 'ops-admin', role: 'admin' }, { name: 'ops-viewer', role: 'viewer' }],
    });
    operators = { admin: provisioned.operatorTokens.get('ops-admin')?.token ?? '', viewer: provisioned.operatorTokens.get('ops-viewer')?.token ?? '', scrape: provisioned.scrapeToken };
    await provisionWithLocalKeys({ outDir: join(dir, 'other'), participants: ['alice'], serverHost: '127.0.0.1', serverPort: 0 });
    revokeParticipant(kitDir, 'mallory');
    alice = loadParticipantKit(join(kitDir, 'participants', 'alice', 'kit.json'));
    bob = loadParticipantKit(join(kitDir, 'participants', 'bob', 'kit.json'));
    mallory = loadParticipantKit(join(kitDir, 'participants', 'mallory', 'kit.json'));
    foreign = loadParticipantKit(join(dir, 'other', 'participants', 'alice', 'kit.json'));
    dbFile = join(dir, 'state.db');
    storage = openStorage({ path: dbFile });
    const prepared = await prepareCoordinatedJob({ ...demoConfig({ rounds: 1 }), selection: { fraction: 1, minClients: 3 } });
    coordinator = await startCoordinator({
      prepared,
      storage,
      kitDir,
      host: '127.0.0.1',
      port: 0,
      operatorPort: 0,
      auditFile,
      logLevel: 'silent',
      limits: { messagesPerSecond: 1000, burst: 1000 },
    });
    expect(coordinator.warnings).toEqual([]);
    wsUrl = `${coordinator.participantUrl.replace('https', 'wss')}/v1/ws`;
    before = snapshot(dbFile);
  });
  afterAll(async () => {
    await coordinator?.close();
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function connect(kit: ParticipantKit): Promise<{ socket: WebSocket; next: () => Promise<{ kind: string; code?: string }> }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(wsUrl, { ...tlsOptionsForClient(kit) });
      const inbox: { kind: string; code?: string }[] = [];
      const waiting: ((m: { kind: string; code?: string }) => void)[] = [];
      socket.on('message', (raw: Buffer) => {
        const m = decodeMessage(new Uint8Array(raw), ServerMessages);
        const item = { kind: m.kind as string, ...(m.kind === 'error' ? { code: m.header.code } : {}) };
        const w = waiting.shift();
        if (w) w(item);
        else inbox.push(item);
      });
      socket.on('close', (code) => {
        const item = { kind: 'closed', code: String(code) };
        for (const w of waiting.splice(0)) w(item);
        inbox.push(item);
      });
      socket.once('open', () => resolve({ socket, next: () => new Promise((r) => (inbox.length ? r(inbox.shift() as { kind: string; code?: string }) : waiting.push(r))) }));
      socket.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      socket.once('error', reject);
    });
  }

  function post(kit: ParticipantKit, path: string, body: Uint8Array, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const url = new URL(coordinator.participantUrl);
      const req = httpsRequest(
        { ...tlsOptionsForClient(kit), host: url.hostname, port: url.port, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(Buffer.from(body));
    });
  }

  const heartbeat = (signer: MessageSigner): Uint8Array => encodeSignedFrame(signer, 'heartbeat', encodeMessage('heartbeat', { resources: { cpuCores: 2, memoryMb: 1024 } }));

  it('refuses arbitrary bytes on the WebSocket with a clear error and stays up', async () => {
    const { socket, next } = await connect(alice);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 2048 }), async (bytes) => {
        socket.send(bytes);
        const answer = await next();
        expect(answer.kind).toBe('error');
        expect(answer.code).toMatch(CLIENT_ERROR);
      }),
      { numRuns: 150 },
    );
    socket.close();
  });

  it('refuses unsigned, wrongly signed, impersonating, replayed and mislabelled frames', async () => {
    const { socket, next } = await connect(alice);
    const expectRefusal = async (bytes: Uint8Array, code: RegExp): Promise<void> => {
      socket.send(bytes);
      const answer = await next();
      expect(answer.kind).toBe('error');
      expect(answer.code).toMatch(code);
    };
    await expectRefusal(encodeMessage('heartbeat', { resources: { cpuCores: 1, memoryMb: 1 } }), /^(MESSAGE_MALFORMED|AUTH_UNSIGNED)$/);
    const stranger: MessageSigner = { participantId: 'alice', signingKey: generateKeyPairSync('ed25519').privateKey };
    await expectRefusal(heartbeat(stranger), /^AUTH_BAD_SIGNATURE$/);
    await expectRefusal(heartbeat(signerFromKit(bob)), /^AUTH_BAD_SIGNATURE$/);
    const valid = heartbeat(signerFromKit(alice));
    socket.send(valid);
    await expectRefusal(valid, /^AUTH_REPLAY$/);
    const tampered = new Uint8Array(heartbeat(signerFromKit(alice)));
    tampered[tampered.length - 70] ^= 1;
    await expectRefusal(tampered, /^AUTH_BAD_SIGNATURE$/);
    await expectRefusal(encodeSignedFrame(signerFromKit(alice), 'heartbeat', encodeMessage('failed', { roundId: 'r', reason: 'x' })), /^MESSAGE_INVALID$/);
    await expectRefusal(encodeSignedFrame(signerFromKit(alice), 'update', encodeMessage('update', { roundId: 'round-x', round: 1, numExamples: 1, loss: 0, seconds: 0, encoding: 'float32', sha256: '0'.repeat(64) })), /^UPDATE_NOT_REQUESTED$/);
    await expectRefusal(encodeSignedFrame(signerFromKit(alice), 'offer', encodeMessage('offer', { roundId: 'round-x', round: 1, bytes: 4 })), /^UPDATE_ROUND_CLOSED$/);
    socket.close();
  });

  it('closes a connection that sends an oversized message', async () => {
    const { socket, next } = await connect(alice);
    socket.send(new Uint8Array(64 * 2 ** 20));
    const answer = await next();
    expect(answer).toEqual({ kind: 'closed', code: '1009' });
  });

  it('refuses revoked participants (403) and certificates of another CA (TLS)', async () => {
    await expect(connect(mallory)).rejects.toMatchObject({ status: 403 });
    await expect(connect(foreign)).rejects.toThrow();
    const body = new TextEncoder().encode(JSON.stringify({ resources: { cpuCores: 1, memoryMb: 1 } }));
    const revoked = await post(mallory, '/v1/heartbeat', body, signRequest(signerFromKit(mallory), 'POST', '/v1/heartbeat', body));
    expect(revoked.status).toBe(403);
  });

  it('answers every malformed, unsigned, replayed or oversized REST request with a 4xx and a JSON error', async () => {
    const path = '/v1/heartbeat';
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.constantFrom('x-cn-sender', 'x-cn-nonce', 'x-cn-timestamp', 'x-cn-signature'), fc.string({ maxLength: 100 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''))),
        async (body, headers) => {
          const answer = await post(alice, path, body, headers);
          expect(answer.status).toBeGreaterThanOrEqual(400);
          expect(answer.status).toBeLessThan(500);
          expect(JSON.parse(answer.body).error.code).toMatch(/^[A-Z_]+$/);
        },
      ),
      { numRuns: 60 },
    );
    const body = new TextEncoder().encode(JSON.stringify({ resources: { cpuCores: 1, memoryMb: 1 } }));
    const headers = signRequest(signerFromKit(alice), 'POST', path, body);
    expect((await post(alice, path, body, headers)).status).toBe(200);
    expect((await post(alice, path, body, headers)).status).toBe(401);
    expect((await post(alice, path, body, signRequest(signerFromKit(bob), 'POST', path, body))).status).toBe(401);
    const big = new Uint8Array(200 * 1024).fill(32);
    expect((await post(alice, path, big, signRequest(signerFromKit(alice), 'POST', path, big))).status).toBe(413);
  });

  it('closes the connection of a participant revoked while connected (4403)', async () => {
    const { next } = await connect(bob);
    revokeParticipant(join(dir, 'kits'), 'bob');
    expect(await next()).toEqual({ kind: 'closed', code: '4403' });
    await expect(connect(bob)).rejects.toMatchObject({ status: 403 });
  });

  /** A request to the operator listener with exactly these headers (fetch would not send a foreign Host). */
  function operatorCall(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    const url = new URL(coordinator.operatorUrl);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path, method, headers: { host: url.host, ...headers } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Opens /api/live with these headers; resolves with the HTTP status that refused it, or 101. */
  function liveSocket(headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${coordinator.operatorUrl.replace('http', 'ws')}/api/live`, { headers });
      socket.once('open', () => {
        socket.close();
        resolve(101);
      });
      socket.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const operatorState = (): string => JSON.stringify([snapshot(dbFile), readFileSync(revocationListPath(kitDir), 'utf8'), coordinator.job.controlState]);
  const auditedOperatorActions = (): string[] => readFileSync(auditFile, 'utf8').split('\n').filter((line) => line.includes('"operator.')).map((line) => (JSON.parse(line) as { kind: string }).kind);

  it('refuses every operator route without credentials (401), with wrong ones (401) and admin routes to a viewer (403), and changes nothing', async () => {
    const jobId = coordinator.job.jobId;
    const reads = ['/api/jobs', `/api/jobs/${jobId}`, '/api/models', '/api/nodes', '/api/budgets', '/api/security-events', '/api/session', '/metrics'];
    const actions = [`/api/jobs/${jobId}/pause`, `/api/jobs/${jobId}/resume`, `/api/jobs/${jobId}/abort`, '/api/participants/alice/revoke'];
    const state = operatorState();
    for (const path of reads) expect([path, (await operatorCall('GET', path)).status]).toEqual([path, 401]);
    for (const path of actions) expect([path, (await operatorCall('POST', path)).status]).toEqual([path, 401]);
    expect(await liveSocket({})).toBe(401);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...reads.map((path) => ['GET', path]), ...actions.map((path) => ['POST', path]), ['DELETE', '/api/session']),
        fc.oneof(
          fc.string({ maxLength: 80 }).map((s) => ({ authorization: `Bearer ${s.replace(/[^\x21-\x7e]/g, '')}x` })),
          fc.string({ maxLength: 80 }).map((s) => ({ authorization: s.replace(/[^\x20-\x7e]/g, '') || 'x' })),
          fc.string({ maxLength: 80 }).map((s) => ({ cookie: `cn_operator=${s.replace(/[^\x21-\x7e]/g, '').replace(/;/g, '')}` })),
          fc.constant(bearer(`${operators.admin}x`)),
          fc.constant(bearer(operators.admin.slice(0, -1))),
        ),
        async ([method, path], headers) => {
          const answer = await operatorCall(method, path, headers);
          expect([method, path, answer.status]).toEqual([method, path, 401]);
          expect((JSON.parse(answer.body) as { error: { code: string } }).error.code).toMatch(/^OPERATOR_(UNAUTHENTICATED|BAD_CREDENTIALS)$/);
        },
      ),
      { numRuns: 120 },
    );
    expect(await liveSocket(bearer('cnop_not-a-token'))).toBe(401);
    // The scrape token opens /metrics and nothing else.
    expect((await operatorCall('GET', '/metrics', bearer(operators.scrape))).status).toBe(200);
    for (const path of reads.slice(0, -1)) expect([path, (await operatorCall('GET', path, bearer(operators.scrape))).status]).toEqual([path, 401]);
    for (const path of reads) expect([path, (await operatorCall('GET', path, bearer(operators.viewer))).status]).toEqual([path, 200]);
    for (const path of actions) {
      const answer = await operatorCall('POST', path, bearer(operators.viewer));
      expect([path, answer.status, (JSON.parse(answer.body) as { error: { code: string } }).error.code]).toEqual([path, 403, 'OPERATOR_FORBIDDEN']);
    }
    expect(await liveSocket(bearer(operators.viewer))).toBe(101);
    expect(operatorState()).toBe(state);
    expect(auditedOperatorActions()).toEqual([]);
  });

  it('serves no job data for a foreign Host and no live socket to a foreign Origin, whatever the credentials (DNS rebinding)', async () => {
    const state = operatorState();
    for (const headers of [{}, bearer(operators.admin)]) {
      const rebound = await operatorCall('GET', '/api/jobs', { host: 'attacker.example', ...headers });
      expect(rebound.status).toBe(421);
      expect(rebound.body).not.toContain(coordinator.job.jobId);
      expect((await operatorCall('POST', `/api/jobs/${coordinator.job.jobId}/abort`, { host: 'attacker.example:8080', ...headers })).status).toBe(421);
      expect(await liveSocket({ origin: 'http://attacker.example', ...headers })).toBe(403);
      expect(await liveSocket({ host: 'attacker.example', ...headers })).toBe(421);
      expect((await operatorCall('POST', `/api/jobs/${coordinator.job.jobId}/pause`, { origin: 'http://attacker.example', ...headers })).status).toBe(403);
    }
    // Probes answer whatever the Host, and give away nothing but liveness.
    expect((await operatorCall('GET', '/health', { host: 'attacker.example' })).status).toBe(200);
    expect(operatorState()).toBe(state);
  });

  it('lets an admin pause and resume the running job and revoke a participant, each in the audit trail under its name', async () => {
    const jobId = coordinator.job.jobId;
    const pause = await operatorCall('POST', `/api/jobs/${jobId}/pause`, bearer(operators.admin));
    expect([pause.status, JSON.parse(pause.body)]).toEqual([200, { jobId, control: 'pausing' }]);
    expect(coordinator.job.controlState).toBe('pausing');
    const listed = JSON.parse((await operatorCall('GET', '/api/jobs', bearer(operators.viewer))).body) as { id: string; control?: string }[];
    expect(listed.find((j) => j.id === jobId)?.control).toBe('pausing');
    expect((await operatorCall('POST', `/api/jobs/${jobId}/resume`, bearer(operators.admin))).status).toBe(200);
    expect(coordinator.job.controlState).toBe('running');
    const revoked = await operatorCall('POST', '/api/participants/mallory/revoke', bearer(operators.admin));
    expect([revoked.status, JSON.parse(revoked.body).alreadyRevoked]).toEqual([200, true]);
    expect((await operatorCall('POST', '/api/participants/nobody/revoke', bearer(operators.admin))).status).toBe(404);
    const audit = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { kind: string; actor: string });
    expect(audit.filter((e) => e.kind.startsWith('operator.')).map((e) => `${e.kind} ${e.actor}`)).toEqual(['operator.pause ops-admin', 'operator.resume ops-admin', 'operator.revoke ops-admin']);
    expect(audit.some((e) => e.kind === 'security.operator_refused' && e.actor === 'ops-viewer')).toBe(true);
  });

  it('is still up, counted every refusal, raised security events, and left the database as it was', async () => {
    const health = await fetch(`${coordinator.operatorUrl}/health`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${coordinator.operatorUrl}/metrics`, { headers: bearer(operators.scrape) })).text();
    expect(metrics).toMatch(/cipher_nexus_auth_failures_total\{code="AUTH_REPLAY"\} [1-9]/);
    expect(metrics).toMatch(/cipher_nexus_auth_failures_total\{code="AUTH_REVOKED"\} [1-9]/);
    expect(metrics).toMatch(/cipher_nexus_operator_auth_failures_total\{code="OPERATOR_FORBIDDEN"\} [1-9]/);
    expect(metrics).toMatch(/cipher_nexus_operator_auth_failures_total\{code="OPERATOR_HOST_REFUSED"\} [1-9]/);
    const events = (await (await fetch(`${coordinator.operatorUrl}/api/security-events`, { headers: bearer(operators.viewer) })).json()) as { kind: string }[];
    expect(events.length).toBeGreaterThan(10);
    expect(events.some((e) => e.kind === 'operator_refused')).toBe(true);
    expect(snapshot(dbFile)).toBe(before);
  });

  it('lets an admin abort the job: it ends as failed, naming the operator, in the store and the audit trail', async () => {
    const jobId = coordinator.job.jobId;
    const outcome = coordinator.done.then(
      () => 'completed',
      (error: { code?: string; message: string }) => `${error.code}: ${error.message}`,
    );
    const abort = await operatorCall('POST', `/api/jobs/${jobId}/abort`, bearer(operators.admin));
    expect([abort.status, JSON.parse(abort.body)]).toEqual([200, { jobId, control: 'ended' }]);
    expect(await outcome).toMatch(/^JOB_ABORTED_BY_OPERATOR: operator 'ops-admin' aborted the job/);
    expect((await storage.jobs.get(jobId))?.status).toBe('failed');
    expect((await operatorCall('POST', `/api/jobs/${jobId}/resume`, bearer(operators.admin))).status).toBe(409);
    expect(auditedOperatorActions().slice(-1)).toEqual(['operator.abort']);
  });
});
