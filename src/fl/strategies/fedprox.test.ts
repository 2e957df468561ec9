import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { FedAvg } from './fedavg.js';
import { FedProx } from './fedprox.js';

describe('FedProx', () => {
  it('passes its mu to every round', () => {
    const s = new FedProx({ mu: 0.01 });
    expect(s.name).toBe('fedprox');
    expect(s.configureFit(1)).toEqual({ proximalMu: 0.01 });
    expect(s.configureFit(7)).toEqual({ proximalMu: 0.01 });
  });

  it('aggregates exactly as FedAvg', () => {
    const global = new Float32Array(2);
    const updates = [
      { clientId: 'a', weights: Float32Array.from([1, 5]), numExamples: 3 },
      { clientId: 'b', weights: Float32Array.from([-2, 1]), numExamples: 5 },
    ];
    expect(new FedProx({ mu: 1 }).aggregate(global, updates, 1)).toEqual(new FedAvg().aggregate(global, updates, 1));
  });

  it.each([-0.1, Number.NaN, Number.POSITIVE_INFINITY])('refuses mu = %s', (mu) => {
    expect(() => new FedProx({ mu })).toThrow(InvalidInputError);
  });
});
