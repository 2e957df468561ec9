import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { FedAdam, FedYogi, type FedOpt } from './fedopt.js';
import { AggregationError, type ClientUpdate } from './strategy.js';

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);

/** Weighted mean [3, 1] over global [0, 1]: pseudo-gradient Δ = [3, 0]. */
const round1: ClientUpdate[] = [
  { clientId: 'a', weights: f32(1, 1), numExamples: 1 },
  { clientId: 'b', weights: f32(4, 1), numExamples: 2 },
];

describe('FedAdam', () => {
  it('takes one step as computed by hand', () => {
    const out = new FedAdam({ eta: 0.1 }).aggregate(f32(0, 1), round1, 1);
    // m = (1 − 0.9)·3 = 0.3 ; v = 0.99·τ² + 0.01·9 = 0.09000099 ; x = 0 + 0.1·0.3 / (√v + 0.001)
    expect(out[0]).toBeCloseTo(0.0996672277, 7);
    // Δ = 0 leaves the coordinate where it was.
    expect(out[1]).toBe(1);
  });

  it('uses the paper defaults β1 = 0.9, β2 = 0.99, τ = 1e-3', () => {
    expect(new FedAdam({ eta: 1 }).options).toEqual({ eta: 1, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
  });
});

describe('FedYogi', () => {
  it('takes one step as computed by hand', () => {
    const out = new FedYogi({ eta: 0.1 }).aggregate(f32(0, 1), round1, 1);
    // v = τ² − 0.01·9·sign(τ² − 9) = 0.090001 ; x = 0.1·0.3 / (√v + 0.001)
    expect(out[0]).toBeCloseTo(0.0996672222, 7);
    expect(out[1]).toBe(1);
  });

  it('shrinks v additively once v exceeds Δ² (second step by hand)', () => {
    const s = new FedYogi({ eta: 0.1, beta1: 0, beta2: 0.5, tau: 0.5 });
    // Step 1: Δ = 2, m = 2, v = 0.25 + 0.5·4 = 2.25, x = 0 + 0.1·2/(1.5 + 0.5) = 0.1
    const x1 = s.aggregate(f32(0), [{ clientId: 'a', weights: f32(2), numExamples: 1 }], 1);
    expect(x1[0]).toBeCloseTo(0.1, 6);
    // Step 2: Δ = 1, m = 1, v = 2.25 − 0.5·1·sign(2.25 − 1) = 1.75, x = 0.1 + 0.1/(√1.75 + 0.5)
    const x2 = s.aggregate(x1, [{ clientId: 'a', weights: f32(x1[0] + 1), numExamples: 1 }], 2);
    expect(x2[0]).toBeCloseTo(0.1 + 0.1 / (Math.sqrt(1.75) + 0.5), 6);
  });
});

describe.each<[string, () => FedOpt]>([
  ['FedAdam', () => new FedAdam({ eta: 0.05 })],
  ['FedYogi', () => new FedYogi({ eta: 0.05 })],
])('%s over rounds', (_name, make) => {
  it('moves steadily in the direction of a constant pseudo-gradient', () => {
    const s = make();
    const direction = [0.5, -0.25, 0];
    let x = f32(1, 1, 1);
    for (let round = 1; round <= 20; round++) {
      const next = s.aggregate(x, [{ clientId: 'c', weights: Float32Array.from(x, (xi, i) => xi + direction[i]), numExamples: 1 }], round);
      expect(next[0]).toBeGreaterThan(x[0]);
      expect(next[1]).toBeLessThan(x[1]);
      expect(next[2]).toBe(x[2]);
      x = next;
    }
  });

  it('refuses a model whose length changed since the first round', () => {
    const s = make();
    s.aggregate(f32(0, 0), [{ clientId: 'c', weights: f32(1, 1), numExamples: 1 }], 1);
    const fn = (): Float32Array => s.aggregate(f32(0, 0, 0), [{ clientId: 'c', weights: f32(1, 1, 1), numExamples: 1 }], 2);
    expect(fn).toThrow(AggregationError);
    expect(fn).toThrow(/holds optimiser state for 2 weights/);
  });

  it('asks clients for plain local training', () => {
    expect(make().configureFit(1)).toEqual({ proximalMu: 0 });
  });
});

describe('FedOpt options', () => {
  it.each([{ eta: 0 }, { eta: -1 }, { eta: 0.1, beta1: 1 }, { eta: 0.1, beta2: -0.1 }, { eta: 0.1, tau: 0 }])('refuses %j', (options) => {
    expect(() => new FedAdam(options)).toThrow(InvalidInputError);
  });
});

describe('FedOpt state across instances', () => {
  const rounds = (k: number): ClientUpdate[] => [
    { clientId: 'a', weights: f32(k, -k / 2, 1), numExamples: 1 + k },
    { clientId: 'b', weights: f32(2 * k, k, -1), numExamples: 3 },
  ];
  const steps = (strategy: FedOpt, from: Float32Array, first: number, last: number): Float32Array => {
    let global = from;
    for (let k = first; k <= last; k++) global = strategy.aggregate(global, rounds(k), k);
    return global;
  };

  it.each([
    ['FedAdam', (): FedOpt => new FedAdam({ eta: 0.3 })],
    ['FedYogi', (): FedOpt => new FedYogi({ eta: 0.3 })],
  ])('%s continued from saved state takes exactly the steps of an uninterrupted instance, and a fresh one does not', (_name, make) => {
    const start = f32(0.5, 0.5, 0.5);
    const uninterrupted = steps(make(), start, 1, 4);
    const first = make();
    expect(first.saveState()).toBeNull();
    const halfway = steps(first, start, 1, 2);
    const continued = make();
    continued.loadState(first.saveState() as Uint8Array);
    expect(Array.from(steps(continued, halfway, 3, 4))).toEqual(Array.from(uninterrupted));
    expect(Array.from(steps(make(), halfway, 3, 4))).not.toEqual(Array.from(uninterrupted));
  });

  it('refuses state it did not save', () => {
    const strategy = new FedAdam({ eta: 0.1 });
    for (const bad of [new Uint8Array(0), new Uint8Array(12), new Uint8Array(16)]) {
      expect(() => strategy.loadState(bad)).toThrow(expect.objectContaining({ code: 'STRATEGY_STATE_INVALID' }));
    }
  });
});
