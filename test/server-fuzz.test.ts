import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStorage, verifyAuditTrail, type Storage, generateCurveKeyPair } from '../src/core/index.js';
import { demoConfig, prepareCoordinatedJob, type JobOutcome } from '../src/fl/index.js';
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
import { PROTOCOL_VERSION, ServerMessages, decodeMessage, encodeMessage, encodeMessageParts, type ClientKind, type Message, type ServerKind } from '../src/protocol/index.js';
import { startCoordinator, type RunningCoordinator } from '../src/server/index.js';
import { ClientAgent } from '../src/client/index.js';
import { freePort } from './support/free-port.js';
import { runCli, writeParticipantData, type CliProcess } from './support/network.js';

const CLIENT_ERROR = /^(MESSAGE_|AUTH_|RATE_LIMITED|UPDATE_|ROUND_)/;
// Refusals from one source are aggregated per window: short here, so the test sees windows close.
const REFUSAL_WINDOW_MS = 1000;

interface AuditLine {
  kind: string;
  actor: string;
  details: Record<string, unknown>;
}

const auditLines = (file: string): AuditLine[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as AuditLine);

/** The value of one sample of a Prometheus exposition, 0 when absent. */
const sample = (metrics: string, series: string): number => Number(metrics.split('\n').find((line) => line.startsWith(`${series} `))?.split(' ')[1] ?? 0);

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
  let prepared: Awaited<ReturnType<typeof prepareCoordinatedJob>>;
  let auditFile: string;
  let suiteStarted: number;
  let operators: { admin: string; viewer: string; scrape: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-fuzz-'));
    kitDir = join(dir, 'kits');
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
    auditFile = join(dir, 'audit.jsonl');
    prepared = await prepareCoordinatedJob({ ...demoConfig({ rounds: 1 }), selection: { fraction: 1, minClients: 3 } });
    coordinator = await start();
    expect(coordinator.warnings).toEqual([]);
    suiteStarted = Date.now();
    wsUrl = `${coordinator.participantUrl.replace('https', 'wss')}/v1/ws`;
    before = snapshot(dbFile);
  });
  afterAll(async () => {
    await coordinator?.close();
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (logLevel: 'silent' | 'info' = 'silent'): Promise<RunningCoordinator> =>
    startCoordinator({
      prepared,
      storage,
      kitDir,
      host: '127.0.0.1',
      port: 0,
      operatorPort: 0,
      auditFile,
      logLevel,
      limits: { messagesPerSecond: 1000, burst: 1000 },
      refusalWindowMs: REFUSAL_WINDOW_MS,
    });

  function connect(kit: ParticipantKit, url = wsUrl): Promise<{ socket: WebSocket; next: () => Promise<{ kind: string; code?: string }> }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { ...tlsOptionsForClient(kit) });
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
    const stranger: MessageSigner = { participantId: 'alice', signingKey: generateCurveKeyPair('ed25519').privateKey };
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

  it('refuses a participant speaking another protocol version, then closes its connection with 4426', async () => {
    const { next, socket } = await connect(alice);
    const reason = new Promise<string>((resolve) => socket.once('close', (_code, why: Buffer) => resolve(why.toString())));
    const hello = encodeMessage('hello', { resources: { cpuCores: 1, memoryMb: 1 }, agent: 'cipher-nexus/9' });
    hello[1] = PROTOCOL_VERSION + 1;
    socket.send(encodeSignedFrame(signerFromKit(alice), 'hello', hello));
    expect(await next()).toEqual({ kind: 'error', code: 'MESSAGE_VERSION' });
    expect(await next()).toEqual({ kind: 'closed', code: '4426' });
    expect(await reason).toBe(`protocol version ${PROTOCOL_VERSION + 1} refused: the coordinator speaks version ${PROTOCOL_VERSION}`);
  });

  it('refuses a signed frame of an earlier release, then closes its connection with 4426 naming both frame versions', async () => {
    const { next, socket } = await connect(alice);
    const reason = new Promise<string>((resolve) => socket.once('close', (_code, why: Buffer) => resolve(why.toString())));
    const old = heartbeat(signerFromKit(alice)).slice();
    old[4] = 1;
    socket.send(old);
    expect(await next()).toEqual({ kind: 'error', code: 'MESSAGE_MALFORMED' });
    expect(await next()).toEqual({ kind: 'closed', code: '4426' });
    expect(await reason).toBe('signed frame version 1 refused: the coordinator reads version 2');
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

  it('counts a flood of refused TLS handshakes per source, and lists and audits it once per source and window', async () => {
    const url = new URL(coordinator.participantUrl);
    const handshake = (): Promise<void> =>
      new Promise((resolve) => {
        const socket = connectTls({ host: url.hostname, port: Number(url.port), ...tlsOptionsForClient(foreign) });
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
      });
    const listedBefore = (await securityEvents()).filter((e) => e.detail.startsWith('TLS_HANDSHAKE from 127.0.0.1')).length;
    const auditBytes = statSync(auditFile).size;
    const started = Date.now();
    for (let batch = 0; batch < 15; batch++) await Promise.all(Array.from({ length: 20 }, handshake));
    // The last hang-ups may reach the coordinator after the clients saw their sockets close.
    let metrics = '';
    for (let tries = 0; tries < 20 && sample(metrics, 'cipher_nexus_auth_failures_total{code="TLS_HANDSHAKE"}') < 300; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      metrics = await (await fetch(`${coordinator.operatorUrl}/metrics`, { headers: bearer(operators.scrape) })).text();
    }
    const windows = Math.ceil((Date.now() - started) / REFUSAL_WINDOW_MS) + 1;
    expect(sample(metrics, 'cipher_nexus_refusals_by_source_total{code="TLS_HANDSHAKE",source="127.0.0.1"}')).toBeGreaterThanOrEqual(300);
    expect(sample(metrics, 'cipher_nexus_auth_failures_total{code="TLS_HANDSHAKE"}')).toBeGreaterThanOrEqual(300);
    const listed = (await securityEvents()).filter((e) => e.detail.startsWith('TLS_HANDSHAKE from 127.0.0.1')).length - listedBefore;
    expect(listed).toBeGreaterThanOrEqual(1);
    expect(listed).toBeLessThanOrEqual(windows);
    await new Promise((resolve) => setTimeout(resolve, REFUSAL_WINDOW_MS + 300));
    const entries = auditLines(auditFile).filter((e) => e.kind === 'security.tls_refused');
    expect(entries.length).toBeLessThanOrEqual(windows + 1);
    expect(entries.every((e) => e.details.source === '127.0.0.1' && e.details.code === 'TLS_HANDSHAKE')).toBe(true);
    expect(entries.reduce((sum, e) => sum + Number(e.details.count), 0)).toBeGreaterThanOrEqual(300);
    // One entry per window, instead of one (and one fsync) per refused handshake: 300 of those were 130 KB.
    // Only this flood's entries are weighed: an earlier test's refusals may flush into the trail meanwhile.
    const appended = readFileSync(auditFile).subarray(auditBytes).toString('utf8').split('\n').filter((line) => line.includes('"security.tls_refused"'));
    expect(Buffer.byteLength(appended.join('\n'))).toBeLessThan(windows * 1024);
  });

  it('aggregates a flood over the rate limit from a valid kit: counted each, listed and audited once per window', async () => {
    // A coordinator of its own, with a rate low enough that a flood is refused however loaded the machine is.
    const limitedStorage = openStorage({ path: ':memory:' });
    const limitedAudit = join(dir, 'limited-audit.jsonl');
    const limited = await startCoordinator({ prepared, storage: limitedStorage, kitDir, host: '127.0.0.1', port: 0, operatorPort: 0, auditFile: limitedAudit, logLevel: 'silent', limits: { messagesPerSecond: 5, burst: 10 }, refusalWindowMs: REFUSAL_WINDOW_MS });
    let refused = 0;
    let windows = 0;
    try {
      const { socket, next } = await connect(alice, `${limited.participantUrl.replace('https', 'wss')}/v1/ws`);
      const signer = signerFromKit(alice);
      const started = Date.now();
      for (let i = 0; i < 300; i++) socket.send(heartbeat(signer));
      // Accepted heartbeats are not answered, refused ones are: count answers until they stop coming.
      for (;;) {
        const answer = await Promise.race([next(), new Promise<null>((resolve) => setTimeout(() => resolve(null), refused === 0 ? 20_000 : 2000))]);
        if (answer === null) break;
        expect(answer).toEqual({ kind: 'error', code: 'RATE_LIMITED' });
        refused++;
      }
      socket.close();
      windows = Math.ceil((Date.now() - started) / REFUSAL_WINDOW_MS) + 1;
      expect(refused).toBeGreaterThan(200);
      const metrics = await (await fetch(`${limited.operatorUrl}/metrics`, { headers: bearer(operators.scrape) })).text();
      expect(sample(metrics, 'cipher_nexus_messages_rejected_total{code="RATE_LIMITED"}')).toBe(refused);
      expect(sample(metrics, 'cipher_nexus_refusals_by_source_total{code="RATE_LIMITED",source="127.0.0.1"}')).toBe(refused);
      const listed = ((await (await fetch(`${limited.operatorUrl}/api/security-events`, { headers: bearer(operators.viewer) })).json()) as { detail: string }[]).filter((e) => e.detail.startsWith('RATE_LIMITED from 127.0.0.1'));
      expect(listed.length).toBeGreaterThanOrEqual(1);
      expect(listed.length).toBeLessThanOrEqual(windows);
    } finally {
      await limited.close();
      await limitedStorage.close();
    }
    // Closing wrote what the last window held.
    const entries = auditLines(limitedAudit).filter((e) => e.kind === 'security.rate_limited');
    expect(entries.length).toBeLessThanOrEqual(windows + 1);
    expect(entries.reduce((sum, e) => sum + Number(e.details.count), 0)).toBe(refused);
    expect(entries.every((e) => e.actor === 'alice' && e.details.source === '127.0.0.1')).toBe(true);
    expect(auditLines(limitedAudit).filter((e) => e.kind.startsWith('security.')).length).toBe(entries.length);
  });

  async function securityEvents(): Promise<{ kind: string; participant?: string; detail: string }[]> {
    return (await (await fetch(`${coordinator.operatorUrl}/api/security-events`, { headers: bearer(operators.viewer) })).json()) as { kind: string; participant?: string; detail: string }[];
  }

  it('is still up, counted every refusal, raised security events, and left the database as it was', async () => {
    const health = await fetch(`${coordinator.operatorUrl}/health`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${coordinator.operatorUrl}/metrics`, { headers: bearer(operators.scrape) })).text();
    expect(metrics).toMatch(/cipher_nexus_auth_failures_total\{code="AUTH_REPLAY"\} [1-9]/);
    expect(metrics).toMatch(/cipher_nexus_auth_failures_total\{code="AUTH_REVOKED"\} [1-9]/);
    expect(metrics).toMatch(/cipher_nexus_operator_auth_failures_total\{code="OPERATOR_FORBIDDEN"\} [1-9]/);
    expect(metrics).toMatch(/cipher_nexus_operator_auth_failures_total\{code="OPERATOR_HOST_REFUSED"\} [1-9]/);
    // Refusals of size: a REST body over its limit (413) and a WebSocket message over its own (1009).
    expect(sample(metrics, 'cipher_nexus_messages_rejected_total{code="BODY_TOO_LARGE"}')).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'cipher_nexus_messages_rejected_total{code="MESSAGE_TOO_BIG"}')).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'cipher_nexus_refusals_by_source_total{code="BODY_TOO_LARGE",source="127.0.0.1"}')).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'cipher_nexus_refusals_by_source_total{code="MESSAGE_TOO_BIG",source="127.0.0.1"}')).toBeGreaterThanOrEqual(1);
    const events = await securityEvents();
    expect(events.length).toBeGreaterThan(10);
    expect(events.some((e) => e.kind === 'operator_refused')).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ kind: 'message_rejected', participant: 'alice', detail: expect.stringMatching(/^BODY_TOO_LARGE from 127\.0\.0\.1: /) }));
    expect(events).toContainEqual(expect.objectContaining({ kind: 'message_rejected', participant: 'alice', detail: expect.stringMatching(/^MESSAGE_TOO_BIG from 127\.0\.0\.1: /) }));
    await new Promise((resolve) => setTimeout(resolve, REFUSAL_WINDOW_MS + 300));
    const audited = auditLines(auditFile).filter((e) => e.kind === 'security.message_rejected' && e.actor === 'alice');
    expect(audited.map((e) => e.details.code)).toEqual(expect.arrayContaining(['BODY_TOO_LARGE', 'MESSAGE_TOO_BIG']));
    // A kit's other refusals are audited one by one, but listed once per code and window: the fuzzed frames did not fill the list.
    const malformed = sample(metrics, 'cipher_nexus_auth_failures_total{code="MESSAGE_MALFORMED"}') + sample(metrics, 'cipher_nexus_messages_rejected_total{code="MESSAGE_MALFORMED"}');
    expect(auditLines(auditFile).filter((e) => e.details.code === 'MESSAGE_MALFORMED' && e.actor === 'alice')).toHaveLength(malformed);
    const malformedListed = events.filter((e) => e.participant === 'alice' && e.detail.startsWith('MESSAGE_MALFORMED from 127.0.0.1')).length;
    expect(malformedListed).toBeGreaterThanOrEqual(1);
    expect(malformedListed).toBeLessThanOrEqual(Math.ceil((Date.now() - suiteStarted) / REFUSAL_WINDOW_MS) + 1);
    expect(malformedListed).toBeLessThan(malformed / 3);
    expect(snapshot(dbFile)).toBe(before);
  });

  let captured: { body: Uint8Array; headers: Record<string, string> };

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

  it('closes at once, with hundreds of idle connections open', async () => {
    const body = new TextEncoder().encode(JSON.stringify({ resources: { cpuCores: 1, memoryMb: 1 } }));
    captured = { body, headers: signRequest(signerFromKit(alice), 'POST', '/v1/heartbeat', body) };
    expect((await post(alice, '/v1/heartbeat', captured.body, captured.headers)).status).toBe(200);
    const url = new URL(coordinator.participantUrl);
    const idle: NodeJS.EventEmitter[] = [];
    // Half of them finish the handshake and never send a request; the other half never start it.
    await Promise.all(
      Array.from({ length: 150 }, () => {
        const socket = connectTls({ host: url.hostname, port: Number(url.port), ...tlsOptionsForClient(alice) });
        socket.on('error', () => undefined);
        idle.push(socket);
        return new Promise((resolve) => socket.once('secureConnect', resolve));
      }),
    );
    for (let i = 0; i < 150; i++) idle.push(connectTcp(Number(url.port), url.hostname).on('error', () => undefined));
    const closed = Promise.all(idle.map((socket) => new Promise((resolve) => socket.once('close', resolve))));
    const started = Date.now();
    await coordinator.close();
    await closed;
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses after a restart a request captured and accepted before it; logs go to stderr, and name the TLS listener https://', async () => {
    const written = { stdout: '', stderr: '' };
    const spies = (['stdout', 'stderr'] as const).map((name) =>
      vi.spyOn(process[name], 'write').mockImplementation((chunk: string | Uint8Array) => {
        written[name] += chunk.toString();
        return true;
      }),
    );
    try {
      coordinator = await start('info');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(written.stdout).toBe('');
    expect(written.stderr).toContain(`"msg":"Server listening at ${coordinator.participantUrl}"`);
    expect(coordinator.participantUrl).toMatch(/^https:\/\//);
    const replayed = await post(alice, '/v1/heartbeat', captured.body, captured.headers);
    expect(replayed.status).toBe(401);
    expect(JSON.parse(replayed.body).error).toMatchObject({ code: 'AUTH_STALE', message: expect.stringMatching(/before the coordinator started/) });
    const fresh = signRequest(signerFromKit(alice), 'POST', '/v1/heartbeat', captured.body);
    expect((await post(alice, '/v1/heartbeat', captured.body, fresh)).status).toBe(200);
  });
});

describe('a participant lying about its weight across processes', () => {
  // `cipher-nexus serve` and two `cipher-nexus client` processes, and mallory, who speaks the protocol
  // itself: it declares its real example count in a signed hello, then sends an all-zero model
  // claiming 1e12 examples, then says hello again with another count.
  const HONEST = ['alice', 'bob'];
  let dir: string;
  let serve: CliProcess;
  let agents: CliProcess[] = [];
  let events: { kind: string; participant?: string; detail: string }[];
  let report: JobOutcome;
  const refusals: { code: string; message: string }[] = [];

  /** Waits until the process has printed a line matching `pattern`, and returns the match. */
  const printed = async (process: CliProcess, pattern: RegExp): Promise<RegExpMatchArray> => {
    for (let waited = 0; waited < 60_000; waited += 50) {
      const match = pattern.exec(process.output());
      if (match) return match;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the process never printed ${pattern}:\n${process.output()}`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-weight-'));
    const kitDir = join(dir, 'kits');
    await provisionWithLocalKeys({ outDir: kitDir, participants: [...HONEST, 'mallory'], serverHost: '127.0.0.1', serverPort: await freePort() });
    const mallory = loadParticipantKit(join(kitDir, 'participants', 'mallory', 'kit.json'));
    const data = writeParticipantData(dir, [...HONEST, 'mallory']);
    const job = {
      name: 'weight-attack',
      seed: 5,
      data: demoConfig().data,
      rounds: 3,
      selection: { fraction: 1, minClients: 2 },
      model: { type: 'mlp', hidden: [64] },
      training: { epochs: 2, batchSize: 32, learningRate: 0.005, optimizer: 'adam' },
      round: { quorum: 1, deadlineSeconds: 120 },
    };
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
    serve = runCli(['--db', join(dir, 'state.db'), 'serve', '--config', join(dir, 'job.json'), '--kit-dir', kitDir, '--operator-port', '0', '--operator-no-auth', '--report', join(dir, 'report.json'), '--log-level', 'warn', '--heartbeat-seconds', '7'], dir);
    const participantUrl = (await printed(serve, /participants: (https:\/\/\S+)/))[1];
    const operatorUrl = (await printed(serve, /dashboard: +(http:\/\/[^\s/]+)/))[1];

    const socket = new WebSocket(`${participantUrl.replace('https', 'wss')}/v1/ws`, { ...tlsOptionsForClient(mallory) });
    const inbox: Message<typeof ServerMessages>[] = [];
    const waiting: (() => void)[] = [];
    socket.on('message', (raw: Buffer) => {
      inbox.push(decodeMessage(new Uint8Array(raw), ServerMessages));
      for (const wake of waiting.splice(0)) wake();
    });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const signer = signerFromKit(mallory);
    const send = (kind: ClientKind, header: unknown, body?: Uint8Array): void => socket.send(encodeSignedFrame(signer, kind, encodeMessageParts(kind, header, body)));
    const next = async <K extends ServerKind>(kind: K): Promise<Extract<Message<typeof ServerMessages>, { kind: K }>> => {
      for (;;) {
        const at = inbox.findIndex((m) => m.kind === kind);
        if (at >= 0) return inbox.splice(at, 1)[0] as Extract<Message<typeof ServerMessages>, { kind: K }>;
        await new Promise<void>((wake) => waiting.push(wake));
      }
    };
    const declared = readFileSync(data.get('mallory') as string, 'utf8').trim().split('\n').length;
    send('hello', { numExamples: declared, resources: { cpuCores: 1, memoryMb: 512 }, agent: 'mallory' });
    expect((await next('welcome')).header.heartbeatSeconds).toBe(7);
    // Mallory joined first, so it is in the first round.
    agents = HONEST.map((id) => runCli(['client', '--key', join(kitDir, 'participants', id, 'kit.json'), '--data', data.get(id) as string], dir));
    const task = await next('task');
    send('received', { roundId: task.header.roundId });
    const zeros = new Uint8Array(task.body.byteLength);
    send('offer', { roundId: task.header.roundId, round: task.header.round, bytes: zeros.byteLength });
    await next('pull');
    // Signed over its real body, but the header names other bytes: the digest the update is filed under must be its own.
    send('update', { roundId: task.header.roundId, round: task.header.round, numExamples: 1, seconds: 1, encoding: 'float32', sha256: 'e'.repeat(64) }, zeros);
    refusals.push((await next('error')).header);
    send('offer', { roundId: task.header.roundId, round: task.header.round, bytes: zeros.byteLength });
    await next('pull');
    send('update', { roundId: task.header.roundId, round: task.header.round, numExamples: 1e12, seconds: 1, encoding: 'float32', sha256: createHash('sha256').update(zeros).digest('hex') }, zeros);
    refusals.push((await next('error')).header);
    // A second hello may not change the count the first one declared.
    send('hello', { numExamples: declared * 1000, resources: { cpuCores: 1, memoryMb: 512 }, agent: 'mallory' });
    refusals.push((await next('error')).header);
    // The coordinator raised its events before it answered; the job is still in its first round.
    events = (await (await fetch(`${operatorUrl}/api/security-events`)).json()) as typeof events;
    expect(await serve.exit, serve.output()).toBe(0);
    socket.close();
    report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as JobOutcome;
  }, 240_000);

  afterAll(() => {
    for (const p of [serve, ...agents]) if (p && p.child.exitCode === null) p.child.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an update whose header misstates its digest, the update over its bound and a count declared anew, naming mallory', () => {
    expect(refusals[0]).toMatchObject({ code: 'MESSAGE_INVALID', message: expect.stringMatching(/header gives sha256 e{64} but its body hashes to [0-9a-f]{64}/) });
    expect(refusals[1]).toMatchObject({ code: 'UPDATE_WEIGHT_OVER_BOUND', message: expect.stringMatching(/'mallory' claims 1000000000000 examples; it declared \d+/) });
    expect(refusals[2]).toMatchObject({ code: 'EXAMPLES_REDECLARED', message: expect.stringMatching(/'mallory' declared \d+ examples for this job and now declares \d+/) });
    expect(report.refusedUpdates).toEqual([expect.objectContaining({ round: 1, clientId: 'mallory', code: 'UPDATE_WEIGHT_OVER_BOUND' })]);
    expect(serve.output()).toMatch(/REFUSED mallory: UPDATE_WEIGHT_OVER_BOUND from 127\.0\.0\.1: update: /);
  });

  it('raises security events naming mallory and writes them to the audit trail', () => {
    const weight = events.filter((e) => e.kind === 'weight_over_bound');
    expect(weight.map((e) => e.participant)).toEqual(['mallory', 'mallory']);
    expect(weight.some((e) => e.detail.includes('UPDATE_WEIGHT_OVER_BOUND'))).toBe(true);
    expect(weight.some((e) => e.detail.includes('EXAMPLES_REDECLARED'))).toBe(true);
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { kind: string; actor: string });
    expect(audit.filter((e) => e.kind === 'security.weight_over_bound').map((e) => e.actor)).toEqual(['mallory', 'mallory']);
    expect(verifyAuditTrail(join(dir, 'audit.jsonl')).ok).toBe(true);
  });

  it('finishes the job as if mallory had not been there', async () => {
    expect(report.status).toBe('completed');
    expect(report.rounds.every((r) => !r.participants.includes('mallory'))).toBe(true);
    expect(report.final?.accuracy).toBeGreaterThan(0.85);
    for (const agent of agents) expect(await agent.exit, agent.output()).toBe(0);
  }, 60_000);
});

describe('a participant whose example count changed since it joined', () => {
  it('is refused with EXAMPLES_REDECLARED, also once the coordinator knows the count only from its store, and its agent stops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cn-redeclare-'));
    const kitDir = join(dir, 'kits');
    await provisionWithLocalKeys({ outDir: kitDir, participants: ['carol', 'dave'], serverHost: '127.0.0.1', serverPort: 0 });
    const carol = loadParticipantKit(join(kitDir, 'participants', 'carol', 'kit.json'));
    const storage = openStorage({ path: join(dir, 'state.db') });
    // Two participants are needed for a round and only carol comes: nothing but joining happens.
    const prepared = await prepareCoordinatedJob({ ...demoConfig({ rounds: 1 }), selection: { fraction: 1, minClients: 2 } });
    const coordinator = await startCoordinator({ prepared, storage, kitDir, host: '127.0.0.1', port: 0, operatorPort: 0, auditFile: join(dir, 'audit.jsonl'), logLevel: 'silent' });
    // The job never starts a round; closing the coordinator aborts it.
    coordinator.done.catch(() => undefined);
    try {
      const data = writeParticipantData(dir, ['carol']).get('carol') as string;
      const rows = readFileSync(data, 'utf8').trim().split('\n').length;
      // Carol first joined with more rows than her file holds now.
      const socket = new WebSocket(`${coordinator.participantUrl.replace('https', 'wss')}/v1/ws`, { ...tlsOptionsForClient(carol) });
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const welcomed = new Promise((resolve) => socket.once('message', resolve));
      socket.send(encodeSignedFrame(signerFromKit(carol), 'hello', encodeMessage('hello', { numExamples: rows + 10, resources: { cpuCores: 1, memoryMb: 512 }, agent: 'carol' })));
      await welcomed;
      while ((await storage.nodes.get('carol'))?.status !== 'online') await new Promise((resolve) => setTimeout(resolve, 20));
      socket.close();
      // Once carol has left, the coordinator knows her count only from the node it stored.
      while ((await storage.nodes.get('carol'))?.status !== 'offline') await new Promise((resolve) => setTimeout(resolve, 20));
      expect((await storage.nodes.get('carol'))?.labels.examples).toBe(String(rows + 10));
      const agent = new ClientAgent({ kit: carol, dataFile: data, serverUrl: coordinator.participantUrl, backoff: { initialMs: 50, maxMs: 100 } });
      await expect(agent.run()).rejects.toMatchObject({ code: 'EXAMPLES_REDECLARED', message: expect.stringMatching(new RegExp(`'carol' declared ${rows + 10} examples for this job and now declares ${rows}`)) });
      const events = coordinator.events.recentSecurityEvents().filter((e) => e.kind === 'weight_over_bound');
      expect(events.map((e) => e.participant)).toEqual(['carol']);
    } finally {
      await coordinator.close();
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
