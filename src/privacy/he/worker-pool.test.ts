import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregateEncrypted, decryptAggregate, encryptUpdate } from './aggregation.js';
import { HomomorphicEncryption } from './homomorphic-encryption.js';
import { evaluationKeysOf, generateJobKeys, type ParticipantKeys } from './keys.js';
import { HeWorkerPool } from './worker-pool.js';

let keys: ParticipantKeys;
let he: HomomorphicEncryption;
let clients: HeWorkerPool;
let coordinator: HeWorkerPool;

beforeAll(async () => {
  keys = await generateJobKeys('pool-test');
  he = await HomomorphicEncryption.create(keys);
  [clients, coordinator] = await Promise.all([HeWorkerPool.create(keys, 2), HeWorkerPool.create(evaluationKeysOf(keys), 2)]);
});

afterAll(async () => {
  await Promise.all([clients.close(), coordinator.close()]);
  he.dispose();
});

describe('HeWorkerPool', () => {
  it('encrypts and sums across workers with the same result as in-process', async () => {
    const d = 20_000;
    const updates = Array.from({ length: 3 }, () => Float32Array.from({ length: d }, () => Math.random() * 2 - 1));
    const encrypted = await Promise.all(updates.map((u, k) => encryptUpdate(clients, u, k + 1)));
    expect(encrypted[0].ciphertexts).toHaveLength(5);
    const viaPool = await decryptAggregate(he, await aggregateEncrypted(coordinator, encrypted), 6);
    const inProcess = await decryptAggregate(he, await aggregateEncrypted(he, encrypted), 6);
    let worst = 0;
    for (let i = 0; i < d; i++) {
      const plain = (updates[0][i] + 2 * updates[1][i] + 3 * updates[2][i]) / 6;
      worst = Math.max(worst, Math.abs(viaPool[i] - plain), Math.abs(inProcess[i] - plain));
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it('reports worker-side errors with their codes', async () => {
    const other = await HomomorphicEncryption.create(await generateJobKeys('pool-other'));
    const foreign = await other.encrypt(new Float32Array(10));
    await expect(coordinator.sum([foreign, foreign])).rejects.toMatchObject({ code: 'HE_KEY_MISMATCH' });
    await expect(coordinator.sum([foreign, await he.encrypt(new Float32Array(9000))])).rejects.toMatchObject({ code: 'HE_LENGTH_MISMATCH' });
    other.dispose();
  });
});
