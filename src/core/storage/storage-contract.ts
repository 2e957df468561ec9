import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CipherNexusError, NotFoundError } from '../errors.js';
import { blobDigest } from './model-store/model-store.js';
import type {
  JobRecord,
  ModelRecord,
  NodeRecord,
  PrivacyBudgetRecord,
  PrivacyChargeRecord,
  RoundRecord,
  Storage,
  TaskRecord,
  UpdateRecord,
} from './repository.js';

/**
 * The behaviour every `Storage` adapter must show, as one vitest suite: each adapter's test file
 * calls `describeStorageContract` with a way to open a fresh, empty store, so that SQLite and
 * PostgreSQL are held to the same results, orderings and error codes.
 */

/** A fresh, empty store, and how to remove what opening it created once it is closed. */
export interface OpenedStorage {
  storage: Storage;
  dispose(): Promise<void>;
}

export const node = (id: string, overrides: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  status: 'online',
  resources: { cpuCores: 8, memoryMb: 16384, gpuCount: 1, cpuLoad: 0.25, bandwidthMbps: 100 },
  labels: { org: 'hospital-a', region: 'eu' },
  registeredAt: 1_700_000_000_000,
  lastHeartbeat: 1_700_000_000_500,
  ...overrides,
});

export const task = (id: string, overrides: Partial<TaskRecord> = {}): TaskRecord => ({
  id,
  type: 'train',
  priority: 2.5,
  requirements: { cpuCores: 2, memoryMb: 512 },
  status: 'pending',
  nodeId: null,
  attempts: 0,
  maxAttempts: 3,
  payload: { round: 4, clients: ['a', 'b'], nested: { nil: null } },
  result: undefined,
  error: null,
  createdAt: 10,
  updatedAt: 10,
  ...overrides,
});

export const job = (id: string, overrides: Partial<JobRecord> = {}): JobRecord => ({
  id,
  name: 'optdigits-fedavg',
  config: { rounds: 5, strategy: 'fedavg' },
  status: 'running',
  modelId: null,
  report: null,
  createdAt: 100,
  finishedAt: null,
  ...overrides,
});

export const model = (id: string): ModelRecord => ({
  id,
  name: 'mlp',
  architecture: { layers: [64, 64, 10] },
  hyperparameters: { lr: 0.01, optimizer: 'sgd' },
  latestVersion: 0,
  createdAt: 50,
});

export const round = (id: string, jobId: string, modelId: string, number: number): RoundRecord => ({
  id,
  jobId,
  modelId,
  number,
  status: 'open',
  participants: ['c1', 'c2', 'c3'],
  quorum: 2,
  deadline: 9_999,
  baseVersion: 1,
  resultVersion: null,
  metrics: { loss: 0.75 },
  startedAt: 200,
  finishedAt: null,
  error: null,
});

/** Awaits `promise`, expects it to reject with a CipherNexusError of `code`, and returns that error. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<CipherNexusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CipherNexusError);
  expect((error as CipherNexusError).code).toBe(code);
  return error as CipherNexusError;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the storage contract against the stores `open` returns, a fresh empty one for every test. */
