import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../core/index.js';
import { ModelRegistry } from './model-registry.js';
import { ModelValidator } from './model-validator.js';
import { FedAdam, FedAvg, FedYogi } from './strategies/index.js';
import { TrainingManager } from './training-manager.js';

describe('TrainingManager', () => {
  let storage: Storage;
  let registry: ModelRegistry;
  let clock: number;
  let manager: TrainingManager;
  let modelId: string;

  beforeEach(async () => {
    storage = await openStorage({ path: ':memory:' });
    registry = new ModelRegistry(storage);
    clock = 1_000;
    manager = new TrainingManager(storage, registry, new FedAvg(), {
      now: () => clock,
      validator: new ModelValidator({ expectedLength: 2 }),
    });
    modelId = await registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array([0, 0]) });
  });
  afterEach(async () => {
    await storage.close();
  });

  const open = (participants = ['a', 'b', 'c'], quorum = 2) =>
    manager.startRound(modelId, { jobId: 'job-1', participants, quorum, deadlineMs: 500 });

  it('aggregates accepted updates into the next model version, weighted by examples', async () => {
    const roundId = await open();
    await manager.submitUpdate(roundId, { clientId: 'a', weights: new Float32Array([1, 1]), numExamples: 1 });
    await manager.submitUpdate(roundId, { clientId: 'b', weights: new Float32Array([4, 7]), numExamples: 3 });
    const result = await manager.finalizeRound(roundId);
    expect(Array.from(result.weights)).toEqual([3.25, 5.5]);
    expect(result.version).toMatchObject({ version: 2, parentVersion: 1, roundId });
    expect(result.round).toMatchObject({ status: 'finalized', resultVersion: 2, number: 1 });
    expect(await storage.rounds.listUpdates(roundId)).toHaveLength(2);
  });

  it('refuses duplicate, late, foreign and malformed updates with distinct codes', async () => {
    const roundId = await open();
    await manager.submitUpdate(roundId, { clientId: 'a', weights: new Float32Array([1, 1]), numExamples: 1 });
    await expect(manager.submitUpdate(roundId, { clientId: 'a', weights: new Float32Array([2, 2]), numExamples: 1 })).rejects.toMatchObject({ code: 'UPDATE_DUPLICATE' });
    await expect(manager.submitUpdate(roundId, { clientId: 'z', weights: new Float32Array([2, 2]), numExamples: 1 })).rejects.toMatchObject({ code: 'UPDATE_NOT_PARTICIPANT' });
    await expect(manager.submitUpdate(roundId, { clientId: 'b', weights: new Float32Array([2, 2, 2]), numExamples: 1 })).rejects.toMatchObject({ code: 'UPDATE_INVALID' });
    await expect(manager.submitUpdate(roundId, { clientId: 'b', weights: new Float32Array([2, 2]), numExamples: 0 })).rejects.toMatchObject({ code: 'UPDATE_INVALID' });
    clock += 501;
    await expect(manager.submitUpdate(roundId, { clientId: 'c', weights: new Float32Array([2, 2]), numExamples: 1 })).rejects.toMatchObject({ code: 'UPDATE_LATE' });
    expect((await storage.rounds.listUpdates(roundId)).map((u) => u.clientId)).toEqual(['a']);
  });

  it('fails a round below quorum and keeps the model unchanged', async () => {
    const roundId = await open(['a', 'b', 'c'], 2);
    await manager.submitUpdate(roundId, { clientId: 'a', weights: new Float32Array([1, 1]), numExamples: 1 });
    await expect(manager.finalizeRound(roundId)).rejects.toMatchObject({ code: 'ROUND_QUORUM_NOT_MET' });
    expect((await manager.getRound(roundId)).status).toBe('failed');
    expect((await registry.getModel(modelId)).latestVersion).toBe(1);
    await expect(manager.submitUpdate(roundId, { clientId: 'b', weights: new Float32Array([1, 1]), numExamples: 1 })).rejects.toMatchObject({ code: 'UPDATE_ROUND_CLOSED' });
  });

  it('allows one unfinished round per job and numbers rounds in order', async () => {
    const first = await open(['a'], 1);
    await expect(open(['a'], 1)).rejects.toMatchObject({ code: 'ROUND_IN_PROGRESS' });
    await manager.submitUpdate(first, { clientId: 'a', weights: new Float32Array([1, 1]), numExamples: 1 });
    expect(await manager.isComplete(first)).toBe(true);
    await manager.finalizeRound(first);
    await expect(manager.finalizeRound(first)).rejects.toMatchObject({ code: 'ROUND_NOT_ACTIVE' });
    const second = await open(['a'], 1);
    expect((await manager.getRound(second)).number).toBe(2);
    expect((await manager.getRound(second)).baseVersion).toBe(2);
  });

  it('refuses impossible round options', async () => {
    await expect(open([], 1)).rejects.toMatchObject({ code: 'ROUND_NO_PARTICIPANTS' });
    await expect(open(['a'], 2)).rejects.toMatchObject({ code: 'ROUND_QUORUM_INVALID' });
    expect(await storage.rounds.list()).toHaveLength(0);
  });

  it('gives the same aggregate whatever the arrival order', async () => {
    const updates = [
      { clientId: 'c', weights: new Float32Array([0.1, 0.7]), numExamples: 7 },
      { clientId: 'a', weights: new Float32Array([0.3, 0.2]), numExamples: 3 },
      { clientId: 'b', weights: new Float32Array([0.9, 0.4]), numExamples: 5 },
    ];
    const r1 = await open(['a', 'b', 'c'], 3);
    for (const u of updates) await manager.submitUpdate(r1, u);
    const forward = await manager.finalizeRound(r1);
    const other = await registry.registerModel({ name: 'm2', architecture: {}, initialWeights: new Float32Array([0, 0]) });
    const r2 = await manager.startRound(other, { jobId: 'job-2', participants: ['a', 'b', 'c'], quorum: 3, deadlineMs: 500 });
    for (const u of [...updates].reverse()) await manager.submitUpdate(r2, u);
    const backward = await manager.finalizeRound(r2);
    expect(backward.version.sha256).toBe(forward.version.sha256);
  });

  it('recognises a resubmission of the same bytes as a duplicate and counts it once', async () => {
    const roundId = await open();
    const update = { clientId: 'a', weights: new Float32Array([1, 2]), numExamples: 2 };
    expect(await manager.submitUpdate(roundId, update)).toBe('accepted');
    expect(await manager.submitUpdate(roundId, { ...update, weights: new Float32Array([1, 2]) })).toBe('duplicate');
    await manager.submitUpdate(roundId, { clientId: 'b', weights: new Float32Array([3, 4]), numExamples: 2 });
    const result = await manager.finalizeRound(roundId);
    expect(result.round.metrics.updates).toBe(2);
    // After the round closed, the same bytes are still acknowledged, different bytes refused.
    expect(await manager.submitUpdate(roundId, update)).toBe('duplicate');
    await expect(manager.submitUpdate(roundId, { ...update, weights: new Float32Array([9, 9]) })).rejects.toMatchObject({ code: 'UPDATE_DUPLICATE' });
  });
  it('saves a server optimiser\'s state with each version, and a new manager continues from it', async () => {
    const adam = new FedAdam({ eta: 0.5 });
    const first = new TrainingManager(storage, registry, adam, { now: () => clock });
    const roundId = await first.startRound(modelId, { jobId: 'job-opt', participants: ['a', 'b'], quorum: 2, deadlineMs: 500 });
    await first.submitUpdate(roundId, { clientId: 'a', weights: new Float32Array([1, 2]), numExamples: 1 });
    await first.submitUpdate(roundId, { clientId: 'b', weights: new Float32Array([3, -2]), numExamples: 1 });
    const result = await first.finalizeRound(roundId);
    const saved = await storage.models.getStrategyState(modelId);
    expect(saved).toMatchObject({ modelId, strategy: 'fedadam', version: result.version.version, updatedAt: clock });
    expect(saved?.state).toEqual(adam.saveState());

    const resumedAdam = new FedAdam({ eta: 0.5 });
    expect(await new TrainingManager(storage, registry, resumedAdam).restoreStrategyState(modelId)).toBe(true);
    expect(resumedAdam.saveState()).toEqual(adam.saveState());
    // Another optimiser's state is not taken over, and a stateless rule has none to take.
    expect(await new TrainingManager(storage, registry, new FedYogi({ eta: 0.5 })).restoreStrategyState(modelId)).toBe(false);
    expect(await new TrainingManager(storage, registry, new FedAvg()).restoreStrategyState(modelId)).toBe(false);
  });
});

