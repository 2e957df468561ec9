import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { holdersFromSeed } from './graph.js';

describe('share holders drawn from a client\'s own seed', () => {
  it('are k distinct other participants, ascending, fixed by the seed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 400 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: n - 1 }))),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        ([n, self, k], seed) => {
          const holders = holdersFromSeed(seed, n, self, k);
          expect(holders).toHaveLength(k);
          expect(new Set(holders).size).toBe(k);
          expect(holders).not.toContain(self);
          expect(holders.every((h) => Number.isInteger(h) && h >= 0 && h < n)).toBe(true);
          expect([...holders].sort((a, b) => a - b)).toEqual(holders);
          expect(holdersFromSeed(seed, n, self, k)).toEqual(holders);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('are every other participant when k = n - 1 (the complete graph of Bonawitz et al. 2017)', () => {
    expect(holdersFromSeed(randomBytes(32), 5, 2, 4)).toEqual([0, 1, 3, 4]);
  });

  it('are uniform: each other participant is drawn k/(n - 1) of the time', () => {
    const n = 21;
    const k = 5;
    const trials = 8000;
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < trials; i++) for (const h of holdersFromSeed(randomBytes(32), n, 7, k)) counts[h]++;
    expect(counts[7]).toBe(0);
    const expected = (trials * k) / (n - 1);
    const chiSquare = counts.reduce((s, c, i) => (i === 7 ? s : s + (c - expected) ** 2 / expected), 0);
    // 19 degrees of freedom: p = 1e-6 is near 55.
    expect(chiSquare).toBeLessThan(55);
  });

  it('costs O(k), not O(n): 20 holders among 65,535 participants, 2,000 times, in well under a second', () => {
    const started = performance.now();
    for (let i = 0; i < 2000; i++) holdersFromSeed(randomBytes(32), 65535, 1234, 20);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses a degree outside 1 .. n - 1', () => {
    expect(() => holdersFromSeed(randomBytes(32), 5, 0, 5)).toThrow(expect.objectContaining({ code: 'SECAGG_CONFIG_INVALID' }));
    expect(() => holdersFromSeed(randomBytes(32), 5, 0, 0)).toThrow(/degree must be an integer from 1 to 4/);
  });
});
