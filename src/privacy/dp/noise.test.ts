import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/index.js';
import { SecureNoiseSource, SeededNoiseSource, type NoiseSource } from './noise.js';

const N = 200_000;

function moments(x: Float64Array): { mean: number; variance: number } {
  let sum = 0;
  for (const v of x) sum += v;
  const mean = sum / x.length;
  let sq = 0;
  for (const v of x) sq += (v - mean) * (v - mean);
  return { mean, variance: sq / (x.length - 1) };
}

const fractionWithin = (x: Float64Array, bound: number): number => x.filter((v) => Math.abs(v) <= bound).length / x.length;

// Tolerances are five standard errors, so a correct source fails about once in a million runs.
describe.each([
  ['SecureNoiseSource', (): NoiseSource => new SecureNoiseSource()],
  ['SeededNoiseSource', (): NoiseSource => new SeededNoiseSource(7)],
])('%s', (_name, make) => {
  it('Gaussian draws have mean 0, variance sigma^2 and 68.27% mass within one sigma', () => {
    const sigma = 2;
    const x = make().gaussian(N, sigma);
    const { mean, variance } = moments(x);
    expect(Math.abs(mean)).toBeLessThan(5 * (sigma / Math.sqrt(N)));
    // Var of the sample variance of a normal is 2 sigma^4 / n.
    expect(Math.abs(variance - sigma ** 2)).toBeLessThan(5 * sigma ** 2 * Math.sqrt(2 / N));
    expect(Math.abs(fractionWithin(x, sigma) - 0.682689)).toBeLessThan(5 * Math.sqrt((0.6827 * 0.3173) / N));
  });

  it('Laplace draws have mean 0, variance 2b^2 and 1 - 1/e mass within b', () => {
    const b = 1.5;
    const x = make().laplace(N, b);
    const { mean, variance } = moments(x);
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt((2 * b * b) / N));
    // Fourth central moment of Laplace is 24 b^4, so Var of the sample variance is 20 b^4 / n.
    expect(Math.abs(variance - 2 * b * b)).toBeLessThan(5 * b * b * Math.sqrt(20 / N));
    const p = 1 - Math.exp(-1);
    expect(Math.abs(fractionWithin(x, b) - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
  });

  it('returns exactly n finite values, zeros for zero scale, and handles odd and empty requests', () => {
    const source = make();
    for (const n of [0, 1, 7, 8193]) {
      const g = source.gaussian(n, 1);
      expect(g).toHaveLength(n);
      expect(g.every(Number.isFinite)).toBe(true);
      expect(source.laplace(n, 1)).toHaveLength(n);
    }
    expect([...source.gaussian(5, 0)].every((v) => v === 0)).toBe(true);
    expect([...source.laplace(5, 0)].every((v) => v === 0)).toBe(true);
  });

  it('rejects a negative scale or a non-integer count', () => {
    const source = make();
    expect(() => source.gaussian(3, -1)).toThrow(InvalidInputError);
    expect(() => source.gaussian(3, -1)).toThrow(/gaussian sigma/);
    expect(() => source.laplace(3, Number.POSITIVE_INFINITY)).toThrow(/laplace scale/);
    expect(() => source.gaussian(2.5, 1)).toThrow(/noise sample count/);
  });
});

describe('SeededNoiseSource', () => {
  it('is reproducible for a seed and differs across seeds', () => {
    expect(new SeededNoiseSource(1).gaussian(10, 1)).toEqual(new SeededNoiseSource(1).gaussian(10, 1));
    expect(new SeededNoiseSource(1).laplace(10, 1)).not.toEqual(new SeededNoiseSource(2).laplace(10, 1));
  });
});

describe('SecureNoiseSource', () => {
  it('never repeats a stream', () => {
    const source = new SecureNoiseSource();
    expect(source.gaussian(16, 1)).not.toEqual(source.gaussian(16, 1));
  });
});
