import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/index.js';
import { computeEpsilon, noiseMultiplierFor } from './accountant.js';
import { DifferentialPrivacy } from './differential-privacy.js';
import { defaultGridStep } from './mechanisms.js';
import { SeededNoiseSource } from './noise.js';

const variance = (x: ArrayLike<number>, center: number): number => Array.from(x).reduce((s, v) => s + (v - center) ** 2, 0) / x.length;

describe('DifferentialPrivacy', () => {
  it('adds discrete Gaussian noise on the grid, calibrated through RDP, and keeps the array kind', () => {
    const dp = new DifferentialPrivacy({ epsilon: 1, delta: 1e-5, sensitivity: 2, noiseSource: new SeededNoiseSource(1) });
    const d = 50_000;
    const step = defaultGridStep(2, d);
    // Rounding to the grid widens the sensitivity by sqrt(d) steps: at most 1% by default.
    const sigma = noiseMultiplierFor({ targetEpsilon: 1, samplingRate: 1, steps: 1, delta: 1e-5 }).noiseMultiplier * (2 + step * Math.sqrt(d));
    const out = dp.addNoise(new Float32Array(d).fill(1));
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.every((v) => Number.isInteger(v / step))).toBe(true);
    expect(Math.abs(variance(out, 1) / sigma ** 2 - 1)).toBeLessThan(0.05);
    const plain = dp.addNoise([1, 2, 3]);
    expect(Array.isArray(plain)).toBe(true);
    expect(plain).toHaveLength(3);
  });

  it('adds discrete Laplace noise of scale about sensitivity / epsilon', () => {
    const dp = new DifferentialPrivacy({ epsilon: 0.5, delta: 1e-5, sensitivity: 1, mechanism: 'laplace', noiseSource: new SeededNoiseSource(2), gridStep: 2 ** -10 });
    const out = dp.addNoise(new Array<number>(1_000).fill(0));
    // Scale in grid steps: ceil((1024 + 1000 rounding steps) / 0.5), a discrete Laplace of variance about 2 t^2.
    const t = Math.ceil((1024 + 1000) / 0.5) * 2 ** -10;
    expect(Math.abs(variance(out, 0) / (2 * t * t) - 1)).toBeLessThan(0.3);
  });

  it('one release meets exactly its configured guarantee; more releases are accounted by RDP', () => {
    const dp = new DifferentialPrivacy({ epsilon: 1, delta: 1e-5, sensitivity: 1, noiseSource: new SeededNoiseSource(3) });
    expect(dp.spent()).toEqual({ releases: 0, epsilon: 0, delta: 1e-5, accounting: 'basic-composition' });
    expect(dp.verifyGuarantees(0, 1e-9)).toBe(true);
    dp.addNoise([0]);
    // The release was calibrated through RDP, so its RDP account is (1, 1e-5) to the bisection's 1e-7.
    expect(dp.spent().releases).toBe(1);
    expect(dp.spent().epsilon).toBeLessThanOrEqual(1);
    expect(dp.spent().epsilon).toBeGreaterThan(0.999);
    expect(dp.verifyGuarantees(1, 1e-5)).toBe(true);
    expect(dp.verifyGuarantees(0.9, 1e-5)).toBe(false);
    for (let i = 0; i < 99; i++) dp.addNoise([0]);
    const spend = dp.spent();
    // RDP composition of 100 releases beats 100 x epsilon by far.
    expect(spend.accounting).toBe('rdp');
    expect(spend.epsilon).toBeLessThan(20);
    expect(dp.verifyGuarantees(spend.epsilon, 1e-5)).toBe(true);
    expect(dp.verifyGuarantees(spend.epsilon * 0.99, 1e-5)).toBe(false);
  });

  it('computePrivacyBudget converts operations at the configured delta without spending', () => {
    const dp = new DifferentialPrivacy({ epsilon: 1, delta: 1e-5, sensitivity: 1, conversion: 'classic' });
    const epsilon = dp.computePrivacyBudget([{ kind: 'sampled-gaussian', samplingRate: 256 / 60000, noiseMultiplier: 1.1, steps: 14062 }]);
    expect(epsilon).toBeCloseTo(computeEpsilon(256 / 60000, 1.1, 14062, 1e-5, 'classic').epsilon, 12);
    expect(Math.abs(epsilon - 3.01) / 3.01).toBeLessThan(0.01);
    expect(dp.computePrivacyBudget([])).toBe(0);
    expect(dp.spent().releases).toBe(0);
  });

  it('rejects a bad config with a one-line message naming the field', () => {
    expect(() => new DifferentialPrivacy({ epsilon: 0, delta: 1e-5, sensitivity: 1 })).toThrow(InvalidInputError);
    expect(() => new DifferentialPrivacy({ epsilon: 1, delta: 1, sensitivity: 1 })).toThrow(/dp config field 'delta'/);
    expect(() => new DifferentialPrivacy({ epsilon: 1, delta: 1e-5, sensitivity: -1 })).toThrow(/sensitivity/);
    const dp = new DifferentialPrivacy({ epsilon: 1, delta: 1e-5, sensitivity: 1 });
    expect(() => dp.addNoise([Number.POSITIVE_INFINITY])).toThrow(/finite/);
    expect(() => dp.verifyGuarantees(1, 0)).toThrow(/delta/);
  });
});
