import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { weightedAverage } from './fedavg.js';
import type { ClientUpdate } from './strategy.js';
import { TrimmedMean, trimmedMean } from './trimmed-mean.js';

const update = (clientId: string, values: number[], numExamples = 1): ClientUpdate => ({ clientId, weights: Float32Array.from(values), numExamples });
const updatesArb = (d: number): fc.Arbitrary<ClientUpdate[]> =>
  fc
    .array(fc.array(fc.float({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), { minLength: d, maxLength: d }), { minLength: 1, maxLength: 12 })
    .map((rows) => rows.map((row, i) => update(`c${String(i).padStart(2, '0')}`, row, 1 + i)));

describe('coordinate-wise trimmed mean (Yin et al. 2018)', () => {
  it('drops ⌊βn⌋ values at each end of every coordinate', () => {
    const us = [update('a', [1, -100]), update('b', [2, 4]), update('c', [3, 5]), update('d', [4, 6]), update('x', [1000, 7])];
    // n = 5, beta = 0.2: one value dropped at each end.
    expect(Array.from(trimmedMean(new Float32Array(2), us, 0.2))).toEqual([3, 5]);
    // beta = 0.1 trims nothing (⌊0.5⌋ = 0): the plain mean.
    expect(Array.from(trimmedMean(new Float32Array(2), us, 0.1))).toEqual([202, -15.6].map(Math.fround));
  });

  it('with beta 0 and equal example counts is FedAvg', () => {
    const us = [update('a', [1, 2]), update('b', [3, 5]), update('c', [8, 13])];
    expect(Array.from(new TrimmedMean({ beta: 0 }).aggregate(new Float32Array(2), us, 1))).toEqual(Array.from(weightedAverage(new Float32Array(2), us)));
  });

  it('stays within each coordinate’s min..max and ignores the order of updates (property)', () => {
    fc.assert(
      fc.property(updatesArb(4), fc.double({ min: 0, max: 0.49, noNaN: true }), (us, beta) => {
        const global = new Float32Array(4);
        const out = trimmedMean(global, us, beta);
        for (let k = 0; k < 4; k++) {
          const col = us.map((u) => u.weights[k]);
          expect(out[k]).toBeGreaterThanOrEqual(Math.min(...col));
          expect(out[k]).toBeLessThanOrEqual(Math.max(...col));
        }
        expect(Array.from(trimmedMean(global, [...us].reverse(), beta))).toEqual(Array.from(out));
      }),
    );
  });

  it('refuses beta outside [0, 0.5)', () => {
    expect(() => new TrimmedMean({ beta: 0.5 })).toThrow(InvalidInputError);
    expect(() => new TrimmedMean({ beta: -0.1 })).toThrow(/beta/);
  });
});
