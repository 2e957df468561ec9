import { describe, expect, it } from 'vitest';
import { aggregateEncrypted, decryptAggregate, encryptUpdate } from './aggregation.js';
import { decodeEncryptedData, encodeEncryptedData } from './encrypted-data.js';
import { HomomorphicEncryption } from './homomorphic-encryption.js';
import { evaluationKeysOf, generateJobKeys } from './keys.js';

describe('encrypted FedAvg', () => {
  it('equals plaintext weighted FedAvg of 10 clients within 1e-6 per parameter', async () => {
    const keys = await generateJobKeys('fedavg-test');
    const client = await HomomorphicEncryption.create(keys);
    const coordinator = await HomomorphicEncryption.create(evaluationKeysOf(keys));
    const d = 10_000;
    const updates = Array.from({ length: 10 }, () => Float32Array.from({ length: d }, () => Math.random() * 2 - 1));
    const samples = updates.map(() => 1 + Math.floor(Math.random() * 500));
    const total = samples.reduce((s, w) => s + w, 0);

    // Each update crosses the wire in its encoded form, as it would between client and coordinator.
    const received = [];
    for (let k = 0; k < updates.length; k++) received.push(decodeEncryptedData(encodeEncryptedData(await encryptUpdate(client, updates[k], samples[k]))));
    const aggregate = await aggregateEncrypted(coordinator, received);
    const averaged = await decryptAggregate(client, decodeEncryptedData(encodeEncryptedData(aggregate)), total);

    let worst = 0;
    for (let i = 0; i < d; i++) {
      let plain = 0;
      for (let k = 0; k < updates.length; k++) plain += updates[k][i] * samples[k];
      worst = Math.max(worst, Math.abs(averaged[i] - plain / total));
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it('refuses a non-positive weight', async () => {
    const he = await HomomorphicEncryption.create(await generateJobKeys('weights', 'n4096'));
    await expect(encryptUpdate(he, new Float32Array(3), 0)).rejects.toMatchObject({ code: 'HE_INPUT_INVALID' });
    await expect(decryptAggregate(he, await he.encrypt([1]), Number.NaN)).rejects.toMatchObject({ code: 'HE_INPUT_INVALID' });
  });
});
