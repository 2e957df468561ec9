import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareJob, runJob, type JobReport } from '../src/fl/index.js';

// The same short job with plain and with CKKS-encrypted aggregation.
describe('encrypted aggregation as a round mode', () => {
  let storage: Storage;
  let plain: JobReport;
  let encrypted: JobReport;
  const base = { ...demoConfig({ clients: 4, rounds: 4, seed: 5 }), execution: { mode: 'in-process' as const } };

  beforeAll(async () => {
    storage = openStorage({ path: ':memory:' });
    plain = await runJob(await prepareJob(base), storage);
    encrypted = await runJob(await prepareJob({ ...base, privacy: { he: 'ckks' } }), storage);
  });
  afterAll(async () => {
    await storage.close();
  });

  it('reaches the accuracy of plain aggregation within a point', () => {
    expect(encrypted.protection).toBe('ckks');
    expect(Math.abs(encrypted.final.accuracy - plain.final.accuracy)).toBeLessThan(0.01);
    expect(encrypted.rounds).toHaveLength(4);
  });

  it('sends ciphertexts and key-holder messages of under 300 bytes per parameter, and the coordinator stores only their hashes', async () => {
    // A contribution is three primes' worth of two polynomials per 4,096 slots (about 96 bytes a
    // parameter at n8192); the key holders also send their decryption shares to each other.
    const params = encrypted.model.numParams;
    for (const r of encrypted.rounds) {
      expect(r.bytesPerClient / params).toBeLessThan(300);
      expect(r.bytesPerClient).toBeGreaterThan(4 * params);
      expect(r.flagged).toBeUndefined();
      expect(r.trainLoss).toBeUndefined();
    }
    expect(plain.rounds[0].bytesPerClient).toBe(4 * params);
    const rounds = await storage.rounds.list({ jobId: encrypted.jobId });
    const updates = await storage.rounds.listUpdates(rounds[0].id);
    expect(updates).toHaveLength(4);
    expect(await storage.rounds.getUpdatePayload(rounds[0].id, updates[0].clientId)).toBeUndefined();
  });

  it('refuses rules that need individual updates, naming the field', async () => {
    await expect(prepareJob({ ...base, privacy: { he: 'ckks' }, strategy: { name: 'median' } })).rejects.toThrow(/strategy\.name.*cannot run with privacy\.he/);
    await expect(
      prepareJob({ ...base, privacy: { he: 'ckks', dp: { mode: 'client', noiseMultiplier: 1, clipNorm: 1, budget: { epsilon: 5 } } } }),
    ).rejects.toThrow(/privacy\.dp\.mode/);
  });
});
