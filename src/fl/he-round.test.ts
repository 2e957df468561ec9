import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, Rng, type Storage } from '../core/index.js';
import { HeCoordinator, HeParticipants } from './he-round.js';
import { ModelRegistry } from './model-registry.js';
import { FedAvg, weightedAverage } from './strategies/index.js';
import { TrainingManager } from './training-manager.js';

// An encrypted FedAvg round through the training manager: the coordinator side only ever holds bytes.
describe('CKKS round', () => {
  let storage: Storage;
  let participants: HeParticipants;
  let coordinator: HeCoordinator;

  beforeAll(async () => {
    storage = openStorage({ path: ':memory:' });
    participants = await HeParticipants.create('job-he', 'n8192');
    coordinator = await HeCoordinator.create(participants.coordinatorKeys());
  });
  afterAll(async () => {
    participants.dispose();
    coordinator.dispose();
    await storage.close();
  });

  it('gives the coordinator keys without a secret key', () => {
    expect('secretKey' in participants.coordinatorKeys()).toBe(false);
  });

  it('matches plaintext FedAvg within 1e-6 per parameter', async () => {
    const d = 5000;
    const rng = new Rng(3);
    const global = new Float32Array(d);
    const updates = ['a', 'b', 'c', 'd'].map((clientId, i) => ({
      clientId,
      numExamples: 50 * (i + 1),
      weights: Float32Array.from({ length: d }, () => rng.normal() * 0.3),
    }));
    const registry = new ModelRegistry(storage);
    const modelId = await registry.registerModel({ name: 'm', architecture: {}, initialWeights: global });
    const manager = new TrainingManager(storage, registry, new FedAvg());
    const roundId = await manager.startRound(modelId, { jobId: 'job-he', participants: updates.map((u) => u.clientId), quorum: 4, deadlineMs: 60_000 });
    for (const u of updates) {
      await manager.submitProtectedUpdate(roundId, { clientId: u.clientId, numExamples: u.numExamples, payload: await participants.encrypt(u.weights, u.numExamples) });
    }
    await expect(manager.submitProtectedUpdate(roundId, { clientId: 'a', numExamples: 1, payload: new Uint8Array(1) })).rejects.toMatchObject({ code: 'UPDATE_DUPLICATE' });
    const result = await manager.finalizeProtectedRound(roundId, async (protectedUpdates) => {
      const sum = await coordinator.aggregate(protectedUpdates.map((u) => u.payload));
      return participants.decrypt(sum, protectedUpdates.reduce((s, u) => s + u.numExamples, 0));
    });
    const plain = weightedAverage(global, updates);
    let worst = 0;
    for (let k = 0; k < d; k++) worst = Math.max(worst, Math.abs(result.weights[k] - plain[k]));
    expect(worst).toBeLessThan(1e-6);
    expect(result.version.version).toBe(2);
    expect((await storage.rounds.listUpdates(roundId)).every((u) => /^[0-9a-f]{64}$/.test(u.sha256))).toBe(true);
  });

  it('refuses to mix plain and protected finalisation', async () => {
    const registry = new ModelRegistry(storage);
    const modelId = await registry.registerModel({ name: 'm2', architecture: {}, initialWeights: new Float32Array(2) });
    const manager = new TrainingManager(storage, registry, new FedAvg());
    const roundId = await manager.startRound(modelId, { jobId: 'job-mix', participants: ['a'], quorum: 1, deadlineMs: 60_000 });
    await manager.submitUpdate(roundId, { clientId: 'a', numExamples: 1, weights: new Float32Array(2) });
    await expect(manager.finalizeProtectedRound(roundId, async () => new Float32Array(2))).rejects.toMatchObject({ code: 'ROUND_NOT_PROTECTED' });
  });
});