export function describeStorageContract(name: string, open: () => Promise<OpenedStorage>): void {
  describe(`${name} (storage contract)`, () => {
    let storage: Storage;
    let dispose: () => Promise<void>;

    beforeEach(async () => {
      ({ storage, dispose } = await open());
    });

    afterEach(async () => {
      await storage.close();
      await dispose();
    });

    describe('records', () => {
      it('round-trips nodes, and upsert replaces instead of duplicating', async () => {
        await storage.nodes.upsert(node('n1'));
        await storage.nodes.upsert(node('n2'));
        expect(await storage.nodes.get('n1')).toEqual(node('n1'));
        const moved = { ...node('n1'), status: 'offline' as const, resources: { cpuCores: 4, memoryMb: 1024 } };
        await storage.nodes.upsert(moved);
        expect(await storage.nodes.get('n1')).toEqual(moved);
        expect((await storage.nodes.list()).map((n) => n.id)).toEqual(['n1', 'n2']);
        expect(await storage.nodes.delete('n1')).toBe(true);
        expect(await storage.nodes.delete('n1')).toBe(false);
        expect(await storage.nodes.get('n1')).toBeUndefined();
      });

      it('orders text byte by byte, as SQLite does, whatever the server collation', async () => {
        for (const id of ['b', 'é', 'B', '_', 'a', 'Z', 'a-2', 'a10', 'a2']) await storage.nodes.upsert(node(id));
        expect((await storage.nodes.list()).map((n) => n.id)).toEqual(['B', 'Z', '_', 'a', 'a-2', 'a10', 'a2', 'b', 'é']);
      });

      it('returns 64-bit integers as exact numbers and doubles bit for bit', async () => {
        const big = node('n1', { registeredAt: Number.MAX_SAFE_INTEGER, lastHeartbeat: -1 });
        await storage.nodes.upsert(big);
        const back = await storage.nodes.get('n1');
        expect(back).toEqual(big);
        expect(typeof back?.registeredAt).toBe('number');
        for (const priority of [0.1 + 0.2, -1e-300, 1.7976931348623157e308, 5e-324]) {
          await storage.tasks.upsert(task('t1', { priority }));
          expect(Object.is((await storage.tasks.get('t1'))?.priority, priority)).toBe(true);
        }
      });

      it('round-trips tasks, keeping null apart from undefined, and filters by status and node', async () => {
        await storage.tasks.upsert(task('t1'));
        await storage.tasks.upsert(task('t2', { status: 'assigned', nodeId: 'n1', result: null, createdAt: 11 }));
        await storage.tasks.upsert(task('t3', { status: 'failed', nodeId: 'n2', error: 'out of memory', createdAt: 12 }));
        expect(await storage.tasks.get('t1')).toEqual(task('t1'));
        const t2 = await storage.tasks.get('t2');
        expect(t2?.result).toBeNull();
        expect((await storage.tasks.get('t1'))?.result).toBeUndefined();
        expect((await storage.tasks.list()).map((t) => t.id)).toEqual(['t1', 't2', 't3']);
        expect((await storage.tasks.list({ status: 'assigned' })).map((t) => t.id)).toEqual(['t2']);
        expect((await storage.tasks.list({ nodeId: 'n2' })).map((t) => t.id)).toEqual(['t3']);
        expect(await storage.tasks.list({ status: 'pending', nodeId: 'n2' })).toEqual([]);
      });

      it('keeps JSON exactly: key order, unicode, escapes and numbers', async () => {
        const payload = { z: 1, a: [1e21, -0.5, 2 ** 53], m: { 'ключ': 'värde ✓', nul: 'a\u0000b', quote: '"\\' }, e: '' };
        await storage.tasks.upsert(task('t1', { payload }));
        const back = (await storage.tasks.get('t1'))?.payload as typeof payload;
        expect(back).toEqual(payload);
        expect(Object.keys(back)).toEqual(['z', 'a', 'm', 'e']);
        expect(JSON.stringify(back)).toBe(JSON.stringify(payload));
      });

      it('breaks ties in list order by first insertion, and an upsert keeps a record in its place', async () => {
        await storage.tasks.upsert(task('t-b'));
        await storage.tasks.upsert(task('t-a'));
        await storage.tasks.upsert(task('t-b', { status: 'assigned' }));
        expect((await storage.tasks.list()).map((t) => t.id)).toEqual(['t-b', 't-a']);
        await storage.jobs.upsert(job('j-b'));
        await storage.jobs.upsert(job('j-a'));
        await storage.jobs.upsert(job('j-b', { status: 'completed' }));
        expect((await storage.jobs.list()).map((j) => j.id)).toEqual(['j-b', 'j-a']);
        await storage.models.insertModel(model('m-b'));
        await storage.models.insertModel(model('m-a'));
        expect((await storage.models.listModels()).map((m) => m.id)).toEqual(['m-b', 'm-a']);
      });

      it('round-trips jobs', async () => {
        await storage.jobs.upsert(job('j1'));
        expect(await storage.jobs.get('j1')).toEqual(job('j1'));
        const done = { ...job('j1'), status: 'completed' as const, report: { accuracy: 0.93 }, finishedAt: 900, modelId: 'm1' };
        await storage.jobs.upsert(done);
        expect(await storage.jobs.list()).toEqual([done]);
        expect(await storage.jobs.get('nope')).toBeUndefined();
      });

      it('round-trips models and versions, moving latestVersion forward', async () => {
        await storage.models.insertModel(model('m1'));
        expect(await storage.models.getModel('m1')).toEqual(model('m1'));
        await expectCode(storage.models.insertModel(model('m1')), 'MODEL_DUPLICATE');

        const weights = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e3);
        const v1 = { modelId: 'm1', version: 1, sha256: 'aa', parentVersion: null as number | null, weights, metrics: { acc: 0.5 }, roundId: null as string | null, createdAt: 60 };
        const v2 = { ...v1, version: 2, sha256: 'bb', parentVersion: 1, roundId: 'r1', weights: weights.map((w) => -w) };
        await storage.models.insertVersion(v1);
        await storage.models.insertVersion(v2);
        expect((await storage.models.getModel('m1'))?.latestVersion).toBe(2);
        expect(await storage.models.getVersion('m1', 2)).toEqual(v2);
        const withoutWeights = (v: typeof v1): Omit<typeof v1, 'weights'> => ({
          modelId: v.modelId,
          version: v.version,
          sha256: v.sha256,
          parentVersion: v.parentVersion,
          metrics: v.metrics,
          roundId: v.roundId,
          createdAt: v.createdAt,
        });
        expect(await storage.models.listVersions('m1')).toEqual([withoutWeights(v1), withoutWeights(v2)]);
        expect(await storage.models.listModels()).toEqual([{ ...model('m1'), latestVersion: 2 }]);

        await expectCode(storage.models.insertVersion(v1), 'MODEL_VERSION_DUPLICATE');
        await expect(storage.models.insertVersion({ ...v1, modelId: 'ghost' })).rejects.toBeInstanceOf(NotFoundError);
        expect(await storage.models.getVersion('m1', 3)).toBeUndefined();
      });

      it('keeps latestVersion at the newest version when an older one is back-filled', async () => {
        await storage.models.insertModel(model('m1'));
        const version = (n: number) => ({ modelId: 'm1', version: n, sha256: `v${n}`, parentVersion: null, weights: new Float32Array([n]), metrics: {}, roundId: null, createdAt: n });
        await storage.models.insertVersion(version(3));
        await storage.models.insertVersion(version(1));
        expect((await storage.models.getModel('m1'))?.latestVersion).toBe(3);
        expect((await storage.models.listVersions('m1')).map((v) => v.version)).toEqual([1, 3]);
      });

      it('keeps one strategy state per model, replaced by the next, and refuses one for a missing model', async () => {
        await storage.models.insertModel(model('m1'));
        expect(await storage.models.getStrategyState('m1')).toBeUndefined();
        const backing = new Uint8Array(40).map((_, i) => i * 7);
        const first = { modelId: 'm1', strategy: 'fedadam', version: 2, state: backing.subarray(3, 35), updatedAt: 10 };
        await storage.models.putStrategyState(first);
        const stored = await storage.models.getStrategyState('m1');
        expect(stored).toEqual({ ...first, state: new Uint8Array(backing.subarray(3, 35)) });
        const next = { modelId: 'm1', strategy: 'fedadam', version: 3, state: new Uint8Array([1, 2, 3]), updatedAt: 20 };
        await storage.models.putStrategyState(next);
        expect(await storage.models.getStrategyState('m1')).toEqual(next);
        await expect(storage.models.putStrategyState({ ...next, modelId: 'ghost' })).rejects.toBeInstanceOf(NotFoundError);
        expect(await storage.models.getStrategyState('ghost')).toBeUndefined();
      });

      it('stores weights byte for byte, from a view at an odd offset, including NaN payloads and -0', async () => {
        await storage.models.insertModel(model('m1'));
        const backing = new ArrayBuffer(4 * 40);
        // A view that does not start at its buffer's beginning, as a slice of a larger tensor would.
        const weights = new Float32Array(backing, 4 * 3, 33);
        const bits = new Uint32Array(backing, 4 * 3, 33);
        for (let i = 0; i < weights.length; i++) weights[i] = (i - 16) / 7;
        weights[0] = -0;
        weights[1] = Infinity;
        weights[2] = 1.4e-45;
        bits[3] = 0x7fc0_1234; // a NaN with a payload that float arithmetic would not preserve
        new Float32Array(backing, 0, 3).fill(99); // neighbours outside the view must not leak in

        await storage.models.insertVersion({ modelId: 'm1', version: 1, sha256: 'x', parentVersion: null, weights, metrics: {}, roundId: null, createdAt: 1 });
        const back = (await storage.models.getVersion('m1', 1))?.weights;
        expect(back).toBeInstanceOf(Float32Array);
        expect(back?.length).toBe(33);
        expect(back?.byteOffset).toBe(0);
        expect(Buffer.from(back!.buffer, back!.byteOffset, back!.byteLength)).toEqual(
          Buffer.from(backing, weights.byteOffset, weights.byteLength),
        );
        expect(Object.is(back![0], -0)).toBe(true);
      });

      it('round-trips rounds and updates, and refuses rounds whose model is missing', async () => {
        await storage.jobs.upsert(job('j1'));
        await storage.models.insertModel(model('m1'));
        await storage.rounds.upsert(round('r2', 'j1', 'm1', 2));
        await storage.rounds.upsert(round('r1', 'j1', 'm1', 1));
        expect(await storage.rounds.get('r1')).toEqual(round('r1', 'j1', 'm1', 1));
        const closed = { ...round('r1', 'j1', 'm1', 1), status: 'finalized' as const, resultVersion: 2, finishedAt: 300 };
        await storage.rounds.upsert(closed);
        expect((await storage.rounds.list({ jobId: 'j1' })).map((r) => r.id)).toEqual(['r1', 'r2']);
        expect(await storage.rounds.get('r1')).toEqual(closed);
        expect(await storage.rounds.list({ jobId: 'j2' })).toEqual([]);

        const error = await expectCode(storage.rounds.upsert(round('r3', 'j1', 'm9', 3)), 'MODEL_NOT_FOUND');
        expect(error.message).toContain("'m9'");
        // A round's job is not enforced: a simulation may run rounds without storing a job.
        await storage.rounds.upsert(round('r4', 'no-job', 'm1', 1));
        expect((await storage.rounds.list({ jobId: 'no-job' })).map((r) => r.id)).toEqual(['r4']);
        expect((await storage.rounds.list()).map((r) => r.id)).toEqual(['r1', 'r2', 'r4']);

        const u1 = { roundId: 'r1', clientId: 'c1', numExamples: 120, sha256: 'ff', metrics: { loss: 0.4 }, receivedAt: 250 };
        const u2 = { ...u1, clientId: 'c2', numExamples: 80, receivedAt: 251 };
        await storage.rounds.insertUpdate(u1);
        await storage.rounds.insertUpdate(u2);
        expect(await storage.rounds.listUpdates('r1')).toEqual([u1, u2]);
        expect(await storage.rounds.listUpdates('r2')).toEqual([]);
        await expectCode(storage.rounds.insertUpdate({ ...u1, roundId: 'r404' }), 'ROUND_NOT_FOUND');
      });

      it('refuses a second update from the same client in a round, keeping the first', async () => {
        await storage.jobs.upsert(job('j1'));
        await storage.models.insertModel(model('m1'));
        await storage.rounds.upsert(round('r1', 'j1', 'm1', 1));
        const first = { roundId: 'r1', clientId: 'c1', numExamples: 10, sha256: 'first', metrics: {}, receivedAt: 1 };
        await storage.rounds.insertUpdate(first);
        const error = await expectCode(storage.rounds.insertUpdate({ ...first, sha256: 'second' }), 'UPDATE_DUPLICATE');
        expect(error.message).toContain("'c1'");
        expect(await storage.rounds.listUpdates('r1')).toEqual([first]);
      });

      it('keeps update payloads apart from the listing, returns them one by one, and clears them per round', async () => {
        await storage.models.insertModel(model('m1'));
        await storage.rounds.upsert(round('r1', 'j1', 'm1', 1));
        await storage.rounds.upsert(round('r2', 'j1', 'm1', 2));
        const backing = new Uint8Array(64).map((_, i) => i);
        const bytes = backing.subarray(5, 5 + 37); // a view at an odd offset
        const base = { numExamples: 10, sha256: 'h', metrics: {}, receivedAt: 1 };
        const withPayload: UpdateRecord = { ...base, roundId: 'r1', clientId: 'c1', payload: bytes };
        const empty: UpdateRecord = { ...base, roundId: 'r1', clientId: 'c2', payload: new Uint8Array(0), receivedAt: 2 };
        const without: UpdateRecord = { ...base, roundId: 'r1', clientId: 'c3', receivedAt: 3 };
        const other: UpdateRecord = { ...base, roundId: 'r2', clientId: 'c1', payload: new Uint8Array([9]) };
        for (const update of [withPayload, empty, without, other]) await storage.rounds.insertUpdate(update);

        const listed = await storage.rounds.listUpdates('r1');
        expect(listed.map((u) => u.clientId)).toEqual(['c1', 'c2', 'c3']);
        expect(listed.every((u) => u.payload === undefined)).toBe(true);
        const back = await storage.rounds.getUpdatePayload('r1', 'c1');
        expect(back).toBeInstanceOf(Uint8Array);
        expect(Array.from(back!)).toEqual(Array.from(bytes));
        expect(Array.from((await storage.rounds.getUpdatePayload('r1', 'c2'))!)).toEqual([]);
        expect(await storage.rounds.getUpdatePayload('r1', 'c3')).toBeUndefined();
        expect(await storage.rounds.getUpdatePayload('r1', 'nobody')).toBeUndefined();

        expect(await storage.rounds.clearUpdatePayloads('r1')).toBe(2);
        expect(await storage.rounds.clearUpdatePayloads('r1')).toBe(0);
        expect(await storage.rounds.getUpdatePayload('r1', 'c1')).toBeUndefined();
        expect((await storage.rounds.listUpdates('r1')).length).toBe(3);
        expect(Array.from((await storage.rounds.getUpdatePayload('r2', 'c1'))!)).toEqual([9]);
      });
    });

    describe('model store', () => {
      const versionOf = (n: number, weights: Float32Array) => ({ modelId: 'm1', version: n, sha256: `v${n}`, parentVersion: n > 1 ? n - 1 : null, weights, metrics: {}, roundId: null, createdAt: n });

      it('stores equal weights once, under their sha256, and lists which blob each version uses', async () => {
        await storage.models.insertModel(model('m1'));
        const same = Float32Array.from({ length: 300 }, (_, i) => i / 3);
        const other = same.map((w) => w + 1);
        await storage.models.insertVersion(versionOf(1, same));
        await storage.models.insertVersion(versionOf(2, new Float32Array(same)));
        await storage.models.insertVersion(versionOf(3, other));
        const digest = (w: Float32Array): string => blobDigest(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
        expect(await storage.modelStore.list()).toEqual(
          [{ digest: digest(same), bytes: same.byteLength }, { digest: digest(other), bytes: other.byteLength }].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
        );
        expect(await storage.models.listWeightReferences()).toEqual([
          { modelId: 'm1', version: 1, digest: digest(same) },
          { modelId: 'm1', version: 2, digest: digest(same) },
          { modelId: 'm1', version: 3, digest: digest(other) },
        ]);
        expect(await storage.modelStore.has(digest(other))).toBe(true);
        expect(Array.from(await storage.modelStore.get(digest(other)))).toEqual(Array.from(new Uint8Array(other.buffer)));
      });

      it('keeps a version whose weights were dropped in the lineage, and refuses to read its weights', async () => {
        await storage.models.insertModel(model('m1'));
        await storage.models.insertVersion(versionOf(1, new Float32Array([1, 2])));
        await storage.models.insertVersion(versionOf(2, new Float32Array([3, 4])));
        expect(await storage.models.dropWeights('m1', 1)).toBe(true);
        expect(await storage.models.dropWeights('m1', 1)).toBe(false);
        await expectCode(storage.models.getVersion('m1', 1), 'MODEL_WEIGHTS_COLLECTED');
        expect((await storage.models.listVersions('m1')).map((v) => v.version)).toEqual([1, 2]);
        expect(Array.from((await storage.models.getVersion('m1', 2))!.weights)).toEqual([3, 4]);
        expect((await storage.models.listWeightReferences())[0].digest).toBeNull();
      });

      it('puts, finds and deletes blobs by digest, and refuses a name that is not a digest', async () => {
        const bytes = new Uint8Array([5, 6, 7]);
        const digest = await storage.modelStore.put(bytes);
        expect(digest).toBe(blobDigest(bytes));
        expect(await storage.modelStore.put(bytes.slice())).toBe(digest);
        expect((await storage.modelStore.list()).length).toBe(1);
        expect(await storage.modelStore.delete(digest)).toBe(true);
        expect(await storage.modelStore.delete(digest)).toBe(false);
        expect(await storage.modelStore.has(digest)).toBe(false);
        await expectCode(storage.modelStore.get(digest), 'MODEL_BLOB_MISSING');
        await expectCode(storage.modelStore.get('../../etc/passwd'), 'MODEL_DIGEST_INVALID');
      });

      it('forgets the weights of a version whose transaction rolled back, apart from a blob garbage collection removes', async () => {
        await storage.models.insertModel(model('m1'));
        await expect(
          storage.transaction(async () => {
            await storage.models.insertVersion(versionOf(1, new Float32Array([9, 9])));
            throw new Error('abandon');
          }),
        ).rejects.toThrow('abandon');
        expect(await storage.models.getVersion('m1', 1)).toBeUndefined();
        expect(await storage.models.listWeightReferences()).toEqual([]);
      });
    });

    describe('transactions', () => {
      it('leaves the database unchanged when fn throws', async () => {
        await storage.nodes.upsert(node('kept'));
        await expect(
          storage.transaction(async () => {
            await storage.nodes.upsert(node('n1'));
            await storage.tasks.upsert(task('t1'));
            await storage.nodes.delete('kept');
            expect(await storage.nodes.get('n1')).toBeDefined(); // visible inside the transaction
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        expect((await storage.nodes.list()).map((n) => n.id)).toEqual(['kept']);
        expect(await storage.tasks.list()).toEqual([]);
      });

      it('keeps everything written when fn returns, and returns its value', async () => {
        const value = await storage.transaction(async () => {
          await storage.nodes.upsert(node('n1'));
          await storage.tasks.upsert(task('t1'));
          return 42;
        });
        expect(value).toBe(42);
        expect(await storage.nodes.get('n1')).toEqual(node('n1'));
        expect(await storage.tasks.get('t1')).toEqual(task('t1'));
      });

      it('undoes only a refused call inside a transaction, which goes on and commits', async () => {
        await storage.models.insertModel(model('m1'));
        await storage.rounds.upsert(round('r1', 'j1', 'm1', 1));
        const first = { roundId: 'r1', clientId: 'c1', numExamples: 10, sha256: 'first', metrics: {}, receivedAt: 1 };
        await storage.transaction(async () => {
          await storage.rounds.insertUpdate(first);
          await expectCode(storage.rounds.insertUpdate({ ...first, sha256: 'second' }), 'UPDATE_DUPLICATE');
          await expectCode(storage.models.insertModel(model('m1')), 'MODEL_DUPLICATE');
          await storage.nodes.upsert(node('after'));
        });
        expect(await storage.rounds.listUpdates('r1')).toEqual([first]);
        expect(await storage.nodes.get('after')).toEqual(node('after'));
      });

      it('serialises concurrent transactions and keeps outside writes out of a failing one', async () => {
        const order: string[] = [];
        const failing = storage.transaction(async () => {
          order.push('a:start');
          await storage.nodes.upsert(node('a'));
          await sleep(20);
          order.push('a:end');
          throw new Error('a fails');
        });
        // Issued while `failing` is open: it must wait, not land inside that transaction and be rolled back.
        const outside = storage.nodes.upsert(node('outside'));
        const second = storage.transaction(async () => {
          order.push('b:start');
          await storage.nodes.upsert(node('b'));
          order.push('b:end');
        });
        await expect(failing).rejects.toThrow('a fails');
        await Promise.all([outside, second]);
        expect(order).toEqual(['a:start', 'a:end', 'b:start', 'b:end']);
        expect((await storage.nodes.list()).map((n) => n.id).sort()).toEqual(['b', 'outside']);
      });

      it('makes a call issued while a transaction runs wait for it and see what it committed', async () => {
        const writing = storage.transaction(async () => {
          await storage.nodes.upsert(node('n1'));
          await sleep(20);
          await storage.nodes.upsert(node('n1', { status: 'busy' }));
        });
        const seen = storage.nodes.get('n1');
        await writing;
        expect((await seen)?.status).toBe('busy');
      });

      it('runs a nested transaction inline, rolling back only the inner part when it throws and is caught', async () => {
        await storage.transaction(async () => {
          await storage.nodes.upsert(node('outer'));
          await storage.transaction(async () => {
            await storage.nodes.upsert(node('inner-kept'));
          });
          await storage
            .transaction(async () => {
              await storage.nodes.upsert(node('inner-dropped'));
              await storage.transaction(async () => storage.nodes.upsert(node('innermost-dropped')));
              throw new Error('inner fails');
            })
            .catch(() => undefined);
          expect(await storage.nodes.get('inner-dropped')).toBeUndefined();
        });
        expect((await storage.nodes.list()).map((n) => n.id).sort()).toEqual(['inner-kept', 'outer']);
      });

      it('rolls back nested work too when the outer transaction throws', async () => {
        await expect(
          storage.transaction(async () => {
            await storage.transaction(async () => storage.nodes.upsert(node('inner')));
            throw new Error('outer fails');
          }),
        ).rejects.toThrow('outer fails');
        expect(await storage.nodes.list()).toEqual([]);
      });

      it('refuses close() inside a transaction', async () => {
        await storage.transaction(async () => {
          await expectCode(storage.close(), 'STORAGE_CLOSE_IN_TRANSACTION');
        });
      });

      it('finishes calls already issued at close, and rejects later ones with STORAGE_CLOSED', async () => {
        const own = await open();
        const issued = own.storage.nodes.list();
        await own.storage.close();
        await expect(issued).resolves.toEqual([]);
        await expectCode(own.storage.nodes.list(), 'STORAGE_CLOSED');
        await expectCode(own.storage.transaction(async () => 1), 'STORAGE_CLOSED');
        await own.storage.close();
        await own.dispose();
      });
    });

    describe('privacy budgets and charges', () => {
      const mnist = { kind: 'dataset' as const, id: 'mnist' };
      const budget = (epsilon: number, at: number): PrivacyBudgetRecord => ({ scope: mnist, epsilon, delta: 1e-5, createdAt: at, updatedAt: at });
      const charge = (id: string, round: number, overrides: Partial<PrivacyChargeRecord> = {}): PrivacyChargeRecord => ({
        id,
        scope: mnist,
        jobId: 'j1',
        round,
        events: [{ kind: 'gaussian', noiseMultiplier: 1.5, steps: 1 }],
        orders: [1.5, 2, 64],
        rdp: [0.25, 1 / 3, Infinity],
        epsilonAfter: 1.2345678901234567,
        delta: 1e-5,
        conversion: 'improved',
        createdAt: 500 + round,
        ...overrides,
      });

      it('sets, replaces (keeping createdAt) and lists budgets', async () => {
        await storage.privacy.setBudget(budget(3, 10));
        await storage.privacy.setBudget({ scope: { kind: 'participant', id: 'clinic-a' }, epsilon: 8, delta: 1e-6, createdAt: 11, updatedAt: 11 });
        await storage.privacy.setBudget({ scope: { kind: 'dataset', id: 'Zeta' }, epsilon: 1, delta: 1e-6, createdAt: 12, updatedAt: 12 });
        await storage.privacy.setBudget(budget(4, 20));
        expect(await storage.privacy.getBudget(mnist)).toEqual({ ...budget(4, 20), createdAt: 10 });
        expect(await storage.privacy.getBudget({ kind: 'participant', id: 'mnist' })).toBeUndefined();
        expect((await storage.privacy.listBudgets()).map((b) => `${b.scope.kind}:${b.scope.id}`)).toEqual([
          'dataset:Zeta',
          'dataset:mnist',
          'participant:clinic-a',
        ]);
      });

      it('refuses budgets outside epsilon > 0 and delta in (0, 1) at the schema level', async () => {
        await expect(storage.privacy.setBudget(budget(0, 1))).rejects.toThrow(/check constraint/i);
        await expect(storage.privacy.setBudget({ ...budget(1, 1), delta: 1 })).rejects.toThrow(/check constraint/i);
        await expect(storage.privacy.setBudget(budget(NaN, 1))).rejects.toThrow();
        expect(await storage.privacy.listBudgets()).toEqual([]);
      });

      it('round-trips charges oldest first, keeping Infinity in the RDP curve and exact doubles', async () => {
        await storage.privacy.setBudget(budget(3, 10));
        await storage.privacy.insertCharge(charge('c2', 2));
        await storage.privacy.insertCharge(charge('c1', 1, { createdAt: 500 + 2 }));
        expect(await storage.privacy.listCharges(mnist)).toEqual([charge('c2', 2), charge('c1', 1, { createdAt: 502 })]);
        expect(await storage.privacy.listCharges({ kind: 'participant', id: 'mnist' })).toEqual([]);
      });

      it('refuses a charge without a budget and a second charge of the same job round', async () => {
        const missing = await expectCode(storage.privacy.insertCharge(charge('c1', 1)), 'PRIVACY_BUDGET_NOT_FOUND');
        expect(missing).toBeInstanceOf(NotFoundError);
        await storage.privacy.setBudget(budget(3, 10));
        await storage.privacy.insertCharge(charge('c1', 1));
        const duplicate = await expectCode(storage.privacy.insertCharge(charge('c2', 1)), 'PRIVACY_CHARGE_DUPLICATE');
        expect(duplicate.message).toMatch(/round 1 of job 'j1' is already charged to dataset 'mnist'/);
        await storage.privacy.insertCharge(charge('c3', 1, { jobId: 'j2' }));
        expect((await storage.privacy.listCharges(mnist)).map((c) => c.id)).toEqual(['c1', 'c3']);
      });
    });
  });
}
