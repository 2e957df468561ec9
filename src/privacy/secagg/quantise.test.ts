import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dequantiseSum, quantisationLevels, quantisationStep, quantise } from './quantise.js';

describe('fixed-point quantisation into Z_(2^32)', () => {
  it('the sum of maxSummands inputs at the clip bound cannot wrap around', () => {
    const params = { clip: 1, maxSummands: 100 };
    const top = quantise(new Float32Array([5, 1]), params);
    expect(top[0]).toBe(quantisationLevels(params));
    expect(top[0] * params.maxSummands).toBeLessThanOrEqual(0xffffffff);
  });

  it('decodes a sum within one step per summand', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float32Array({ minLength: 8, maxLength: 8, noNaN: true, min: -3, max: 3 }), { minLength: 1, maxLength: 20 }),
        (inputs) => {
          const params = { clip: 2, maxSummands: 20 };
          const sum = new Uint32Array(8);
          for (const x of inputs) quantise(x, params).forEach((q, i) => (sum[i] += q));
          const decoded = dequantiseSum(sum, inputs.length, params);
          for (let i = 0; i < 8; i++) {
            const exact = inputs.reduce((s, x) => s + Math.max(-2, Math.min(2, x[i])), 0);
            expect(Math.abs(decoded[i] - exact)).toBeLessThan(inputs.length * quantisationStep(params) + 1e-9);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rounds stochastically without bias', () => {
    // Few levels, so that float32 can hold a point a quarter of the way between two of them.
    const params = { clip: 1, maxSummands: 2 ** 20 };
    const step = quantisationStep(params);
    // A value a quarter of the way between two levels rounds up about a quarter of the time.
    const x = new Float32Array(200_000).fill(-1 + 10.25 * step);
    const q = quantise(x, params);
    const ups = q.reduce((n, v) => n + (v === 11 ? 1 : 0), 0);
    expect(q.every((v) => v === 10 || v === 11)).toBe(true);
    expect(Math.abs(ups / x.length - 0.25)).toBeLessThan(0.01);
  });

  it('refuses a bad clip with a one-line error', () => {
    expect(() => quantise(new Float32Array(1), { clip: 0, maxSummands: 2 })).toThrow(/quantisation field 'clip'/);
  });
});
