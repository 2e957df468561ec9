import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareJob, runJob, type JobConfigInput, type JobReport } from '../src/fl/index.js';

// Poisoning attacks on the optdigits demo (10 clients, Dirichlet 0.5, 128-64 MLP), 10 rounds in process;
// 3 of the 10 clients are malicious, chosen from the job seed. One clean FedAvg run is the baseline.
const ROUNDS = 10;
const MALICIOUS = 3;
type Attack = 'label-flip' | 'scale' | 'noise';
type StrategyInput = NonNullable<JobConfigInput['strategy']>;

const ROBUST: Record<string, StrategyInput> = {
  median: { name: 'median' },
  'trimmed-mean': { name: 'trimmed-mean', beta: 0.3 },
  'multi-krum': { name: 'krum', f: MALICIOUS, m: 10 - MALICIOUS },
  'norm-bounding': { name: 'norm-bounding', maxNorm: 3 },
};

let storage: Storage;
let clean: JobReport;
const measured: string[] = [];

async function run(strategy: StrategyInput, attack?: Attack): Promise<JobReport> {
  const config: JobConfigInput = {
    ...demoConfig({ rounds: ROUNDS, seed: 42 }),
    strategy,
    execution: { mode: 'in-process' },
    ...(attack ? { adversaries: { clients: MALICIOUS, kind: attack } } : {}),
  };
  const report = await runJob(await prepareJob(config), storage);
  measured.push(`${attack ?? 'clean'} / ${JSON.stringify(strategy)}: ${report.final.accuracy.toFixed(4)}`);
  return report;
}

beforeAll(async () => {
  storage = openStorage({ path: ':memory:' });
  clean = await run({ name: 'fedavg' });
}, 180_000);
afterAll(async () => {
  await storage.close();
  console.log(`accuracy after ${ROUNDS} rounds:\n${measured.join('\n')}`);
});

describe.each<Attack>(['label-flip', 'scale', 'noise'])('%s attack by 3 of 10 clients', (attack) => {
  let fedavg: JobReport;
  beforeAll(async () => {
    fedavg = await run({ name: 'fedavg' }, attack);
  }, 180_000);

  it('is simulated by the chosen clients, named in the report', () => {
    expect(fedavg.adversaries).toMatchObject({ simulated: true, kind: attack });
    expect(fedavg.adversaries?.clients).toHaveLength(MALICIOUS);
    expect(clean.final.accuracy).toBeGreaterThan(0.93);
  });

  it('hurts plain FedAvg', () => {
    // Flipped labels on 3 non-IID clients cost FedAvg only a few points here (measured 2.6).
    if (attack === 'label-flip') expect(fedavg.final.accuracy).toBeLessThan(clean.final.accuracy);
    // Scaled and noise updates are not subtle: FedAvg ends clearly below the clean run.
    else expect(fedavg.final.accuracy).toBeLessThan(clean.final.accuracy - 0.1);
  });

  it('is flagged by the poisoning detector: most malicious clients in most rounds, few honest ones', () => {
    const bad = new Set(fedavg.adversaries?.clients);
    let caught = 0;
    let falseAlarms = 0;
    for (const r of fedavg.rounds) {
      const flagged = new Set((r.flagged ?? []).map((f) => f.clientId));
      caught += [...bad].filter((id) => flagged.has(id)).length;
      falseAlarms += [...flagged].filter((id) => !bad.has(id)).length;
    }
    const rounds = fedavg.rounds.length;
    // Label-flipped updates point away from the rest (negative median cosine) from the second round on.
    expect(caught / (MALICIOUS * rounds)).toBeGreaterThanOrEqual(attack === 'label-flip' ? 0.8 : 0.95);
    expect(falseAlarms / ((10 - MALICIOUS) * rounds)).toBeLessThan(0.1);
  });

  it('is recorded in the round metrics the coordinator stores', async () => {
    const stored = (await storage.rounds.list({ jobId: fedavg.jobId })).at(-1);
    const flagged = fedavg.rounds.at(-1)?.flagged ?? [];
    expect(flagged.length).toBeGreaterThan(0);
    expect(stored?.metrics.flagged).toBe(new Set(flagged.map((f) => f.clientId)).size);
    for (const f of flagged) expect(stored?.metrics[`flagged:${f.clientId}:${f.reason}`]).toBeCloseTo(f.score, 9);
  });

  // Coordinate-wise rules are the weak spot against label flipping on non-IID data: 3 flipped clients
  // move the per-coordinate median itself (measured 3.1 and 3.3 points below clean on seed 42).
  const margin = (rule: string): number => (attack === 'label-flip' && (rule === 'median' || rule === 'trimmed-mean') ? 0.04 : 0.03);
  it.each(Object.keys(ROBUST))('%s keeps accuracy close to clean FedAvg (3 points; 4 for coordinate-wise rules under label flip)', async (rule) => {
    const report = await run(ROBUST[rule], attack);
    expect(report.final.accuracy).toBeGreaterThan(clean.final.accuracy - margin(rule));
  }, 180_000);
});

describe('attacks in worker threads', () => {
  it('replay bit for bit in process and in workers, and refuse unknown client ids', async () => {
    const base = { ...demoConfig({ clients: 4, rounds: 2, seed: 5 }), adversaries: { clients: ['client-01'], kind: 'noise' as const } };
    const inProcess = await runJob(await prepareJob({ ...base, execution: { mode: 'in-process' } }), storage);
    const workers = await runJob(await prepareJob({ ...base, execution: { mode: 'workers', workers: 2 } }), storage);
    expect(workers.model.sha256).toBe(inProcess.model.sha256);
    expect(inProcess.rounds.every((r) => (r.flagged ?? []).some((f) => f.clientId === 'client-01'))).toBe(true);
    await expect(prepareJob({ ...base, adversaries: { clients: ['client-77'], kind: 'noise' } })).rejects.toThrow(/client-77/);
  }, 180_000);
});
