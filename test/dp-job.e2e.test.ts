import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareJob, runJob, type JobConfigInput } from '../src/fl/index.js';
import { computeEpsilon, PrivacyLedger } from '../src/privacy/dp/index.js';

// Short DP jobs on the real optdigits files, one per place the noise can go.
function dpJob(mode: 'sample' | 'client' | 'local', patch: Partial<JobConfigInput> = {}, budget = 50): JobConfigInput {
  return {
    ...demoConfig({ clients: 4, rounds: 3, seed: 11 }),
    partition: { kind: 'iid' },
    training: { epochs: 1, batchSize: 32, learningRate: 0.05, optimizer: 'momentum' },
    execution: { mode: 'in-process' },
    privacy: {
      dp: { mode, noiseMultiplier: 1.0, clipNorm: 1.0, samplingRate: 0.05, delta: 1e-5, budget: { epsilon: budget }, noise: 'seeded-insecure', dataset: `optdigits-${mode}` },
    },
    ...patch,
  };
}

describe('jobs with differential privacy', () => {
  let storage: Storage;
  beforeEach(() => {
    storage = openStorage({ path: ':memory:' });
  });
  afterEach(async () => {
    await storage.close();
  });

  it('sample-level DP-SGD reports epsilon per round that matches the accountant, and charges the ledger', async () => {
    const report = await runJob(await prepareJob(dpJob('sample')), storage);
    expect(report.rounds).toHaveLength(3);
    // Every client samples 5% per step for 20 steps a round: the job's epsilon is the accountant's for 20 r steps.
    for (const r of report.rounds) {
      expect(r.epsilon).toBeCloseTo(computeEpsilon(0.05, 1.0, 20 * r.round, 1e-5, 'improved', 'discrete-gaussian').epsilon, 6);
    }
    expect(report.privacy).toMatchObject({ mode: 'sample', budget: 50, dataset: 'optdigits-sample' });
    expect(report.privacy?.epsilon).toBeCloseTo(report.rounds[2].epsilon as number, 9);
    const ledger = new PrivacyLedger(storage);
    const dataset = await ledger.spent({ kind: 'dataset', id: 'optdigits-sample' });
    expect(dataset.epsilon).toBeCloseTo(report.privacy?.epsilon as number, 6);
    expect((await ledger.history({ kind: 'participant', id: 'optdigits-sample/client-00' })).map((e) => e.round)).toEqual([1, 2, 3]);
    expect(report.final.accuracy).toBeGreaterThan(0.3);
  });

  it('stops at the budget: the refused round never runs and is not charged', async () => {
    const oneRound = computeEpsilon(0.05, 1.0, 20, 1e-5, 'improved', 'discrete-gaussian').epsilon;
    const twoRounds = computeEpsilon(0.05, 1.0, 40, 1e-5, 'improved', 'discrete-gaussian').epsilon;
    const budget = (twoRounds + computeEpsilon(0.05, 1.0, 60, 1e-5, 'improved', 'discrete-gaussian').epsilon) / 2;
    const report = await runJob(await prepareJob(dpJob('sample', {}, budget)), storage);
    expect(report.rounds).toHaveLength(2);
    expect(report.stopped).toMatchObject({ afterRound: 2, code: 'DP_BUDGET_EXCEEDED' });
    expect(report.stopped?.reason).toContain(`budget is epsilon ${budget}`);
    expect(report.rounds[0].epsilon).toBeCloseTo(oneRound, 6);
    const rounds = await storage.rounds.list({ jobId: report.jobId });
    expect(rounds).toHaveLength(2);
    const spent = await new PrivacyLedger(storage).spent({ kind: 'dataset', id: 'optdigits-sample' });
    expect(spent.epsilon).toBeCloseTo(twoRounds, 6);
    expect(spent.charges).toBe(2);
  });

  it('a second job on the same data set is stopped by what the first one spent', async () => {
    // The first job fits (40 steps); the second's first round alone fits its own budget but not the ledger's (60 steps).
    const budget = (computeEpsilon(0.05, 1.0, 40, 1e-5, 'improved', 'discrete-gaussian').epsilon + computeEpsilon(0.05, 1.0, 60, 1e-5, 'improved', 'discrete-gaussian').epsilon) / 2;
    const first = await runJob(await prepareJob(dpJob('sample', { rounds: 2 }, budget)), storage);
    expect(first.rounds).toHaveLength(2);
    const second = await runJob(await prepareJob(dpJob('sample', { rounds: 2 }, budget)), storage);
    expect(second.rounds).toHaveLength(0);
    expect(second.stopped?.reason).toMatch(/dataset 'optdigits-sample'/);
    expect(second.final.accuracy).toBeGreaterThanOrEqual(0);
  });

  it('client-level DP-FedAvg and local DP train and account one release per round', async () => {
    const client = await runJob(await prepareJob(dpJob('client', { selection: { fraction: 0.5, minClients: 2 } })), storage);
    expect(client.rounds.every((r) => r.participants.length === 2)).toBe(true);
    expect(client.rounds[2].epsilon).toBeCloseTo(computeEpsilon(0.5, 1.0, 3, 1e-5, 'improved', 'discrete-gaussian').epsilon, 6);
    const local = await runJob(await prepareJob(dpJob('local')), storage);
    expect(local.rounds[2].epsilon).toBeCloseTo(computeEpsilon(1, 1.0, 3, 1e-5, 'improved').epsilon, 6);
  });

  it('replays bit for bit with seeded noise, and differs with secure noise', async () => {
    const a = await runJob(await prepareJob(dpJob('sample', { rounds: 1 })), storage);
    const other = openStorage({ path: ':memory:' });
    try {
      const b = await runJob(await prepareJob(dpJob('sample', { rounds: 1, name: 'again' })), other);
      expect(b.model.sha256).toBe(a.model.sha256);
      const secure = dpJob('sample', { rounds: 1 });
      (secure.privacy as { dp: { noise: string; dataset: string } }).dp = { ...(secure.privacy as { dp: { noise: string; dataset: string } }).dp, noise: 'secure', dataset: 'secure' };
      const c = await runJob(await prepareJob(secure), other);
      expect(c.model.sha256).not.toBe(a.model.sha256);
    } finally {
      await other.close();
    }
  });
});