describe('TrainingManager streaming and resume', () => {
  const updates = Array.from({ length: 6 }, (_, k) => ({
    clientId: `c${k}`,
    weights: Float32Array.from({ length: 5 }, (_, i) => Math.sin(k * 7 + i) * 3),
    numExamples: 10 + k * 3,
  }));

  async function setup(options: { streaming?: boolean; durable?: boolean }, storage?: Storage) {
    const store = storage ?? (await openStorage({ path: ':memory:' }));
    const registry = new ModelRegistry(store);
    const manager = new TrainingManager(store, registry, new FedAvg(), options);
    return { store, registry, manager };
  }

  it('folding updates as they arrive gives the buffered aggregate to float32 precision', async () => {
    const buffered = await setup({});
    const streamed = await setup({ streaming: true });
    const results: Float32Array[] = [];
    for (const { registry, manager, store } of [buffered, streamed]) {
      const modelId = await registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array(5) });
      const roundId = await manager.startRound(modelId, { jobId: 'j', participants: updates.map((u) => u.clientId), quorum: 6, deadlineMs: 60_000 });
      for (const u of updates) await manager.submitUpdate(roundId, u);
      results.push((await manager.finalizeRound(roundId)).weights);
      await store.close();
    }
    for (let i = 0; i < 5; i++) expect(results[1][i]).toBeCloseTo(results[0][i], 6);
  });

  it('keeps the bytes of a plain update for a restart but never those of a protected one, which no restart resumes', async () => {
    const { store, registry, manager } = await setup({ streaming: true, durable: true });
    const modelId = await registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array(5) });
    const roundId = await manager.startRound(modelId, { jobId: 'j', participants: ['plain', 'masked'], quorum: 2, deadlineMs: 60_000 });
    await manager.submitUpdate(roundId, { ...updates[0], clientId: 'plain' });
    expect(await manager.submitProtectedUpdate(roundId, { clientId: 'masked', numExamples: 3, payload: new Uint8Array([1, 2, 3, 4]) })).toBe('accepted');
    expect(await store.rounds.getUpdatePayload(roundId, 'plain')).toBeDefined();
    expect(await store.rounds.getUpdatePayload(roundId, 'masked')).toBeUndefined();
    expect((await store.rounds.listUpdates(roundId)).map((u) => u.clientId)).toEqual(['plain', 'masked']);
    await store.close();
  });

  it('a coordinator restarted mid-round reloads the accepted updates: none lost, none counted twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tm-resume-'));
    const path = join(dir, 'db.sqlite');
    try {
      const first = await setup({ streaming: true, durable: true }, openStorage({ path }));
      const modelId = await first.registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array(5) });
      const roundId = await first.manager.startRound(modelId, { jobId: 'j', participants: updates.map((u) => u.clientId), quorum: 6, deadlineMs: 60_000 });
      for (const u of updates.slice(0, 4)) await first.manager.submitUpdate(roundId, u);
      await first.store.close();

      const second = await setup({ streaming: true, durable: true }, openStorage({ path }));
      await expect(second.manager.submitUpdate(roundId, updates[4])).rejects.toMatchObject({ code: 'ROUND_NOT_ACTIVE' });
      await second.manager.resumeRound(roundId);
      // A client that had been accepted before the crash sends again: acknowledged, not recounted.
      expect(await second.manager.submitUpdate(roundId, updates[1])).toBe('duplicate');
      for (const u of updates.slice(4)) expect(await second.manager.submitUpdate(roundId, u)).toBe('accepted');
      const resumed = await second.manager.finalizeRound(roundId);
      expect(resumed.round.metrics.updates).toBe(6);
      expect(await second.store.rounds.getUpdatePayload(roundId, 'c0')).toBeUndefined();
      await second.store.close();

      const clean = await setup({ streaming: true });
      const cleanModel = await clean.registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array(5) });
      const cleanRound = await clean.manager.startRound(cleanModel, { jobId: 'j', participants: updates.map((u) => u.clientId), quorum: 6, deadlineMs: 60_000 });
      for (const u of updates) await clean.manager.submitUpdate(cleanRound, u);
      const expected = await clean.manager.finalizeRound(cleanRound);
      expect(resumed.version.sha256).toBe(expected.version.sha256);
      await clean.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an update racing finalisation is either in the aggregate or refused, never acknowledged and left out', async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { registry, manager, store } = await setup({ streaming: true, durable: true });
      const modelId = await registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array(5) });
      const roundId = await manager.startRound(modelId, { jobId: 'j', participants: ['c0', 'c1'], quorum: 1, deadlineMs: 60_000 });
      await manager.submitUpdate(roundId, updates[0]);
      const [late, finalized] = await Promise.allSettled([manager.submitUpdate(roundId, updates[1]), manager.finalizeRound(roundId)]);
      expect(finalized.status).toBe('fulfilled');
      const result = (finalized as PromiseFulfilledResult<Awaited<ReturnType<TrainingManager['finalizeRound']>>>).value;
      const stored = await store.rounds.listUpdates(roundId);
      expect(result.round.metrics.updates).toBe(stored.length);
      expect(stored.length).toBe(late.status === 'fulfilled' ? 2 : 1);
      if (late.status === 'rejected') expect(late.reason).toMatchObject({ code: 'UPDATE_ROUND_CLOSED' });
      await store.close();
    }
  });

  it('refuses to resume a round whose updates were not kept', async () => {
    const { registry, manager, store } = await setup({ streaming: true });
    const modelId = await registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array(5) });
    const roundId = await manager.startRound(modelId, { jobId: 'j', participants: ['c0', 'c1'], quorum: 1, deadlineMs: 60_000 });
    await manager.submitUpdate(roundId, updates[0]);
    const other = new TrainingManager(store, registry, new FedAvg(), { streaming: true });
    await expect(other.resumeRound(roundId)).rejects.toMatchObject({ code: 'ROUND_NOT_RESUMABLE' });
    await store.close();
  });
});
