import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SECURITY_BITS, checkParameters, chooseParameters, colludingHolderBound, leastSecureThreshold, maxInDegree } from './params.js';

function choose(a: number, b: number): bigint {
  if (b < 0 || b > a) return 0n;
  let out = 1n;
  for (let i = 0; i < b; i++) out = (out * BigInt(a - i)) / BigInt(i + 1);
  return out;
}

/** P[X > a] for X ~ Hypergeometric(population, successes, draws), as an exact fraction (numerator, denominator). */
function exactTail(population: number, successes: number, draws: number, a: number): [bigint, bigint] {
  let numerator = 0n;
  for (let x = a + 1; x <= draws; x++) numerator += choose(successes, x) * choose(population - successes, draws - x);
  return [numerator, choose(population, draws)];
}

describe('colluding holders A(k) (rule 1)', () => {
  it('is the least a with P[X > a] <= 2^-41 / n, checked in exact integer arithmetic', () => {
    for (const [n, gamma, k] of [
      [40, 0.1, 12],
      [60, 0.2, 30],
      [100, 0.05, 27],
      [100, 0.1, 32],
      [150, 0.33, 50],
    ] as const) {
      const a = colludingHolderBound(n, gamma, k);
      const colluders = Math.floor(gamma * n + 1e-9);
      const scale = 2n ** BigInt(SECURITY_BITS + 1) * BigInt(n);
      const [num, den] = exactTail(n - 1, colluders, k, a);
      expect(num * scale <= den).toBe(true);
      const [numBelow, denBelow] = exactTail(n - 1, colluders, k, a - 1);
      expect(numBelow * scale > denBelow).toBe(true);
    }
  });

  it('is exactly the colluders when every other participant holds a share (complete graph)', () => {
    expect(colludingHolderBound(15, 2 / 15, 14)).toBe(2);
    expect(colludingHolderBound(10, 0.3, 9)).toBe(3);
  });
});

describe('chooseParameters (Bell et al. 2020 parameter selection, 2^-40)', () => {
  const models = [
    { n: 10, gamma: 0.1, delta: 0.1 },
    { n: 100, gamma: 0.1, delta: 0.1 },
    { n: 1000, gamma: 0.1, delta: 0.1 },
    { n: 1000, gamma: 0.05, delta: 0.2 },
    { n: 300, gamma: 0.2, delta: 0.05 },
  ];

  it.each(models)('n = $n, gamma = $gamma, delta = $delta: passes every rule, with 2t > (k + 1)(1 + gamma)', (model) => {
    const { degree: k, threshold: t } = chooseParameters(model);
    expect(checkParameters({ ...model, degree: k, threshold: t })).toBeUndefined();
    expect(2 * t).toBeGreaterThan((k + 1) * (1 + model.gamma));
    expect(t).toBeLessThanOrEqual(k + 1);
  });

  it.each(models)('n = $n, gamma = $gamma, delta = $delta: the least degree, and for it the least threshold', (model) => {
    const { degree: k, threshold: t } = chooseParameters(model);
    expect(checkParameters({ ...model, degree: k, threshold: t - 1 })).toMatchObject({ field: 'threshold' });
    // No smaller degree passes with any threshold: the least secure one already fails, and larger ones fail correctness.
    for (let smaller = 1; smaller < k; smaller++) {
      const threshold = leastSecureThreshold(model.n, model.gamma, smaller);
      expect(checkParameters({ ...model, degree: smaller, threshold })).toBeDefined();
    }
  });

  it('property: any threat model gets parameters passing every rule, or a refusal naming a field', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 200 }), fc.double({ min: 0, max: 0.35, noNaN: true }), fc.double({ min: 0, max: 0.35, noNaN: true }), (n, gamma, delta) => {
        let chosen;
        try {
          chosen = chooseParameters({ n, gamma, delta });
        } catch (error) {
          expect(error).toMatchObject({ code: 'SECAGG_CONFIG_INVALID' });
          expect((error as Error).message).toMatch(/n = \d+, gamma = .*, delta = /);
          return;
        }
        expect(checkParameters({ n, gamma, delta, degree: chosen.degree, threshold: chosen.threshold })).toBeUndefined();
        expect(2 * chosen.threshold).toBeGreaterThan((chosen.degree + 1) * (1 + gamma));
        expect(chosen.maxInDegree).toBeGreaterThanOrEqual(chosen.degree);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a threat model with no guarantee, naming the field and the bound', () => {
    expect(() => chooseParameters({ n: 10, gamma: 1.2, delta: 0 })).toThrow(/field 'gamma'.*0 <= gamma < 1/);
    expect(() => chooseParameters({ n: 10, gamma: 0.5, delta: 0.5 })).toThrow(/field 'delta'/);
    // Half colluding and a quarter dropping: not even the complete graph has 2t > n + C with t honest survivors.
    expect(() => chooseParameters({ n: 100, gamma: 0.5, delta: 0.25 })).toThrow(expect.objectContaining({ code: 'SECAGG_CONFIG_INVALID', message: expect.stringContaining('complete graph') }));
  });
});

describe('checkParameters', () => {
  it('names the rule a pair breaks', () => {
    // The review's case: 15 holders, t = 8 is a majority but not 2t > (k + 1)(1 + gamma) = 17.
    expect(checkParameters({ n: 15, gamma: 2 / 15, delta: 0, degree: 14, threshold: 8 })).toMatchObject({ field: 'threshold', bound: '2t > (k + 1)(1 + gamma) = 17' });
    expect(checkParameters({ n: 15, gamma: 2 / 15, delta: 0, degree: 14, threshold: 9 })).toBeUndefined();
    // The old default degree 2 ceil(log2 n) with a least majority: no guarantee against 10% colluders.
    expect(checkParameters({ n: 100, gamma: 0.1, delta: 0.1, degree: 14, threshold: 8 })).toMatchObject({ field: 'threshold' });
    // A degree too small for drop-outs: t cannot be both secure and reachable.
    expect(checkParameters({ n: 100, gamma: 0, delta: 0.3, degree: 8, threshold: 5 })).toMatchObject({ field: 'threshold', bound: expect.stringContaining('fewer than t cooperating holders') });
    // Colluders and drop-outs cut a sparse graph of honest survivors apart.
    expect(checkParameters({ n: 200, gamma: 0.45, delta: 0, degree: 3, threshold: 4 })).toMatchObject({ field: 'degree', bound: expect.stringContaining('disconnected') });
  });

  it('bounds the holders a client accepts: honest draws exceed it with probability below 2^-40', () => {
    expect(maxInDegree(10, 9)).toBe(9);
    const bound = maxInDegree(1000, 131);
    expect(bound).toBeGreaterThan(131);
    expect(bound).toBeLessThan(2 * 131);
  });
});

describe('the README parameter table', () => {
  it('is what chooseParameters gives for each row', () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| (\d+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$/gm)].map((m) => m.slice(1).map(Number));
    expect(rows.length).toBeGreaterThanOrEqual(20);
    for (const [n, gamma, delta, k, t, a, spare] of rows) {
      const chosen = chooseParameters({ n, gamma, delta });
      expect([n, gamma, delta, chosen.degree, chosen.threshold, chosen.colludingHolders, chosen.degree + 1 - chosen.threshold]).toEqual([n, gamma, delta, k, t, a, spare]);
    }
  });
});
