import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  bernoulliRatio,
  discreteGaussianParameters,
  expNegBounds,
  gaussianAcceptanceExponent,
  sampleDiscreteGaussian,
  sampleDiscreteLaplace,
  type RandomWords,
} from './discrete-gaussian.js';

/** Words from node:crypto, as the secure source draws them. */
function cryptoWords(): RandomWords {
  const pool = new Uint32Array(4096);
  let used = pool.length;
  return {
    next: () => {
      if (used === pool.length) {
        randomFillSync(pool);
        used = 0;
      }
      return pool[used++];
    },
  };
}

/** Words from a fixed list, for the digit-by-digit comparison. */
function scripted(words: number[]): RandomWords {
  let k = 0;
  return { next: () => words[k++] };
}

/** Exact (to double precision) probabilities of a distribution on Z proportional to `weight`, over |x| <= bound. */
function probabilities(weight: (x: number) => number, bound: number): Map<number, number> {
  let z = 0;
  for (let x = -bound; x <= bound; x++) z += weight(x);
  const p = new Map<number, number>();
  for (let x = -bound; x <= bound; x++) p.set(x, weight(x) / z);
  return p;
}

/**
 * Pearson's chi-square of `draws` against `p`, cells with expected count below 5 pooled into the
 * two tails; returns the statistic and the degrees of freedom.
 */
function chiSquare(draws: number[], p: Map<number, number>): { statistic: number; dof: number } {
  const n = draws.length;
  const counts = new Map<number, number>();
  for (const x of draws) counts.set(x, (counts.get(x) ?? 0) + 1);
  const keys = [...p.keys()].sort((a, b) => a - b);
  const inner = keys.filter((x) => (p.get(x) as number) * n >= 5);
  const lo = inner[0];
  const hi = inner[inner.length - 1];
  const cells: { observed: number; expected: number }[] = [];
  let lowTail = { observed: 0, expected: 0 };
  let highTail = { observed: 0, expected: 0 };
  for (const x of keys) {
    const cell = { observed: counts.get(x) ?? 0, expected: (p.get(x) as number) * n };
    if (x < lo) lowTail = { observed: lowTail.observed + cell.observed, expected: lowTail.expected + cell.expected };
    else if (x > hi) highTail = { observed: highTail.observed + cell.observed, expected: highTail.expected + cell.expected };
    else cells.push(cell);
  }
  // Draws beyond the bound (probability below 1e-300) would land in the tails.
  for (const [x, c] of counts) if (!p.has(x)) (x < 0 ? lowTail : highTail).observed += c;
  for (const tail of [lowTail, highTail]) if (tail.expected > 0) cells.push(tail);
  const statistic = cells.reduce((s, c) => s + (c.observed - c.expected) ** 2 / c.expected, 0);
  return { statistic, dof: cells.length - 1 };
}

/** Upper 1e-6 quantile of chi-square with k degrees of freedom (Wilson-Hilferty, z = 4.753): a correct sampler fails once in a million runs. */
const chiSquareLimit = (k: number): number => k * (1 - 2 / (9 * k) + 4.753 * Math.sqrt(2 / (9 * k))) ** 3;

const N = 200_000;

describe('discrete Gaussian (Canonne, Kamath & Steinke 2020 Algorithm 3)', () => {
  it.each([0.6, 1.5, 4, 25])('matches the exact probabilities of N_Z(0, sigma^2) for sigma = %s (chi-square)', (sigma) => {
    const bits = cryptoWords();
    const params = discreteGaussianParameters(sigma * sigma);
    const draws = Array.from({ length: N }, () => sampleDiscreteGaussian(bits, params));
    const p = probabilities((x) => Math.exp(-(x * x) / (2 * sigma * sigma)), Math.ceil(40 * sigma) + 5);
    const { statistic, dof } = chiSquare(draws, p);
    expect(dof).toBeGreaterThan(2);
    expect(statistic).toBeLessThan(chiSquareLimit(dof));
  });

  it.each([0.8, 3000, 2 ** 20])('has the exact mean, variance and fourth moment for sigma = %s', (sigma) => {
    const bits = cryptoWords();
    const params = discreteGaussianParameters(sigma * sigma);
    // The discrete Gaussian's moments, summed exactly enough: for sigma >= 3 they equal the continuous ones to 1e-70.
    const bound = Math.ceil(40 * sigma);
    let z = 0;
    let m2 = 0;
    let m4 = 0;
    const stride = Math.max(1, Math.floor(sigma / 64));
    for (let x = -bound; x <= bound; x += stride) {
      const w = Math.exp(-(x * x) / (2 * sigma * sigma));
      z += w;
      m2 += w * x * x;
      m4 += w * x ** 4;
    }
    const variance = m2 / z;
    const fourth = m4 / z;
    let sum = 0;
    let sq = 0;
    let quad = 0;
    let integers = 0;
    for (let k = 0; k < N; k++) {
      const x = sampleDiscreteGaussian(bits, params);
      if (Number.isInteger(x)) integers++;
      sum += x;
      sq += x * x;
      quad += x ** 4;
    }
    expect(integers).toBe(N);
    // Five standard errors: Var(x) = variance, Var(x^2) = fourth - variance^2, Var(x^4) ~ E x^8 (105 sigma^8 for a Gaussian).
    expect(Math.abs(sum / N)).toBeLessThan(5 * Math.sqrt(variance / N));
    expect(Math.abs(sq / N - variance)).toBeLessThan(5 * Math.sqrt((fourth - variance * variance) / N));
    expect(Math.abs(quad / N - fourth)).toBeLessThan(5 * Math.sqrt((105 * variance ** 4) / N));
  });

  it('gives the exact acceptance exponent (|y| - sigma^2/t)^2 / (2 sigma^2) as a fraction', () => {
    for (const [sigma2, y] of [[0.36, 0], [2.25, 3], [1e6 + 0.125, 2500], [3.3e12, 4_000_000]]) {
      const params = discreteGaussianParameters(sigma2);
      const { num, den } = gaussianAcceptanceExponent(y, params);
      const expected = (Math.abs(y) - sigma2 / params.t) ** 2 / (2 * sigma2);
      expect(Number(num) / Number(den)).toBeCloseTo(expected, 9);
    }
  });

  it('refuses a sigma it cannot sample exactly', () => {
    expect(() => discreteGaussianParameters(0)).toThrow(RangeError);
    expect(() => discreteGaussianParameters(2 ** 62)).toThrow(/sigma <= 2\^30/);
  });
});

