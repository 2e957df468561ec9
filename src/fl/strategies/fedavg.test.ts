import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FedAvg, weightedAverage } from './fedavg.js';
import { AggregationError, type ClientUpdate } from './strategy.js';

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);
const update = (clientId: string, weights: Float32Array, numExamples: number): ClientUpdate => ({ clientId, weights, numExamples });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof AggregationError) return e.code;
    throw e;
  }
  return undefined;
}

/** Element-wise `===`, so that −0 and +0 count as the same weight. */
const numericallyEqual = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

const finite32 = fc.float({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true });

/** Between 1 and 6 updates with distinct ids over one shared length. */
const roundArb = fc.integer({ min: 1, max: 8 }).chain((len) =>
  fc.tuple(
    fc.constant(len),
    fc.array(
      fc.record({
        weights: fc.array(finite32, { minLength: len, maxLength: len }).map((xs) => Float32Array.from(xs)),
        numExamples: fc.integer({ min: 1, max: 10_000 }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  ),
).map(([len, rows]) => ({
  global: new Float32Array(len),
  updates: rows.map((r, i) => update(`c${i}`, r.weights, r.numExamples)),
}));

describe('FedAvg', () => {
  it('returns the sample-weighted mean, checked by hand', () => {
    // (1·10 + 4·30) / 40 = 3.25 ; (2·10 + 0·30) / 40 = 0.5 ; (−1·10 + 3·30) / 40 = 2
    const out = new FedAvg().aggregate(new Float32Array(3), [
      update('a', f32(1, 2, -1), 10),
      update('b', f32(4, 0, 3), 30),
    ], 1);
    expect(out).toBeInstanceOf(Float32Array);
    expect(Array.from(out)).toEqual([3.25, 0.5, 2]);
  });

  it('weights by examples, not by client: one client with 3x the data counts 3x', () => {
    const out = weightedAverage(new Float32Array(1), [update('a', f32(0), 3), update('b', f32(1), 1)]);
    expect(out[0]).toBe(0.25);
  });

  it('asks clients for plain local training', () => {
    expect(new FedAvg().configureFit(1)).toEqual({ proximalMu: 0 });
    expect(new FedAvg().name).toBe('fedavg');
  });

  it('returns identical updates unchanged', () => {
    fc.assert(
      fc.property(roundArb, ({ global, updates }) => {
        const same = updates.map((u) => update(u.clientId, updates[0].weights, u.numExamples));
        expect(numericallyEqual(weightedAverage(global, same), updates[0].weights)).toBe(true);
      }),
    );
  });

  it('is bit-identical under any order of the updates', () => {
    fc.assert(
      fc.property(roundArb, fc.integer(), ({ global, updates }, seed) => {
        const shuffled = [...updates].sort((a, b) => ((a.clientId.charCodeAt(1) * 7919) ^ seed) - ((b.clientId.charCodeAt(1) * 7919) ^ seed));
        expect(weightedAverage(global, shuffled)).toEqual(weightedAverage(global, updates));
        expect(weightedAverage(global, [...updates].reverse())).toEqual(weightedAverage(global, updates));
      }),
    );
  });

  it('keeps every coordinate between the smallest and largest client value', () => {
    fc.assert(
      fc.property(roundArb, ({ global, updates }) => {
        const out = weightedAverage(global, updates);
        for (let i = 0; i < out.length; i++) {
          const column = updates.map((u) => u.weights[i]);
          expect(out[i]).toBeGreaterThanOrEqual(Math.min(...column));
          expect(out[i]).toBeLessThanOrEqual(Math.max(...column));
        }
      }),
    );
  });

  it('refuses an empty round', () => {
    expect(codeOf(() => weightedAverage(new Float32Array(2), []))).toBe('AGGREGATION_EMPTY');
  });

  it('refuses an update of the wrong length and names the client', () => {
    const fn = (): Float32Array => weightedAverage(new Float32Array(2), [update('ok', f32(1, 2), 1), update('bad-node', f32(1, 2, 3), 1)]);
    expect(codeOf(fn)).toBe('AGGREGATION_SHAPE');
    expect(fn).toThrow(/bad-node/);
  });

  it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY])('refuses numExamples = %s', (n) => {
    const fn = (): Float32Array => weightedAverage(new Float32Array(1), [update('a', f32(1), 1), update('zero', f32(1), n)]);
    expect(codeOf(fn)).toBe('AGGREGATION_WEIGHT');
    expect(fn).toThrow(/zero/);
  });

  it('refuses two updates from the same client', () => {
    const fn = (): Float32Array => weightedAverage(new Float32Array(1), [update('a', f32(1), 1), update('a', f32(2), 1)]);
    expect(codeOf(fn)).toBe('AGGREGATION_DUPLICATE');
  });
});
