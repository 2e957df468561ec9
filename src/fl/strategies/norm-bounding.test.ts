import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { FedAvg } from './fedavg.js';
import { Median } from './median.js';
import { NormBounding, boundUpdate } from './norm-bounding.js';

describe('NormBounding (Sun et al. 2019)', () => {
  it('scales a delta above the bound to the bound and leaves smaller ones alone', () => {
    const global = Float32Array.from([1, 1]);
    expect(Array.from(boundUpdate(global, Float32Array.from([4, 5]), 1))).toEqual([1.6, 1.8].map(Math.fround));
    expect(Array.from(boundUpdate(global, Float32Array.from([1.3, 1.4]), 1))).toEqual([1.3, 1.4].map(Math.fround));
  });

  it('limits what a scaled update can do to the wrapped FedAvg', () => {
    const global = new Float32Array(2);
    const s = new NormBounding(new FedAvg(), { maxNorm: 1 });
    const out = s.aggregate(
      global,
      [
        { clientId: 'h', weights: Float32Array.from([0.6, 0.8]), numExamples: 1 },
        { clientId: 'x', weights: Float32Array.from([-600, -800]), numExamples: 1 },
      ],
      1,
    );
    expect(Array.from(out).map((v) => Number(v.toFixed(6)))).toEqual([0, 0]);
    expect(s.name).toBe('norm-bounding(fedavg)');
    expect(new NormBounding(new Median(), { maxNorm: 2 }).configureFit(3)).toEqual({ proximalMu: 0 });
  });

  it('refuses a non-positive bound and a mismatched update', () => {
    expect(() => new NormBounding(new FedAvg(), { maxNorm: 0 })).toThrow(InvalidInputError);
    const s = new NormBounding(new FedAvg(), { maxNorm: 1 });
    expect(() => s.aggregate(new Float32Array(2), [{ clientId: 'a', weights: new Float32Array(3), numExamples: 1 }], 1)).toThrow(/'a'/);
  });
});
