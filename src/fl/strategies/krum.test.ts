import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { Krum, krumSelect } from './krum.js';
import type { ClientUpdate } from './strategy.js';

const update = (clientId: string, values: number[], numExamples = 1): ClientUpdate => ({ clientId, weights: Float32Array.from(values), numExamples });

describe('Krum (Blanchard et al. 2017)', () => {
  it('scores by the n − f − 2 nearest neighbours: a worked example', () => {
    // n = 5, f = 1: each score sums the 2 smallest squared distances.
    // a:0 b:1 c:2 d:3 x:100 on one axis -> a: 1+4=5, b: 1+1=2, c: 1+1=2, d: 1+4=5, x: 97²+98².
    const us = [update('a', [0]), update('b', [1]), update('c', [2]), update('d', [3]), update('x', [100])];
    expect(krumSelect(us, 1).map((u) => u.clientId)).toEqual(['b']);
    expect(krumSelect(us, 1, 2).map((u) => u.clientId)).toEqual(['b', 'c']);
    expect(krumSelect(us, 1, 4).map((u) => u.clientId)).toEqual(['b', 'c', 'a', 'd']);
  });

  it('Multi-Krum returns the unweighted mean of the chosen models', () => {
    const us = [update('a', [0, 0]), update('b', [1, 1], 1000), update('c', [2, 2]), update('d', [3, 3]), update('x', [100, -100])];
    const out = new Krum({ f: 1, m: 2 }).aggregate(new Float32Array(2), us, 1);
    expect(Array.from(out)).toEqual([1.5, 1.5]);
    expect(new Krum({ f: 1 }).name).toBe('krum');
    expect(new Krum({ f: 1, m: 3 }).name).toBe('multi-krum');
  });

  it('does not depend on arrival order', () => {
    const us = [update('a', [0, 1]), update('b', [1, 0]), update('c', [1, 1]), update('d', [0, 0]), update('e', [0.5, 0.5])];
    const forward = new Krum({ f: 1, m: 2 }).aggregate(new Float32Array(2), us, 1);
    const backward = new Krum({ f: 1, m: 2 }).aggregate(new Float32Array(2), [...us].reverse(), 1);
    expect(Array.from(backward)).toEqual(Array.from(forward));
  });

  it('picks an honest update whenever f < n/2 − 1 adversaries are far away (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 5, max: 14 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: Math.ceil(n / 2 - 1) - 1 }))),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.double({ min: 50, max: 1e6, noNaN: true }),
        fc.integer({ min: 1, max: 3 }),
        ([n, f], seed, far, mRaw) => {
          let s = seed;
          const rand = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
          const d = 6;
          const honest = Array.from({ length: n - f }, (_, i) => update(`h${i}`, Array.from({ length: d }, rand)));
          const adversaries = Array.from({ length: f }, (_, i) => update(`x${i}`, Array.from({ length: d }, () => far + rand())));
          const m = Math.min(mRaw, n - f);
          const chosen = krumSelect([...adversaries, ...honest], f, m);
          expect(chosen).toHaveLength(m);
          expect(chosen.every((u) => u.clientId.startsWith('h'))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses too few updates for f, m above n − f, and a bad config', () => {
    const us = [update('a', [0]), update('b', [1]), update('c', [2]), update('d', [3])];
    expect(() => new Krum({ f: 1 }).aggregate(new Float32Array(1), us, 1)).toThrow(expect.objectContaining({ code: 'AGGREGATION_TOO_FEW' }));
    const five = [...us, update('e', [4])];
    expect(() => new Krum({ f: 1, m: 5 }).aggregate(new Float32Array(1), five, 1)).toThrow(/lower m/);
    expect(() => new Krum({ f: -1 })).toThrow(InvalidInputError);
    expect(() => new Krum({ f: 1, m: 0 })).toThrow(InvalidInputError);
    expect(() => new Krum({ f: 0 }).aggregate(new Float32Array(2), [update('a', [0]), update('b', [1]), update('c', [2])], 1)).toThrow(
      expect.objectContaining({ code: 'AGGREGATION_SHAPE' }),
    );
  });
});
