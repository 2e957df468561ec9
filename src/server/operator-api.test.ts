import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { StateError, openStorage, type Storage } from '../core/index.js';
import type { RoundReport } from '../fl/index.js';
import { addOperator, issueOperatorCredentials, operatorCredentialsPath, removeOperator } from '../identity/index.js';
import { writeKitFile } from '../identity/kit-file.js';
import { ServerEvents, type ServerEventMessage } from './events.js';
import { OperatorAccess } from './operator-access.js';
import { registerOperatorApi, type OperatorApiDeps, type OperatorApiErrorBody, type OperatorControl } from './operator-api.js';
import type { OperatorRefusal } from './operator-guard.js';
import { OperatorOrigins } from './operator-origin.js';
import type { MarketAssetDetail, MarketAssetSummary } from './market-views.js';
import type { BudgetView, JobDetail, JobSummary, ModelView, NodeView } from './operator-views.js';

const T0 = 1_700_000_000_000;

// Two rounds of a running job (one finalised with two updates, one still open), a finished job, a
// failed one, a model with a version, a node and a charged privacy budget.
async function seed(storage: Storage): Promise<void> {
  await storage.jobs.upsert({ id: 'job-a', name: 'digits', config: { rounds: 3 }, status: 'running', modelId: 'model-a', report: null, createdAt: T0 + 300, finishedAt: null });
  await storage.jobs.upsert({ id: 'job-b', name: 'older', config: {}, status: 'completed', modelId: null, report: {}, createdAt: T0 + 100, finishedAt: T0 + 200 });
  await storage.jobs.upsert({ id: 'job-c', name: 'broken', config: { rounds: 2 }, status: 'failed', modelId: null, report: { error: 'data file missing' }, createdAt: T0 + 200, finishedAt: T0 + 250 });
  await storage.models.insertModel({ id: 'model-a', name: 'mlp', architecture: {}, hyperparameters: {}, latestVersion: 0, createdAt: T0 });
  await storage.models.insertVersion({ modelId: 'model-a', version: 1, sha256: 'aa', parentVersion: null, weights: new Float32Array(2), metrics: {}, roundId: null, createdAt: T0 });
  await storage.models.insertVersion({ modelId: 'model-a', version: 2, sha256: 'bb', parentVersion: 1, weights: new Float32Array(2), metrics: { accuracy: 0.8 }, roundId: 'r1', createdAt: T0 + 1 });
  const round = { jobId: 'job-a', modelId: 'model-a', quorum: 2, deadline: T0 + 60_000, resultVersion: null, error: null };
  await storage.rounds.upsert({ ...round, id: 'r1', number: 1, status: 'finalized', participants: ['c1', 'c2'], baseVersion: 1, resultVersion: 2, metrics: { accuracy: 0.8, loss: 0.6, accuracyDrop: 0.12 }, startedAt: T0 + 400, finishedAt: T0 + 1_400 });
  await storage.rounds.upsert({ ...round, id: 'r2', number: 2, status: 'open', participants: ['c1', 'c2', 'c3'], baseVersion: 2, metrics: {}, startedAt: T0 + 1_500, finishedAt: null });
  for (const clientId of ['c1', 'c2']) {
    await storage.rounds.insertUpdate({ roundId: 'r1', clientId, numExamples: 10, sha256: clientId, metrics: {}, receivedAt: T0 + 500 });
  }
  await storage.nodes.upsert({ id: 'node-1', status: 'online', resources: { cpuCores: 4, memoryMb: 8192, cpuLoad: 0.25 }, labels: { org: 'clinic' }, registeredAt: T0, lastHeartbeat: T0 + 5 });
  const scope = { kind: 'dataset' as const, id: 'optdigits' };
  await storage.privacy.setBudget({ scope, epsilon: 8, delta: 1e-5, createdAt: T0, updatedAt: T0 });
  await storage.privacy.setBudget({ scope: { kind: 'participant', id: 'c1' }, epsilon: 4, delta: 1e-5, createdAt: T0, updatedAt: T0 });
  for (const [n, epsilonAfter] of [[1, 1.25], [2, 2.5]]) {
    await storage.privacy.insertCharge({ id: `charge-${n}`, scope, jobId: 'job-a', round: n, events: [], orders: [2], rdp: [0.1], epsilonAfter, delta: 1e-5, conversion: 'improved', createdAt: T0 + n });
  }
}

