import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidInputError } from '../../core/index.js';
import { analyticGaussianSigmaFor, clipL1, clipL2, defaultGridStep, gaussianDelta, gaussianMechanism, gaussianSigmaFor, gridL2Sensitivity, laplaceMechanism, powerOfTwoAtMost } from './mechanisms.js';
import { SeededNoiseSource } from './noise.js';

const l2 = (x: ArrayLike<number>): number => Math.hypot(...Array.from(x));
const l1 = (x: ArrayLike<number>): number => Array.from(x).reduce((s, v) => s + Math.abs(v), 0);

describe('clipping', () => {
  it('scales a long vector to exactly the bound and leaves a short one unchanged', () => {
    expect(l2(clipL2([3, 4], 1))).toBeCloseTo(1, 15);
    expect([...clipL2([3, 4], 1)]).toEqual([0.6000000000000001, 0.8]);
    expect([...clipL2(new Float32Array([0.3, 0.4]), 1)]).toEqual([...new Float32Array([0.3, 0.4])]);
    expect([...clipL1([3, -1], 2)]).toEqual([1.5, -0.5]);
    expect([...clipL1([0.5, -0.25], 2)]).toEqual([0.5, -0.25]);
    expect([...clipL2([0, 0], 1)]).toEqual([0, 0]);
  });

  it('does not overflow on huge entries', () => {
    expect(l2(clipL2([1e300, 1e300], 1))).toBeCloseTo(1, 12);
  });

  it('property: the clipped norm is min(norm, bound) and the direction is kept', () => {
    const vector = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 50 });
    fc.assert(
      fc.property(vector, fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (v, bound) => {
        const c2 = clipL2(v, bound);
        expect(l2(c2)).toBeLessThanOrEqual(bound * (1 + 1e-12));
        expect(Math.abs(l2(c2) - Math.min(l2(v), bound))).toBeLessThanOrEqual(1e-9 * Math.max(1, bound));
        c2.forEach((x, k) => expect(x * v[k]).toBeGreaterThanOrEqual(0));
        const c1 = clipL1(v, bound);
        expect(Math.abs(l1(c1) - Math.min(l1(v), bound))).toBeLessThanOrEqual(1e-9 * Math.max(1, bound));
      }),
      { numRuns: 100 },
    );
  });

  it('rejects non-finite entries and negative bounds', () => {
    expect(() => clipL2([1, Number.NaN], 1)).toThrow(/vector\[1\] is NaN/);
    expect(() => clipL2([1], -1)).toThrow(InvalidInputError);
    expect(() => clipL1([1], -1)).toThrow(/L1 clipping norm/);
  });
});

describe('mechanisms', () => {
  const N = 100_000;
  const stats = (x: Float64Array, center: number): { mean: number; variance: number } => {
    let s = 0;
    for (const v of x) s += v - center;
    const mean = s / x.length;
    let q = 0;
    for (const v of x) q += (v - center - mean) ** 2;
    return { mean, variance: q / (x.length - 1) };
  };

  it('Gaussian mechanism rounds to the grid and adds discrete Gaussian noise of std noiseMultiplier x (sensitivity + sqrt(d) steps)', () => {
    const input = new Float64Array(N).fill(3.3);
    const step = defaultGridStep(0.5, N);
    expect(step).toBe(2 ** Math.floor(Math.log2((0.01 * 0.5) / Math.sqrt(N))));
    const out = gaussianMechanism(input, { l2Sensitivity: 0.5, noiseMultiplier: 4 }, new SeededNoiseSource(1));
    expect(out.every((v) => Number.isInteger(v / step))).toBe(true);
    const center = Math.round(3.3 / step) * step;
    const sigma = 4 * gridL2Sensitivity(0.5, step, N) * step;
    // The grid costs at most 1% more noise than the continuous mechanism's 4 x 0.5.
    expect(sigma / 2).toBeGreaterThan(1);
    expect(sigma / 2).toBeLessThan(1.01);
    const { mean, variance } = stats(out, center);
    expect(Math.abs(mean)).toBeLessThan(5 * (sigma / Math.sqrt(N)));
    expect(Math.abs(variance - sigma ** 2)).toBeLessThan(5 * sigma ** 2 * Math.sqrt(2 / N));
  });

  it('uses the grid step it is given, rounded down to a power of two, and releases the input rounded to it when there is no noise', () => {
    expect(powerOfTwoAtMost(0.3)).toBe(0.25);
    expect(powerOfTwoAtMost(1)).toBe(1);
    const out = gaussianMechanism([0.26, -0.74, 1.1], { l2Sensitivity: 1, noiseMultiplier: 0, gridStep: 0.3 }, new SeededNoiseSource(4));
    expect([...out]).toEqual([0.25, -0.75, 1]);
    // A neighbour 1 apart, rounded, is at most 1/step + sqrt(d) steps away.
    expect(gridL2Sensitivity(1, 0.25, 3)).toBeCloseTo(4 + Math.sqrt(3), 6);
  });

  it('Laplace mechanism adds discrete Laplace noise of integer scale ceil((sensitivity + d steps) / epsilon) steps', () => {
    const input = new Float64Array(N).fill(-1);
    const step = 2 ** -4;
    const out = laplaceMechanism(input, { l1Sensitivity: 1, epsilon: 0.5, gridStep: step }, new SeededNoiseSource(2));
    expect(out.every((v) => Number.isInteger(v / step))).toBe(true);
    const t = Math.ceil((16 * (1 + 1e-9) + N) / 0.5);
    const r = Math.exp(-1 / t);
    const expected = ((2 * r) / (1 - r) ** 2) * step * step;
    const { mean, variance } = stats(out, -1);
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(expected / N));
    expect(Math.abs(variance - expected)).toBeLessThan(5 * expected * Math.sqrt(20 / N));
  });

  it('rejects a non-positive epsilon or negative sensitivity', () => {
    const source = new SeededNoiseSource(3);
    expect(() => laplaceMechanism([1], { l1Sensitivity: 1, epsilon: 0 }, source)).toThrow(/epsilon/);
    expect(() => gaussianMechanism([1], { l2Sensitivity: -1, noiseMultiplier: 1 }, source)).toThrow(/L2 sensitivity/);
  });
});

