import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { openStorage, type Storage } from '../core/index.js';
import type { RoundReport } from '../fl/index.js';
import { ServerEvents, type ServerEventMessage } from './events.js';
import { registerOperatorApi, type OperatorApiErrorBody } from './operator-api.js';
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

describe('operator API', () => {
  let storage: Storage;
  let events: ServerEvents;
  let app: FastifyInstance;

  beforeEach(async () => {
    storage = openStorage({ path: ':memory:' });
    await seed(storage);
    events = new ServerEvents();
    app = Fastify();
    await registerOperatorApi(app, { storage, events });
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await storage.close();
  });

  async function get<T>(url: string): Promise<{ status: number; body: T }> {
    const response = await app.inject({ method: 'GET', url });
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
    await registerOperatorApi(failing, { storage: broken, events });
    const response = await failing.inject({ method: 'GET', url: '/api/nodes' });
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
    const socket: WebSocket = await app.injectWS('/api/live');
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
    await registerOperatorApi(app, { storage, events: new ServerEvents() });
    await app.ready();
    const socket = await app.injectWS('/api/live');
    socket.terminate();
    await app.close();
    await storage.close();
  });
});