// A provision directory of its own whose operators file names an admin (alice) and a viewer (bob).
let kitDir: string;
let tokens: { alice: string; bob: string; scrape: string };
beforeAll(() => {
  kitDir = mkdtempSync(join(tmpdir(), 'cn-operator-api-'));
  const file = operatorCredentialsPath(kitDir);
  mkdirSync(dirname(file), { recursive: true });
  writeKitFile(join(kitDir, 'server', 'kit.json'), {}, 0o600);
  const issued = issueOperatorCredentials([{ name: 'alice', role: 'admin' }, { name: 'bob', role: 'viewer' }]);
  writeKitFile(file, issued.credentials, 0o600);
  tokens = { alice: issued.tokens.get('alice') as string, bob: issued.tokens.get('bob') as string, scrape: issued.scrapeToken };
});
afterAll(() => rmSync(kitDir, { recursive: true, force: true }));

/** The deps of an API guarded by the operators file of `kitDir`, on loopback. */
function guardedDeps(storage: Storage, events: ServerEvents, extra: Partial<OperatorApiDeps> = {}): OperatorApiDeps {
  return { storage, events, access: new OperatorAccess({ credentialsFile: operatorCredentialsPath(kitDir) }), origins: new OperatorOrigins('127.0.0.1'), audit: async () => undefined, ...extra };
}

