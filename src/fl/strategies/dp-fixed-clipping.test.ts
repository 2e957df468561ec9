import { describe, expect, it } from 'vitest';
import { SeededNoiseSource, defaultGridStep, gridL2Sensitivity } from '../../privacy/dp/index.js';
import { DpFixedClipping } from './dp-fixed-clipping.js';
import { FedAvg } from './fedavg.js';
import { FedAdam } from './fedopt.js';

const zero = new Float32Array(4);
// A grid far finer than the 1e-6 the tests compare to; the default grid is checked on its own.
const noNoise = { noise: new SeededNoiseSource(1), noiseMultiplier: 0, gridStep: 2 ** -30 };

describe('DpFixedClipping (McMahan et al. 2018)', () => {
  it('with no noise is the unweighted mean of the clipped deltas', () => {
    const s = new DpFixedClipping(new FedAvg(), { clipNorm: 1, ...noNoise });
    const out = s.aggregate(
      zero,
      [
        { clientId: 'a', weights: new Float32Array([0.3, 0.4, 0, 0]), numExamples: 100 },
        { clientId: 'b', weights: new Float32Array([0, 0, 30, 40]), numExamples: 1 },
      ],
      1,
    );
    // a is within the bound and kept; b (norm 50) is scaled to norm 1; examples do not weigh.
    expect(Array.from(out).map((x) => Number(x.toFixed(6)))).toEqual([0.15, 0.2, 0.3, 0.4]);
  });

  it('bounds any one client to S / m whatever it sends', () => {
    const s = new DpFixedClipping(new FedAvg(), { clipNorm: 0.5, ...noNoise });
    const honest = { clientId: 'h', weights: new Float32Array(4), numExamples: 1 };
    const attacker = { clientId: 'x', weights: new Float32Array([1e6, -1e6, 1e6, -1e6]), numExamples: 1e6 };
    const out = s.aggregate(zero, [honest, attacker], 1);
    const norm = Math.hypot(...out);
    expect(norm).toBeCloseTo(0.25, 6);
  });

  it('adds discrete Gaussian noise of standard deviation z (S + sqrt(d) steps) / m to the mean, on the grid', () => {
    const d = 20000;
    const global = new Float32Array(d);
    const updates = [1, 2, 3, 4].map((i) => ({ clientId: `c${i}`, weights: new Float32Array(d), numExamples: i }));
    const s = new DpFixedClipping(new FedAvg(), { clipNorm: 2, noiseMultiplier: 1.5, noise: new SeededNoiseSource(9) });
    const out = s.aggregate(global, updates, 1);
    let sq = 0;
    for (const x of out) sq += x * x;
    const sd = Math.sqrt(sq / d);
    const step = defaultGridStep(2, d);
    const expected = (1.5 * gridL2Sensitivity(2, step, d) * step) / 4;
    expect(expected / 0.75).toBeLessThan(1.01);
    expect(sd).toBeGreaterThan(expected * 0.97);
    expect(sd).toBeLessThan(expected * 1.03);
    // The released sum is a whole number of grid steps.
    expect(Array.from(out).every((x) => Number.isInteger((x * 4) / step))).toBe(true);
  });

  it('hands the noisy mean to a server optimiser as its pseudo-gradient', () => {
    const inner = new FedAdam({ eta: 0.1 });
    const s = new DpFixedClipping(inner, { clipNorm: 10, ...noNoise });
    const out = s.aggregate(zero, [{ clientId: 'a', weights: new Float32Array([1, 1, 1, 1]), numExamples: 1 }], 1);
    const reference = new FedAdam({ eta: 0.1 }).aggregate(zero, [{ clientId: 'z', weights: new Float32Array([1, 1, 1, 1]), numExamples: 1 }], 1);
    expect(Array.from(out)).toEqual(Array.from(reference));
    expect(s.name).toBe('dp-fixed-clipping(fedadam)');
  });

  it('refuses a bad clip norm and mismatched updates', () => {
    expect(() => new DpFixedClipping(new FedAvg(), { clipNorm: 0, ...noNoise })).toThrow(/clip norm/);
    const s = new DpFixedClipping(new FedAvg(), { clipNorm: 1, ...noNoise });
    expect(() => s.aggregate(zero, [{ clientId: 'a', weights: new Float32Array(3), numExamples: 1 }], 1)).toThrow(/'a'/);
  });
});