describe('exact comparisons', () => {
  it('bounds exp(-num/den) from both sides, tighter with more terms', () => {
    // A fraction as a double, through a fixed-point BigInt so that huge numerators and denominators do not overflow.
    const toNumber = (f: { num: bigint; den: bigint }): number => Number((f.num << 1000n) / f.den) * 2 ** -1000;
    for (const [num, den] of [[1n, 1n], [7n, 3n], [1000n, 3n], [0n, 5n]]) {
      const x = Number(num) / Number(den);
      const { lo, hi } = expNegBounds(num, den, 25);
      expect(toNumber(lo)).toBeLessThanOrEqual(Math.exp(-x) * (1 + 1e-12));
      expect(toNumber(hi)).toBeGreaterThanOrEqual(Math.exp(-x) * (1 - 1e-12));
      expect((toNumber(hi) - toNumber(lo)) / Math.exp(-x)).toBeLessThan(1e-9);
      const tighter = expNegBounds(num, den, 41);
      expect(toNumber(tighter.hi) - toNumber(tighter.lo)).toBeLessThanOrEqual(toNumber(hi) - toNumber(lo));
    }
  });

  it('finishes a comparison the floating-point estimate cannot settle with further exact bits', () => {
    // t = 1 (sigma^2 = 0.25 gives floor(0.5) + 1): U is always 0. The geometric uniform's first word
    // sits exactly on e^-1 (ambiguous); the next word decides V, and the acceptance word 0 accepts.
    const params = discreteGaussianParameters(0.25);
    expect(params.t).toBe(1);
    const onE1 = Math.floor(Math.exp(-1) * 2 ** 32);
    // U's word (t = 1: any), U kept (exp(0) = 1), W = onE1 then 0 (so W < e^-1: V >= 1), W against e^-2
    // settled (above), sign +, accept word 0.
    const yes = sampleDiscreteGaussian(scripted([5, 0, onE1, 0, 0, 0]), params);
    expect(yes).toBe(1);
    // The same first word followed by all-ones bits is above e^-1: V = 0, then the sign + and accept give 0.
    const no = sampleDiscreteGaussian(scripted([5, 0, onE1, 0xffffffff, 0, 0]), params);
    expect(no).toBe(0);
  });
});

describe('discrete Laplace (CKS 2020 Algorithm 2)', () => {
  it.each([1, 4, 30])('matches P(x) proportional to exp(-|x|/t) for t = %s (chi-square)', (t) => {
    const bits = cryptoWords();
    const draws = Array.from({ length: N }, () => sampleDiscreteLaplace(bits, t));
    const { statistic, dof } = chiSquare(draws, probabilities((x) => Math.exp(-Math.abs(x) / t), 60 * t));
    expect(statistic).toBeLessThan(chiSquareLimit(dof));
  });
});

describe('bernoulliRatio', () => {
  it('reveals the uniform digit by digit until the fraction is decided', () => {
    // 0x55555555 / 2^32 is just below 1/3 and the next 32 bits decide.
    expect(bernoulliRatio(scripted([0x55555555, 0]), 1, 3)).toBe(true);
    expect(bernoulliRatio(scripted([0x55555555, 0xffffffff]), 1, 3)).toBe(false);
    expect(bernoulliRatio(scripted([0x55555555, 0x55555555, 0xffffffff]), 1, 3)).toBe(false);
    expect(bernoulliRatio(scripted([0]), 0, 3)).toBe(false);
    expect(bernoulliRatio(scripted([]), 3, 3)).toBe(true);
  });

  it.each([
    [1, 3],
    [5, 2 ** 30],
    [2 ** 40 / 3, 2 ** 40 + 1],
  ])('has frequency num/den for %s / %s, whichever digit width it uses', (num, den) => {
    const bits = cryptoWords();
    const n = 100_000;
    let hits = 0;
    for (let k = 0; k < n; k++) if (bernoulliRatio(bits, Math.floor(num), den)) hits++;
    const p = Math.floor(num) / den;
    expect(Math.abs(hits / n - p)).toBeLessThanOrEqual(5 * Math.sqrt((p * (1 - p)) / n) + 1 / n);
  });
});
