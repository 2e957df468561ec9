import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { WEIGHT_OVER_BOUND, demoConfig, formatRoundTable, prepareJob, runJob, type JobConfigInput, type JobReport } from '../src/fl/index.js';

// The weight attack of the security review: one of five participants sends an all-zero model and
// claims 1e12 examples for it, in simulation (the participant runtime behind the in-process channel),
// under each protection. Taken as sent, the claim makes the zero model FedAvg's mean: accuracy 0.10.
const base: JobConfigInput = { ...demoConfig({ clients: 5, rounds: 6, seed: 9 }), execution: { mode: 'in-process' } };
const attacker = { clients: ['client-02'], kind: 'inflate-weight' as const };
const measured: string[] = [];

let storage: Storage;
let clean: JobReport;

async function run(config: JobConfigInput, label: string): Promise<JobReport> {
  const report = await runJob(await prepareJob(config), storage);
  measured.push(`${label}: ${report.final.accuracy.toFixed(4)}`);
  return report;
}

beforeAll(async () => {
  storage = openStorage({ path: ':memory:' });
  clean = await run(base, 'clean');
}, 180_000);
afterAll(async () => {
  await storage.close();
  console.log(`accuracy after ${base.rounds} rounds:\n${measured.join('\n')}`);
});

/** The attacker's update is refused in round 1 as over its bound, and it is in no later round. */
function expectRefused(report: JobReport): void {
  expect(report.adversaries).toMatchObject({ kind: 'inflate-weight', factor: 1e12, clients: ['client-02'] });
  expect(report.refusedUpdates).toEqual([{ round: 1, clientId: 'client-02', code: WEIGHT_OVER_BOUND, reason: expect.stringMatching(/'client-02' claims 1000000000000 examples; it declared \d+/) }]);
  expect(report.rounds.filter((r) => r.round > 1).every((r) => !r.participants.includes('client-02'))).toBe(true);
  expect(formatRoundTable(report)).toMatch(/round 1: REFUSED client-02's update \(UPDATE_WEIGHT_OVER_BOUND\)/);
}

describe.each([
  ['plain', {}],
  ['SecAgg+', { secagg: true }],
  ['CKKS', { he: 'ckks' }],
] as const)('one participant claiming 1e12 examples for a zero model, %s', (mode, privacy) => {
  let attacked: JobReport;
  beforeAll(async () => {
    attacked = await run({ ...base, privacy, adversaries: attacker }, `inflate-weight / ${mode}`);
  }, 300_000);

  it('is refused as over its bound, naming the participant', () => {
    expectRefused(attacked);
  });

  it('leaves accuracy within 3 points of the clean job', () => {
    expect(clean.final.accuracy).toBeGreaterThan(0.9);
    expect(attacked.final.accuracy).toBeGreaterThan(clean.final.accuracy - 0.03);
  });
});

describe('aggregation.maxWeightShare', () => {
  it('caps any one participant’s share of a round’s weight, so skewed counts move the model less', async () => {
    const capped = await run({ ...base, aggregation: { maxWeightShare: 0.21 } }, 'maxWeightShare 0.21');
    // The largest of the five holds 23% of the examples (Dirichlet 0.5): capped at 21%, it weighs less than it declared.
    expect(capped.model.sha256).not.toBe(clean.model.sha256);
    expect(capped.final.accuracy).toBeGreaterThan(0.85);
    const rounds = await storage.rounds.list({ jobId: capped.jobId });
    const updates = await storage.rounds.listUpdates(rounds[0].id);
    const total = updates.reduce((s, u) => s + u.numExamples, 0);
    expect(Math.max(...updates.map((u) => u.numExamples)) / total).toBeLessThanOrEqual(0.21);
    const declared = new Map(capped.participants.map((p) => [p.id, p.numExamples]));
    expect(updates.some((u) => u.numExamples < (declared.get(u.clientId) as number))).toBe(true);
  }, 180_000);

  it('refuses a share outside (0, 1]', async () => {
    await expect(prepareJob({ ...base, aggregation: { maxWeightShare: 0 } })).rejects.toThrow(/aggregation\.maxWeightShare/);
    await expect(prepareJob({ ...base, aggregation: { maxWeightShare: 1.5 } })).rejects.toThrow(/aggregation\.maxWeightShare/);
  });
});

describe('validation.maxAccuracyDrop', () => {
  it('flags each round whose held-out accuracy fell by more than the margin, in the report and the stored round', async () => {
    // A noisy participant in some rounds and not others: accuracy falls in the rounds it is selected for.
    const report = await run(
      { ...base, selection: { fraction: 0.6, minClients: 3 }, adversaries: { clients: ['client-02'], kind: 'noise', factor: 2 }, validation: { maxAccuracyDrop: 0.05 } },
      'noise, fraction 0.6',
    );
    const flagged = report.rounds.filter((r) => r.accuracyDrop);
    expect(flagged.length).toBeGreaterThan(0);
    for (const r of report.rounds) {
      const before = report.rounds.find((p) => p.round === r.round - 1);
      expect(Boolean(r.accuracyDrop)).toBe(before !== undefined && before.accuracy - r.accuracy > 0.05);
    }
    for (const r of flagged) {
      expect(r.accuracyDrop).toEqual({ previous: report.rounds[r.round - 2].accuracy, margin: 0.05 });
      expect(r.participants).toContain('client-02');
    }
    const stored = await storage.rounds.list({ jobId: report.jobId });
    for (const r of flagged) expect(stored.find((s) => s.number === r.round)?.metrics.accuracyDrop).toBeCloseTo(r.accuracyDrop!.previous - r.accuracy, 9);
    expect(formatRoundTable(report)).toMatch(/ACCURACY DROP from/);
  }, 180_000);
});
