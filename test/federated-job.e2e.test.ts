import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { ModelRegistry, demoConfig, prepareJob, runJob, weightsSha256, type JobReport } from '../src/fl/index.js';

// A short job end to end on the real optdigits files: 4 clients, 5 rounds, non-IID.
describe('federated job end to end', () => {
  let storage: Storage;
  let report: JobReport;

  beforeAll(async () => {
    storage = await openStorage({ path: ':memory:' });
    const config = { ...demoConfig({ clients: 4, rounds: 5, seed: 7 }), execution: { mode: 'in-process' as const } };
    report = await runJob(await prepareJob(config), storage);
  });
  afterAll(async () => {
    await storage.close();
  });

  it('reaches accuracy above 0.85 on the held-out test file', () => {
    expect(report.final.accuracy).toBeGreaterThan(0.85);
    expect(report.rounds).toHaveLength(5);
    expect(report.rounds[4].accuracy).toBe(report.final.accuracy);
  });

  it('reports every round with its participants, metrics and timings', () => {
    for (const [i, r] of report.rounds.entries()) {
      expect(r.round).toBe(i + 1);
      expect(r.participants).toHaveLength(4);
      expect(r.loss).toBeGreaterThan(0);
      expect(r.seconds).toBeGreaterThanOrEqual(r.trainSeconds);
      expect(r.modelVersion).toBe(i + 2);
    }
    expect(report.participants.reduce((s, p) => s + p.numExamples, 0)).toBe(3823);
    expect(report.seconds).toBeGreaterThan(0);
  });

  it('stores the rounds, the job and a model whose latest weights match the reported hash', async () => {
    const registry = new ModelRegistry(storage);
    const latest = await registry.getVersion(report.model.id);
    expect(latest.version).toBe(report.model.version);
    expect(weightsSha256(latest.weights)).toBe(report.model.sha256);
    const rounds = await storage.rounds.list({ jobId: report.jobId });
    expect(rounds.map((r) => r.status)).toEqual(Array(5).fill('finalized'));
    expect(rounds[4].metrics.accuracy).toBeCloseTo(report.final.accuracy, 10);
    const job = await storage.jobs.get(report.jobId);
    expect(job?.status).toBe('completed');
    expect(job?.createdAt).toBeLessThan(job?.finishedAt as number);
    expect(await storage.nodes.list()).toHaveLength(0);
    const tasks = await storage.tasks.list();
    expect(tasks).toHaveLength(20);
    expect(tasks.every((t) => t.status === 'completed')).toBe(true);
  });

  it('replays to the same final weights for the same seed, in worker threads too', async () => {
    const other = await openStorage({ path: ':memory:' });
    try {
      const config = { ...demoConfig({ clients: 4, rounds: 5, seed: 7 }), execution: { mode: 'workers' as const, workers: 2 } };
      const again = await runJob(await prepareJob(config), other);
      expect(again.model.sha256).toBe(report.model.sha256);
      const different = await runJob(await prepareJob({ ...config, seed: 8 }), other);
      expect(different.model.sha256).not.toBe(report.model.sha256);
    } finally {
      await other.close();
    }
  });
});
