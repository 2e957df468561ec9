import { describe, expect, it } from 'vitest';
import { computeEpsilon, defaultGridStep, SeededNoiseSource } from '../privacy/dp/index.js';
import { parseWithSchema } from '../core/index.js';
import { localDpUpdate } from './client-training.js';
import { DpConfigSchema, JobPrivacyAccount, dpSgdSchedule, roundPrivacyCost } from './privacy-plan.js';

const dp = (mode: 'sample' | 'client' | 'local') =>
  parseWithSchema({ mode, noiseMultiplier: 1.1, clipNorm: 1, budget: { epsilon: 8 } }, DpConfigSchema, 'dp');
const federation = new Map([
  ['a', 100],
  ['b', 400],
  ['c', 1000],
]);
const training = { epochs: 2, batchSize: 50 };

describe('privacy plan', () => {
  it('schedules DP-SGD at batch / examples with epochs / q steps', () => {
    expect(dpSgdSchedule(dp('sample'), 400, training)).toEqual({ samplingRate: 0.125, steps: 16 });
    expect(dpSgdSchedule(dp('sample'), 30, training)).toEqual({ samplingRate: 1, steps: 2 });
  });

  it('charges each selected client its own DP-SGD run and the data set the worst of them', () => {
    const cost = roundPrivacyCost(dp('sample'), { selected: ['a', 'c'], federation, training });
    expect([...cost.participants.keys()]).toEqual(['a', 'c']);
    expect(cost.participants.get('a')).toEqual([{ kind: 'sampled-discrete-gaussian', samplingRate: 0.5, steps: 4, noiseMultiplier: 1.1 }]);
    // The smallest client samples the largest fraction per step and so spends the most.
    expect(cost.dataset).toEqual(cost.participants.get('a'));
    expect(cost.clientPlans.get('c')).toMatchObject({ mode: 'sample', samplingRate: 0.05, steps: 40, clipNorm: 1 });
  });

  it('charges every member of the federation the subsampled Gaussian of client-level DP', () => {
    const cost = roundPrivacyCost(dp('client'), { selected: ['a'], federation, training });
    expect(cost.participants.size).toBe(3);
    expect(cost.dataset).toEqual([{ kind: 'sampled-discrete-gaussian', samplingRate: 1 / 3, noiseMultiplier: 1.1, steps: 1 }]);
    expect(cost.clientPlans.size).toBe(0);
  });

  it('charges local DP as one Gaussian release per selected client', () => {
    const cost = roundPrivacyCost(dp('local'), { selected: ['b'], federation, training });
    expect(cost.participants.get('b')).toEqual([{ kind: 'gaussian', noiseMultiplier: 1.1, steps: 1 }]);
    expect(cost.clientPlans.get('b')?.mode).toBe('local');
  });

  it('composes rounds in RDP: two recorded rounds equal one run of twice the steps', () => {
    const account = new JobPrivacyAccount(1e-5, 'improved');
    const round = [{ kind: 'sampled-gaussian' as const, samplingRate: 0.01, noiseMultiplier: 1.1, steps: 500 }];
    const first = account.record(round);
    expect(account.preview(round)).toBeGreaterThan(first);
    const second = account.record(round);
    expect(second).toBeCloseTo(computeEpsilon(0.01, 1.1, 1000, 1e-5, 'improved').epsilon, 9);
    expect(new JobPrivacyAccount(1e-5, 'improved').preview([])).toBe(0);
  });
});

describe('localDpUpdate', () => {
  it('clips the delta to C, rounds it to the grid and adds discrete Gaussian noise of standard deviation z (C + sqrt(d) steps)', () => {
    const d = 20000;
    const global = new Float32Array(d).fill(1);
    const trained = new Float32Array(d).fill(2);
    const noNoise = localDpUpdate(global, trained, { clipNorm: 0.5, noiseMultiplier: 0 }, new SeededNoiseSource(1));
    let norm = 0;
    for (let k = 0; k < d; k++) norm += (noNoise[k] - 1) ** 2;
    const step = defaultGridStep(0.5, d);
    // Rounding moves each coordinate by at most half a step.
    expect(Math.abs(Math.sqrt(norm) - 0.5)).toBeLessThanOrEqual((step * Math.sqrt(d)) / 2);
    expect(Array.from(noNoise, (v) => Number.isInteger(Math.round((v - 1) * 2 ** 40) / 2 ** 40 / step)).every(Boolean)).toBe(true);
    const noisy = localDpUpdate(global, trained, { clipNorm: 0.5, noiseMultiplier: 2 }, new SeededNoiseSource(2));
    let sq = 0;
    for (let k = 0; k < d; k++) sq += (noisy[k] - noNoise[k]) ** 2;
    expect(Math.sqrt(sq / d)).toBeGreaterThan(0.97);
    expect(Math.sqrt(sq / d)).toBeLessThan(1.03);
  });
});