describe('operator API', () => {
  let storage: Storage;
  let events: ServerEvents;
  let app: FastifyInstance;

  beforeEach(async () => {
    storage = openStorage({ path: ':memory:' });
    await seed(storage);
    events = new ServerEvents();
    app = Fastify();
    await registerOperatorApi(app, guardedDeps(storage, events));
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await storage.close();
  });

  async function get<T>(url: string): Promise<{ status: number; body: T }> {
    const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokens.bob}` } });
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    return { status: response.statusCode, body: response.json() as T };
  }

  it('lists jobs newest first with planned rounds, stored rounds and the latest accuracy', async () => {
    const { status, body } = await get<JobSummary[]>('/api/jobs');
    expect(status).toBe(200);
    expect(body.map((j) => j.id)).toEqual(['job-a', 'job-c', 'job-b']);
    expect(body[0]).toEqual({
      id: 'job-a',
      name: 'digits',
      status: 'running',
      createdAt: T0 + 300,
      finishedAt: null,
      modelId: 'model-a',
      plannedRounds: 3,
      storedRounds: 2,
      latestAccuracy: 0.8,
    });
    expect(body[2]).toMatchObject({ plannedRounds: null, storedRounds: 0, latestAccuracy: null, finishedAt: T0 + 200 });
  });

  it('shows one job with its rounds, update counts and participants', async () => {
    const { status, body } = await get<JobDetail>('/api/jobs/job-a');
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 'job-a', status: 'running', error: null });
    expect(body.rounds).toEqual([
      { number: 1, status: 'finalized', accuracy: 0.8, loss: 0.6, accuracyDrop: 0.12, updates: 2, participants: ['c1', 'c2'], startedAt: T0 + 400, finishedAt: T0 + 1_400, error: null },
      { number: 2, status: 'open', accuracy: null, loss: null, accuracyDrop: null, updates: 0, participants: ['c1', 'c2', 'c3'], startedAt: T0 + 1_500, finishedAt: null, error: null },
    ]);
  });

  it("gives a failed job's error", async () => {
    const { body } = await get<JobDetail>('/api/jobs/job-c');
    expect(body).toMatchObject({ status: 'failed', error: 'data file missing', rounds: [] });
  });

  it("gives a finished job's evaluation, warnings and the validation thresholds its model missed", async () => {
    const evaluation = {
      numExamples: 5,
      accuracy: 0.6,
      loss: 0.69,
      classNames: ['no', 'yes'],
      confusion: [
        [3, 0],
        [2, 0],
      ],
      classes: [
        { precision: 0.6, recall: 1, f1: 0.75, support: 3, predicted: 5 },
        { precision: null, recall: 0, f1: 0, support: 2, predicted: 0 },
      ],
      macroF1: 0.375,
      baseline: { classIndex: 0, accuracy: 0.6 },
      rocAuc: 0.5,
    };
    const warnings = [{ code: 'ACCURACY_NEAR_BASELINE', message: 'final accuracy 0.6000 is exactly the majority-class baseline', suggestions: ['lower the learning rate'] }];
    const failures = [{ code: 'METRIC_BASELINE', message: 'accuracy 0.6 is only 0 above the majority-class baseline 0.6', value: 0, limit: 0.05 }];
    const report = { status: 'failed', evaluation, warnings, validation: { passed: false, failures } };
    await storage.jobs.upsert({ id: 'job-d', name: 'two-class', config: { rounds: 1 }, status: 'failed', modelId: null, report, createdAt: T0 + 500, finishedAt: T0 + 600 });
    const { body } = await get<JobDetail>('/api/jobs/job-d');
    expect(body).toMatchObject({ status: 'failed', error: failures[0].message, evaluation, warnings });
    expect(body.validation).toEqual({ passed: false, failures: [{ code: 'METRIC_BASELINE', message: failures[0].message }] });
    // A running job has none of these yet.
    expect((await get<JobDetail>('/api/jobs/job-a')).body).toMatchObject({ evaluation: null, warnings: [], validation: null });
  });

  it('answers 404 with a JSON error for an unknown job', async () => {
    const { status, body } = await get<OperatorApiErrorBody>('/api/jobs/job-missing');
    expect(status).toBe(404);
    expect(body).toEqual({ error: { code: 'JOB_NOT_FOUND', message: expect.stringContaining("job 'job-missing' does not exist") } });
  });

  it('refuses a malformed job id before querying storage', async () => {
    const { status, body } = await get<OperatorApiErrorBody>(`/api/jobs/${encodeURIComponent('job a;drop')}`);
    expect(status).toBe(400);
    expect(body.error.code).toBe('REQUEST_INVALID');
    expect(body.error.message).toMatch(/^path parameter field 'id': expected a string matching/);
    const tooLong = await get<OperatorApiErrorBody>(`/api/jobs/${'x'.repeat(99)}%20`);
    expect([tooLong.status, tooLong.body.error.code]).toEqual([400, 'REQUEST_INVALID']);
  });

  it('answers 404 with a JSON error for an unknown API route', async () => {
    const { status, body } = await get<OperatorApiErrorBody>('/api/nope');
    expect(status).toBe(404);
    expect(body.error.code).toBe('ROUTE_NOT_FOUND');
    expect(body.error.message).toContain('GET /api/nope');
  });

  it('lists models with their newest version', async () => {
    const { body } = await get<ModelView[]>('/api/models');
    expect(body).toEqual([
      { id: 'model-a', name: 'mlp', latestVersion: 2, createdAt: T0, latest: { version: 2, sha256: 'bb', metrics: { accuracy: 0.8 }, roundId: 'r1', createdAt: T0 + 1 } },
    ]);
  });

  it('lists nodes with status, heartbeat, resources and labels', async () => {
    const { body } = await get<NodeView[]>('/api/nodes');
    expect(body).toEqual([
      { id: 'node-1', status: 'online', registeredAt: T0, lastHeartbeat: T0 + 5, resources: { cpuCores: 4, memoryMb: 8192, cpuLoad: 0.25 }, labels: { org: 'clinic' } },
    ]);
  });

  it('lists privacy budgets with epsilon spent after the latest charge', async () => {
    const { body } = await get<BudgetView[]>('/api/budgets');
    expect(body).toEqual([
      { kind: 'dataset', id: 'optdigits', epsilon: 8, delta: 1e-5, spent: 2.5, charges: 2, updatedAt: T0 },
      { kind: 'participant', id: 'c1', epsilon: 4, delta: 1e-5, spent: 0, charges: 0, updatedAt: T0 },
    ]);
  });

  it('lists recent security events newest first, with a validated limit', async () => {
    events.emit('security', { at: T0, kind: 'auth_failed', participant: 'c9', detail: 'bad signature' });
    events.emit('security', { at: T0 + 1, kind: 'replay', detail: 'nonce seen before' });
    expect((await get<unknown[]>('/api/security-events')).body).toEqual([
      { at: T0 + 1, kind: 'replay', detail: 'nonce seen before' },
      { at: T0, kind: 'auth_failed', participant: 'c9', detail: 'bad signature' },
    ]);
    expect((await get<unknown[]>('/api/security-events?limit=1')).body).toHaveLength(1);
    for (const limit of ['0', 'ten', '1.5']) {
      const { status, body } = await get<OperatorApiErrorBody>(`/api/security-events?limit=${limit}`);
      expect([status, body.error.code]).toEqual([400, 'REQUEST_INVALID']);
      expect(body.error.message).toMatch(/^query parameter field 'limit'/);
    }
  });

  it('answers 500 with the code of a deliberate server-side error', async () => {
    await storage.close();
    const { status, body } = await get<OperatorApiErrorBody>('/api/nodes');
    expect([status, body.error.code]).toEqual([500, 'STORAGE_CLOSED']);
    storage = openStorage({ path: ':memory:' });
  });

  it('answers 500 without internals for an unexpected failure', async () => {
    const failing = Fastify({ logger: false });
    const broken: Storage = Object.create(storage, {
      nodes: { value: { ...storage.nodes, list: () => Promise.reject(new Error('EIO reading /var/lib/secret.db')) } },
    });
    await registerOperatorApi(failing, guardedDeps(broken, events));
    const response = await failing.inject({ method: 'GET', url: '/api/nodes', headers: { authorization: `Bearer ${tokens.bob}` } });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ error: { code: 'INTERNAL_ERROR', message: 'the server failed to answer; see its log' } });
    await failing.close();
  });

  it('serves the dashboard at / with a same-origin content security policy', async () => {
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('data-testid="accuracy-plot"');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    for (const file of ['/app.js', '/style.css']) expect((await app.inject({ method: 'GET', url: file })).statusCode).toBe(200);
  });

  it('pushes every bus event to /api/live as { type, data } until the socket closes', async () => {
    const socket: WebSocket = await app.injectWS('/api/live', { headers: { host: 'localhost', authorization: `Bearer ${tokens.bob}` } });
    const received: ServerEventMessage[] = [];
    const two = new Promise<void>((resolve) => {
      socket.on('message', (raw) => {
        received.push(JSON.parse(String(raw)) as ServerEventMessage);
        if (received.length === 2) resolve();
      });
    });
    const round = { round: 1, accuracy: 0.9, loss: 0.3, participants: ['c1'], seconds: 1, trainSeconds: 1, aggregateSeconds: 0, evaluateSeconds: 0, trainLoss: 0.4, modelVersion: 2, bytesPerClient: 8 } satisfies RoundReport;
    events.emit('round', { jobId: 'job-a', round });
    events.emit('node', { id: 'node-1', status: 'offline', lastHeartbeat: T0 });
    await two;
    expect(received).toEqual([
      { type: 'round', data: { jobId: 'job-a', round } },
      { type: 'node', data: { id: 'node-1', status: 'offline', lastHeartbeat: T0 } },
    ]);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.terminate();
    await closed;
    // The server side unsubscribes on close; emitting afterwards must not throw.
    await new Promise((resolve) => setImmediate(resolve));
    expect(() => events.emit('budget', { dataset: 'optdigits', spent: 3, budget: 8 })).not.toThrow();
  });
});

describe('registerOperatorApi', () => {
  it('reuses a @fastify/websocket the app registered itself', async () => {
    const storage = openStorage({ path: ':memory:' });
    const app = Fastify();
    void app.register(fastifyWebsocket);
    await registerOperatorApi(app, guardedDeps(storage, new ServerEvents()));
    await app.ready();
    const socket = await app.injectWS('/api/live', { headers: { host: 'localhost', authorization: `Bearer ${tokens.alice}` } });
    socket.terminate();
    await app.close();
    await storage.close();
  });
});

/** The coordinator's side of admin actions, as a recording double: the real one is driven in test/server-fuzz.test.ts. */
function recordingControl(jobId: string): OperatorControl & { calls: string[]; current: 'running' | 'pausing' | 'paused' | undefined } {
  const control = {
    jobId,
    calls: [] as string[],
    current: 'running' as 'running' | 'pausing' | 'paused' | undefined,
    state: () => control.current,
    pause: () => void (control.calls.push('pause'), (control.current = 'pausing')),
    resume: () => void (control.calls.push('resume'), (control.current = 'running')),
    abort: (operator: string) => void (control.calls.push(`abort by ${operator}`), (control.current = undefined)),
    hasParticipant: (participantId: string) => participantId.startsWith('c'),
    revoke: (participantId: string) => {
      control.calls.push(`revoke ${participantId}`);
      return { participantId, revokedAt: new Date(T0).toISOString(), alreadyRevoked: false };
    },
  };
  return control;
}

describe('operator API access', () => {
  let storage: Storage;
  let app: FastifyInstance;
  let control: ReturnType<typeof recordingControl>;
  let audited: { kind: string; actor: string; details: Record<string, unknown> }[];
  let refusals: OperatorRefusal[];
  let auditFails: boolean;
  let events: ServerEvents;

  beforeEach(async () => {
    storage = openStorage({ path: ':memory:' });
    await seed(storage);
    control = recordingControl('job-a');
    audited = [];
    refusals = [];
    auditFails = false;
    app = Fastify();
    const audit = async (kind: string, actor: string, details: Record<string, unknown>): Promise<void> => {
      if (auditFails) throw new StateError('AUDIT_WRITE_FAILED', 'disk full');
      audited.push({ kind, actor, details });
    };
    events = new ServerEvents();
    await registerOperatorApi(app, guardedDeps(storage, events, { control, audit, onRefused: (r) => refusals.push(r) }));
    app.get('/metrics', { config: { access: 'scrape' } }, async () => 'metrics');
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await storage.close();
  });

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string> = {}, payload?: unknown) =>
    app.inject({ method, url, headers: { host: '127.0.0.1:8080', ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const ADMIN_ROUTES = ['/api/jobs/job-a/pause', '/api/jobs/job-a/resume', '/api/jobs/job-a/abort', '/api/participants/c1/revoke'];

  it('refuses every API route and the live socket without credentials (401) and with a wrong token (401)', async () => {
    for (const headers of [{}, bearer('cnop_wrong'), { authorization: 'Basic YWxpY2U6eA==' }, { cookie: 'cn_operator=forged' }]) {
      for (const url of ['/api/jobs', '/api/jobs/job-a', '/api/models', '/api/nodes', '/api/budgets', '/api/security-events', '/api/market/assets', '/api/market/assets/7', '/api/session', '/api/nope']) {
        const response = await call('GET', url, headers);
        expect([url, response.statusCode]).toEqual([url, 401]);
        expect(response.headers['www-authenticate']).toContain('Bearer');
      }
      for (const url of ADMIN_ROUTES) expect((await call('POST', url, headers)).statusCode).toBe(401);
      await expect(app.injectWS('/api/live', { headers: { host: 'localhost', ...headers } })).rejects.toThrow('Unexpected server response: 401');
    }
    expect(control.calls).toEqual([]);
    expect(audited).toEqual([]);
    expect(refusals.filter((r) => r.presented).map((r) => r.code)).toContain('OPERATOR_BAD_CREDENTIALS');
  });

  it('lets a viewer read but not act (403), and changes nothing', async () => {
    expect((await call('GET', '/api/jobs', bearer(tokens.bob))).statusCode).toBe(200);
    for (const url of ADMIN_ROUTES) {
      const response = await call('POST', url, bearer(tokens.bob));
      expect([url, response.statusCode, response.json().error.code]).toEqual([url, 403, 'OPERATOR_FORBIDDEN']);
    }
    expect(control.calls).toEqual([]);
    expect(audited).toEqual([]);
    expect(refusals.filter((r) => r.code === 'OPERATOR_FORBIDDEN').map((r) => r.operator)).toEqual(['bob', 'bob', 'bob', 'bob']);
  });

  it("lets an admin pause, resume and abort the coordinator's job and revoke a participant, each audited first", async () => {
    const pause = await call('POST', '/api/jobs/job-a/pause', bearer(tokens.alice));
    expect([pause.statusCode, pause.json()]).toEqual([200, { jobId: 'job-a', control: 'pausing' }]);
    expect((await call('GET', '/api/jobs', bearer(tokens.bob))).json()[0]).toMatchObject({ id: 'job-a', control: 'pausing' });
    const again = await call('POST', '/api/jobs/job-a/pause', bearer(tokens.alice));
    expect([again.statusCode, again.json().error.code]).toEqual([409, 'JOB_ALREADY_PAUSED']);
    expect((await call('POST', '/api/jobs/job-a/resume', bearer(tokens.alice))).statusCode).toBe(200);
    expect((await call('POST', '/api/jobs/job-a/resume', bearer(tokens.alice))).json().error.code).toBe('JOB_NOT_PAUSED');
    const revoke = await call('POST', '/api/participants/c1/revoke', bearer(tokens.alice));
    expect(revoke.json()).toEqual({ participantId: 'c1', revokedAt: new Date(T0).toISOString(), alreadyRevoked: false });
    expect((await call('POST', '/api/participants/NOT%20AN%20ID/revoke', bearer(tokens.alice))).statusCode).toBe(400);
    expect((await call('POST', '/api/participants/zed/revoke', bearer(tokens.alice))).statusCode).toBe(404);
    const other = await call('POST', '/api/jobs/job-b/abort', bearer(tokens.alice));
    expect([other.statusCode, other.json().error.code]).toEqual([409, 'JOB_NOT_CONTROLLED']);
    expect((await call('POST', '/api/jobs/job-zzz/abort', bearer(tokens.alice))).statusCode).toBe(404);
    expect((await call('POST', '/api/jobs/job-a/abort', bearer(tokens.alice))).json()).toEqual({ jobId: 'job-a', control: 'ended' });
    expect((await call('POST', '/api/jobs/job-a/pause', bearer(tokens.alice))).json().error.code).toBe('JOB_NOT_RUNNING');
    expect(control.calls).toEqual(['pause', 'resume', 'revoke c1', 'abort by alice']);
    expect(audited.map((a) => `${a.kind} ${a.actor}`)).toEqual(['operator.pause alice', 'operator.resume alice', 'operator.revoke alice', 'operator.abort alice']);
    expect(audited[3].details).toEqual({ job: 'job-a', role: 'admin', from: 'running' });
  });

  it('does not act when the audit trail cannot record the action (503)', async () => {
    auditFails = true;
    const response = await call('POST', '/api/jobs/job-a/pause', bearer(tokens.alice));
    expect([response.statusCode, response.json().error.code]).toEqual([503, 'AUDIT_WRITE_FAILED']);
    expect(control.calls).toEqual([]);
  });

  it('logs in with a token for an HttpOnly SameSite=Strict session that ends at logout', async () => {
    const wrong = await call('POST', '/api/session', {}, { token: tokens.scrape });
    expect([wrong.statusCode, wrong.json().error.code]).toEqual([401, 'OPERATOR_BAD_CREDENTIALS']);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const login = await call('POST', '/api/session', { origin: 'http://127.0.0.1:8080' }, { token: tokens.alice });
    expect(login.json()).toEqual({ name: 'alice', role: 'admin', via: 'session', authentication: 'required' });
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/^cn_operator=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(setCookie).not.toContain(tokens.alice);
    const cookie = { cookie: setCookie.split(';')[0], origin: 'http://127.0.0.1:8080' };
    expect((await call('GET', '/api/session', cookie)).json()).toMatchObject({ name: 'alice', via: 'session' });
    expect((await call('POST', '/api/jobs/job-a/pause', cookie)).statusCode).toBe(200);
    const socket = await app.injectWS('/api/live', { headers: { host: '127.0.0.1:8080', ...cookie } });
    const closed = new Promise<number>((resolve) => socket.once('close', (code: number) => resolve(code)));
    expect((await call('DELETE', '/api/session', cookie)).headers['set-cookie']).toContain('Max-Age=0');
    // The socket opened in the session ends with it, at the first event after the recheck interval.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    events.emit('security', { at: T0, kind: 'replay', detail: 'after logout' });
    expect(await closed).toBe(4401);
    expect((await call('GET', '/api/session', cookie)).statusCode).toBe(401);
    expect(audited.map((a) => a.kind)).toEqual(['operator.login', 'operator.pause']);
  });

  it("ends a session when the operator's token is replaced or the operator removed", async () => {
    const login = async (token: string): Promise<Record<string, string>> => ({ cookie: String((await call('POST', '/api/session', {}, { token })).headers['set-cookie']).split(';')[0] });
    const alice = await login(tokens.alice);
    const bob = await login(tokens.bob);
    const original = readFileSync(operatorCredentialsPath(kitDir));
    const rotated = addOperator(kitDir, { name: 'alice', role: 'admin' }, { replace: true });
    try {
      expect((await call('GET', '/api/session', alice)).statusCode).toBe(401);
      expect((await call('GET', '/api/jobs', bearer(tokens.alice))).statusCode).toBe(401);
      expect((await call('GET', '/api/jobs', bearer(rotated.token))).statusCode).toBe(200);
      expect((await call('GET', '/api/session', bob)).statusCode).toBe(200);
      removeOperator(kitDir, 'bob');
      expect((await call('GET', '/api/session', bob)).statusCode).toBe(401);
      expect((await call('GET', '/api/jobs', bearer(tokens.bob))).statusCode).toBe(401);
    } finally {
      // The other tests use the first tokens: the file goes back as it was.
      writeFileSync(operatorCredentialsPath(kitDir), original);
    }
  });

  it('refuses a request for a foreign Host (421) and a cross-origin change or socket (403), even with an admin token', async () => {
    const rebound = await app.inject({ method: 'GET', url: '/api/jobs', headers: { host: 'attacker.example:8080', ...bearer(tokens.alice) } });
    expect([rebound.statusCode, rebound.json().error.code]).toEqual([421, 'OPERATOR_HOST_REFUSED']);
    expect((await app.inject({ method: 'GET', url: '/', headers: { host: 'attacker.example' } })).statusCode).toBe(421);
    for (const origin of ['http://attacker.example', 'null', 'http://127.0.0.1:9999', 'file://']) {
      const forged = await call('POST', '/api/jobs/job-a/abort', { origin, ...bearer(tokens.alice) });
      expect([origin, forged.statusCode, forged.json().error.code]).toEqual([origin, 403, 'OPERATOR_ORIGIN_REFUSED']);
      await expect(app.injectWS('/api/live', { headers: { host: '127.0.0.1:8080', origin, ...bearer(tokens.alice) } })).rejects.toThrow('Unexpected server response: 403');
    }
    expect((await call('POST', '/api/jobs/job-a/pause', { 'sec-fetch-site': 'cross-site', ...bearer(tokens.alice) })).statusCode).toBe(403);
    expect(control.calls).toEqual([]);
  });

  it('serves the dashboard files and the login to anyone, and /metrics for the scrape token only', async () => {
    for (const file of ['/', '/app.js', '/style.css']) expect((await call('GET', file)).statusCode).toBe(200);
    expect((await call('GET', '/metrics')).statusCode).toBe(401);
    expect((await call('GET', '/metrics', bearer('cnscrape_wrong'))).statusCode).toBe(401);
    expect((await call('GET', '/metrics', bearer(tokens.scrape))).body).toBe('metrics');
    expect((await call('GET', '/api/jobs', bearer(tokens.scrape))).statusCode).toBe(401);
  });
});

describe('operator API: market', () => {
  const NXS = 10n ** 18n;
  const OWNER = '0x00000000000000000000000000000000000000a1';
  let storage: Storage;
  let app: FastifyInstance;

  beforeEach(async () => {
    storage = openStorage({ path: ':memory:' });
    await storage.market.upsertAsset({
      id: '7', owner: OWNER, replaces: null, title: 'Handwritten digits', description: 'optdigits', category: 'vision', task: 'classification', licence: 'CC-BY-4.0', regions: ['eu'], consent: ['research'],
      schema: {}, schemaHash: 'a'.repeat(64), contentHash: 'b'.repeat(64), rows: 1797, budget: { epsilon: 8, delta: 1e-5 }, unit: { rounds: 5, epsilon: 1 }, quality: null, listedAt: T0, updatedAt: T0,
    });
    // An ask of 2.5 NXS that outlives any test run, so the route's own clock sees it open.
    await storage.market.insertOrder({ hash: '0xask', assetId: '7', side: 'ask', price: (5n * NXS) / 2n, units: 3, remaining: 3, expiry: 4_000_000_000, nonce: 1n, maker: OWNER, signature: '0xsig', intent: null, status: 'open', createdAt: 1, updatedAt: 1 });
    app = Fastify();
    await registerOperatorApi(app, guardedDeps(storage, new ServerEvents()));
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await storage.close();
  });

  const get = (url: string, headers: Record<string, string> = { authorization: `Bearer ${tokens.bob}` }) => app.inject({ method: 'GET', url, headers: { host: '127.0.0.1:8080', ...headers } });

  it('refuses the market routes without login (401)', async () => {
    for (const url of ['/api/market/assets', '/api/market/assets/7']) expect([url, (await get(url, {})).statusCode]).toEqual([url, 401]);
  });

  it('lists the catalogue and shows an asset to a viewer, prices as decimal strings', async () => {
    const list = await get('/api/market/assets');
    expect(list.statusCode).toBe(200);
    expect(list.json<MarketAssetSummary[]>()).toEqual([
      { id: '7', title: 'Handwritten digits', category: 'vision', task: 'classification', licence: 'CC-BY-4.0', regions: ['eu'], rows: 1797, bestAsk: '2500000000000000000', fills: 0, rating: { mean: null, count: 0 } },
    ]);
    const detail = await get('/api/market/assets/7?levels=5');
    expect(detail.statusCode).toBe(200);
    expect(detail.json<MarketAssetDetail>()).toMatchObject({ id: '7', depth: { bids: [], asks: [{ price: '2500000000000000000', units: 3, orders: 1 }] }, fillHistory: [], prices: [] });
  });

  it('answers 404 in the API error shape for an unknown asset', async () => {
    const response = await get('/api/market/assets/404');
    expect(response.statusCode).toBe(404);
    expect(response.json<OperatorApiErrorBody>()).toEqual({ error: { code: 'MARKET_ASSET_NOT_FOUND', message: "market_asset '404' does not exist; list the known ones first" } });
  });

  it('refuses a malformed token id or depth before querying storage (400)', async () => {
    for (const url of ['/api/market/assets/0x7', `/api/market/assets/${'9'.repeat(79)}`, '/api/market/assets/7?levels=0', '/api/market/assets/7?levels=many']) {
      const response = await get(url);
      expect([url, response.statusCode, response.json<OperatorApiErrorBody>().error.code]).toEqual([url, 400, 'REQUEST_INVALID']);
    }
  });
});

describe('operator credentials file', () => {
  it('must exist and be valid at start, and refuses everyone (503) while it cannot be read', async () => {
    expect(() => new OperatorAccess({ credentialsFile: join(kitDir, 'server', 'missing.json') })).toThrow(/operators file '.*missing.json' does not exist; provision the job again with --operators/);
    const file = join(kitDir, 'server', 'moving.json');
    writeFileSync(file, readFileSync(operatorCredentialsPath(kitDir)));
    const access = new OperatorAccess({ credentialsFile: file });
    expect(access.authenticateToken(tokens.bob).name).toBe('bob');
    rmSync(file);
    expect(() => access.authenticateToken(tokens.bob)).toThrow(expect.objectContaining({ code: 'OPERATORS_UNREADABLE', httpStatus: 503 }));
    writeFileSync(file, '{"version": 1}');
    expect(() => access.authenticateToken(tokens.bob)).toThrow(/OPERATORS_INVALID|operators file/);
  });
});

describe('operator API without authentication', () => {
  it('treats everyone as an admin but still checks Host and Origin', async () => {
    const storage = openStorage({ path: ':memory:' });
    await seed(storage);
    const control = recordingControl('job-a');
    const app = Fastify();
    await registerOperatorApi(app, { storage, events: new ServerEvents(), access: new OperatorAccess(), origins: new OperatorOrigins('127.0.0.1'), audit: async () => undefined, control });
    await app.ready();
    expect((await app.inject({ method: 'GET', url: '/api/session' })).json()).toEqual({ name: 'anyone', role: 'admin', via: 'open', authentication: 'off' });
    expect((await app.inject({ method: 'POST', url: '/api/jobs/job-a/pause' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/api/jobs/job-a/resume', headers: { origin: 'http://attacker.example' } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/api/jobs', headers: { host: 'attacker.example' } })).statusCode).toBe(421);
    expect(control.calls).toEqual(['pause']);
    await app.close();
    await storage.close();
  });
});
