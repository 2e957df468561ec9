import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Median, coordinateMedian } from './median.js';
import type { ClientUpdate } from './strategy.js';

const update = (clientId: string, values: number[], numExamples = 1): ClientUpdate => ({ clientId, weights: Float32Array.from(values), numExamples });

/** Updates of `d` coordinates from arbitrary finite float32 values. */
const updatesArb = (d: number): fc.Arbitrary<ClientUpdate[]> =>
  fc
    .array(fc.array(fc.float({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), { minLength: d, maxLength: d }), { minLength: 1, maxLength: 12 })
    .map((rows) => rows.map((row, i) => update(`c${String(i).padStart(2, '0')}`, row, 1 + i)));

describe('coordinate-wise median (Yin et al. 2018)', () => {
  it('takes the middle value per coordinate, and the mean of the two middles for even n', () => {
    const odd = [update('a', [1, 30]), update('b', [2, 10]), update('c', [300, 20])];
    expect(Array.from(coordinateMedian(new Float32Array(2), odd))).toEqual([2, 20]);
    const even = [...odd, update('d', [4, -5])];
    expect(Array.from(coordinateMedian(new Float32Array(2), even))).toEqual([3, 15]);
  });

  it('ignores example counts and one arbitrarily bad client among three', () => {
    const us = [update('a', [1]), update('b', [2]), update('x', [1e30], 1e9)];
    expect(Array.from(new Median().aggregate(new Float32Array(1), us, 1))).toEqual([2]);
  });

  it('stays within each coordinate’s min..max and ignores the order of updates (property)', () => {
    fc.assert(
      fc.property(updatesArb(5), fc.integer(), (us, shift) => {
        const global = new Float32Array(5);
        const out = coordinateMedian(global, us);
        for (let k = 0; k < 5; k++) {
          const col = us.map((u) => u.weights[k]);
          expect(out[k]).toBeGreaterThanOrEqual(Math.min(...col));
          expect(out[k]).toBeLessThanOrEqual(Math.max(...col));
        }
        const rotated = us.map((_, i) => us[(i + Math.abs(shift)) % us.length]);
        expect(Array.from(coordinateMedian(global, rotated))).toEqual(Array.from(out));
      }),
    );
  });

  it('refuses an empty round', () => {
    expect(() => coordinateMedian(new Float32Array(1), [])).toThrow(expect.objectContaining({ code: 'AGGREGATION_EMPTY' }));
  });
});
