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

  it('sends ciphertexts of under 45 bytes per parameter, and the coordinator stores only their hashes', async () => {
    const params = encrypted.model.numParams;
    for (const r of encrypted.rounds) {
      expect(r.bytesPerClient / params).toBeLessThan(45);
      expect(r.bytesPerClient).toBeGreaterThan(4 * params);
      expect(r.flagged).toBeUndefined();
    }
    expect(plain.rounds[0].bytesPerClient).toBe(4 * params);
    const rounds = await storage.rounds.list({ jobId: encrypted.jobId });
    const updates = await storage.rounds.listUpdates(rounds[0].id);
    expect(updates).toHaveLength(4);
  });

  it('refuses rules that need individual updates, naming the field', async () => {
    await expect(prepareJob({ ...base, privacy: { he: 'ckks' }, strategy: { name: 'median' } })).rejects.toThrow(/strategy\.name.*cannot run with privacy\.he/);
    await expect(
      prepareJob({ ...base, privacy: { he: 'ckks', dp: { mode: 'client', noiseMultiplier: 1, clipNorm: 1, budget: { epsilon: 5 } } } }),
    ).rejects.toThrow(/privacy\.dp\.mode/);
  });
});
