import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareJob, runJob, type JobReport } from '../src/fl/index.js';

// Compressed updates on the wire: bytes counted per round, accuracy kept by error feedback.
describe('update compression in a job', () => {
  let storage: Storage;
  let plain: JobReport;
  const base = { ...demoConfig({ clients: 4, rounds: 6, seed: 4 }), execution: { mode: 'in-process' as const } };

  beforeAll(async () => {
    storage = openStorage({ path: ':memory:' });
    plain = await runJob(await prepareJob(base), storage);
  });
  afterAll(async () => {
    await storage.close();
  });

  it('top-k 10% with error feedback sends under a quarter of the bytes and keeps accuracy within 3 points', async () => {
    const report = await runJob(await prepareJob({ ...base, compression: { kind: 'topk', fraction: 0.1 } }), storage);
    const dense = 4 * report.model.numParams;
    for (const r of report.rounds) expect(r.bytesPerClient).toBeLessThan(0.25 * dense);
    expect(plain.rounds[0].bytesPerClient).toBe(dense);
    expect(report.final.accuracy).toBeGreaterThan(plain.final.accuracy - 0.03);
  });

  it('8-bit quantisation sends about a quarter of the bytes and loses almost nothing', async () => {
    const report = await runJob(await prepareJob({ ...base, compression: { kind: 'q8' } }), storage);
    const ratio = report.rounds[0].bytesPerClient / (4 * report.model.numParams);
    expect(ratio).toBeGreaterThan(0.25);
    expect(ratio).toBeLessThan(0.27);
    expect(Math.abs(report.final.accuracy - plain.final.accuracy)).toBeLessThan(0.01);
  });

  it('gives the same model in worker threads, residuals carried between rounds', async () => {
    const config = { ...base, rounds: 3, compression: { kind: 'topk' as const, fraction: 0.05 } };
    const a = await runJob(await prepareJob(config), storage);
    const b = await runJob(await prepareJob({ ...config, execution: { mode: 'workers' as const, workers: 2 } }), storage);
    expect(b.model.sha256).toBe(a.model.sha256);
  });

  it('refuses compression with protected rounds', async () => {
    await expect(prepareJob({ ...base, compression: { kind: 'q8' }, privacy: { secagg: true } })).rejects.toThrow(/compression\.kind/);
  });
});