describe('Gaussian calibration', () => {
  it('classic: sqrt(2 ln(1.25/delta)) sensitivity / epsilon (Dwork & Roth Thm A.1)', () => {
    expect(gaussianSigmaFor(0.5, 1e-5, 2)).toBeCloseTo((Math.sqrt(2 * Math.log(1.25e5)) * 2) / 0.5, 12);
  });

  it('classic refuses epsilon >= 1 and points to the analytic mechanism', () => {
    expect(() => gaussianSigmaFor(1, 1e-5, 1)).toThrow(InvalidInputError);
    expect(() => gaussianSigmaFor(2, 1e-5, 1)).toThrow(/epsilon < 1.*analyticGaussianSigmaFor/);
  });

  it('analytic: sigma = 1 is recovered from its exact privacy profile (Balle & Wang 2018 Thm 8)', () => {
    // The profile as written in dp-accounting's test_delta_bounds_gaussian, for sigma = sensitivity = 1.
    for (const eps of [0.1, 0.5, 1, 2, 4]) {
      const phi = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);
      const delta = phi(0.5 - eps) - Math.exp(eps) * phi(-0.5 - eps);
      expect(gaussianDelta(1, eps, 1)).toBeCloseTo(delta, 12);
      expect(analyticGaussianSigmaFor(eps, delta, 1)).toBeCloseTo(1, 6);
    }
  });

  it('analytic is tighter than the classic calibration and than the RDP bound', () => {
    for (const eps of [0.1, 0.5, 0.9]) expect(analyticGaussianSigmaFor(eps, 1e-5, 1)).toBeLessThan(gaussianSigmaFor(eps, 1e-5, 1));
    // dp-accounting: noise 4.530877117 is exactly (1, 1e-6)-DP by the RDP route; the exact profile needs less.
    expect(analyticGaussianSigmaFor(1, 1e-6, 1)).toBeLessThan(4.530877117);
  });

  it('scales linearly with sensitivity', () => {
    expect(analyticGaussianSigmaFor(1, 1e-5, 3)).toBeCloseTo(3 * analyticGaussianSigmaFor(1, 1e-5, 1), 6);
    expect(analyticGaussianSigmaFor(1, 1e-5, 0)).toBe(0);
  });
});

/** erfc by Simpson's rule on its defining integral, independent of the library's logErfc. */
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  const upper = x + 40;
  const n = 20000;
  const h = (upper - x) / n;
  let s = 0;
  for (let i = 0; i <= n; i++) {
    const t = x + i * h;
    const w = i === 0 || i === n ? 1 : i % 2 === 1 ? 4 : 2;
    s += w * Math.exp(-t * t);
  }
  return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
}
