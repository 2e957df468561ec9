import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../core/index.js';
import { ModelRegistry } from './model-registry.js';
import { ModelValidator } from './model-validator.js';
import { FedAvg } from './strategies/index.js';
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
});
