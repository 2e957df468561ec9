import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/index.js';
import { SecureNoiseSource, SeededNoiseSource, type NoiseSource } from './noise.js';

const N = 100_000;

function moments(x: Float64Array): { mean: number; variance: number } {
  let sum = 0;
  for (const v of x) sum += v;
  const mean = sum / x.length;
  let sq = 0;
  for (const v of x) sq += (v - mean) * (v - mean);
  return { mean, variance: sq / (x.length - 1) };
}

// Tolerances are five standard errors, so a correct source fails about once in a million runs.
describe.each([
  ['SecureNoiseSource', (): NoiseSource => new SecureNoiseSource()],
  ['SeededNoiseSource', (): NoiseSource => new SeededNoiseSource(7)],
])('%s', (_name, make) => {
  it('discrete Gaussian draws are integers with mean 0 and variance sigma^2 (sigma >= 3: equal to the continuous one to 1e-70)', () => {
    const sigma = 40;
    const x = make().discreteGaussian(N, sigma);
    expect(x.every(Number.isInteger)).toBe(true);
    const { mean, variance } = moments(x);
    expect(Math.abs(mean)).toBeLessThan(5 * (sigma / Math.sqrt(N)));
    expect(Math.abs(variance - sigma ** 2)).toBeLessThan(5 * sigma ** 2 * Math.sqrt(2 / N));
  });

  it('discrete Laplace draws are integers with the variance 2 e^(-1/t) / (1 - e^(-1/t))^2 of P(x) ~ exp(-|x|/t)', () => {
    const t = 5;
    const x = make().discreteLaplace(N, t);
    expect(x.every(Number.isInteger)).toBe(true);
    const r = Math.exp(-1 / t);
    const expected = (2 * r) / (1 - r) ** 2;
    const { mean, variance } = moments(x);
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(expected / N));
    // The fourth moment of a discrete Laplace is about 24 t^4 / (2 t^2)^2 = 6 times variance^2: Var(s^2) ~ 5 variance^2 / n.
    expect(Math.abs(variance - expected)).toBeLessThan(5 * expected * Math.sqrt(5 / N));
  });

  it('returns exactly n values, zeros for sigma 0, and handles empty requests', () => {
    const source = make();
    for (const n of [0, 1, 7]) {
      expect(source.discreteGaussian(n, 3)).toHaveLength(n);
      expect(source.discreteLaplace(n, 1)).toHaveLength(n);
    }
    expect([...source.discreteGaussian(5, 0)].every((v) => v === 0)).toBe(true);
  });

  it('rejects a negative sigma, a fractional Laplace scale, a sigma beyond exact sampling, or a non-integer count', () => {
    const source = make();
    expect(() => source.discreteGaussian(3, -1)).toThrow(InvalidInputError);
    expect(() => source.discreteGaussian(3, -1)).toThrow(/discrete gaussian sigma/);
    expect(() => source.discreteGaussian(3, 2 ** 31)).toThrow(/discrete gaussian sigma/);
    expect(() => source.discreteLaplace(3, 1.5)).toThrow(/discrete laplace scale/);
    expect(() => source.discreteGaussian(2.5, 1)).toThrow(/noise sample count/);
  });
});

describe('SeededNoiseSource', () => {
  it('is reproducible for a seed and differs across seeds', () => {
    expect(new SeededNoiseSource(1).discreteGaussian(10, 100)).toEqual(new SeededNoiseSource(1).discreteGaussian(10, 100));
    expect(new SeededNoiseSource(1).discreteLaplace(10, 100)).not.toEqual(new SeededNoiseSource(2).discreteLaplace(10, 100));
  });
});

describe('SecureNoiseSource', () => {
  it('never repeats a stream', () => {
    const source = new SecureNoiseSource();
    expect(source.discreteGaussian(16, 1000)).not.toEqual(source.discreteGaussian(16, 1000));
  });
});
