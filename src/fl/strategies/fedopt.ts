import { z } from 'zod';
import { InvalidInputError, StateError } from '../../core/errors.js';
import { weightedAverage } from './fedavg.js';
import { AggregationError, type ClientUpdate, type FitInstructions, type Strategy } from './strategy.js';

/**
 * Options of the adaptive server optimisers. Defaults are those of Reddi et al. 2021: β1 = 0.9 and
 * β2 = 0.99 are fixed across their experiments (§5), and τ = 1e-3 comes from their adaptivity grid.
 * The server learning rate η has no default because the paper tunes it per task.
 */
export const FedOptOptionsSchema = z.object({
  /** Server learning rate η > 0. */
  eta: z.number().finite().positive(),
  /** First-moment decay β1 ∈ [0, 1). */
  beta1: z.number().min(0).lt(1).default(0.9),
  /** Second-moment decay β2 ∈ [0, 1). */
  beta2: z.number().min(0).lt(1).default(0.99),
  /** Adaptivity τ > 0: bounds the per-coordinate step at η·|m| / τ. */
  tau: z.number().finite().positive().default(1e-3),
});
export type FedOptOptions = z.input<typeof FedOptOptionsSchema>;
type ResolvedFedOptOptions = z.output<typeof FedOptOptionsSchema>;

/**
 * Server-side adaptive optimiser over FedAvg's pseudo-gradient (Reddi et al. 2021, "Adaptive
 * Federated Optimization", Algorithm 2). Subclasses differ only in the second-moment update.
 * Stateful: m and v live across rounds, sized by the first aggregation.
 */
export abstract class FedOpt implements Strategy {
  abstract readonly name: string;
  readonly linear = true;
  readonly options: Readonly<ResolvedFedOptOptions>;
  private m: Float64Array | null = null;
  private v: Float64Array | null = null;

  constructor(options: FedOptOptions) {
    const parsed = FedOptOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new InvalidInputError(
        'STRATEGY_CONFIG_INVALID',
        `adaptive server optimiser options are invalid (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); need eta > 0, beta1 and beta2 in [0, 1), tau > 0`,
        parsed.error.issues,
      );
    }
    this.options = parsed.data;
  }

  /** Clients run plain local SGD; the adaptivity is all on the server. */
  configureFit(_round: number): FitInstructions {
    return { proximalMu: 0 };
  }

  /** One server step x_{t+1} = x_t + η m_t / (√v_t + τ) from this round's updates. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], _round: number): Float32Array {
    const { eta, beta1, tau } = this.options;
    // Algorithm 2 line 10 averages Δ_i uniformly; weighting by examples (as FedAvg does) keeps
    // large clients from being diluted and equals the paper when all counts are equal.
    const mean = weightedAverage(global, updates);
    const { m, v } = this.state(global.length);
    const out = new Float32Array(global.length);
    for (let i = 0; i < out.length; i++) {
      const delta = mean[i] - global[i];
      // Algorithm 2 line 11: m_t = β1 m_{t−1} + (1 − β1) Δ_t.
      m[i] = beta1 * m[i] + (1 - beta1) * delta;
      v[i] = this.secondMoment(v[i], delta * delta);
      // Algorithm 2 line 15; no bias correction, as in the paper (v starts at τ², not 0).
      out[i] = global[i] + (eta * m[i]) / (Math.sqrt(v[i]) + tau);
    }
    return out;
  }

  /** m then v as float64 (the platform's byte order, little-endian wherever Node runs here), or null before the first aggregation. */
  saveState(): Uint8Array | null {
    if (this.m === null || this.v === null) return null;
    const both = new Float64Array(this.m.length * 2);
    both.set(this.m);
    both.set(this.v, this.m.length);
    return new Uint8Array(both.buffer);
  }

  /** Continues from saved moments, as if this instance had run the rounds that produced them. */
  loadState(state: Uint8Array): void {
    if (state.byteLength === 0 || state.byteLength % 16 !== 0) {
      throw new StateError('STRATEGY_STATE_INVALID', `${this.name} state must hold two equal float64 vectors, got ${state.byteLength} bytes; it was not saved by ${this.name}`);
    }
    const both = new Float64Array(state.byteLength / 8);
    new Uint8Array(both.buffer).set(state);
    const length = both.length / 2;
    if (both.subarray(length).some((v) => !(v > 0))) {
      throw new StateError('STRATEGY_STATE_INVALID', `${this.name} state has a second moment that is not positive; it was not saved by ${this.name}`);
    }
    this.m = both.slice(0, length);
    this.v = both.slice(length);
  }

  /** v_t from v_{t−1} and Δ_t² for one coordinate (Algorithm 2 lines 13–14). */
  protected abstract secondMoment(vPrev: number, deltaSq: number): number;

  private state(length: number): { m: Float64Array; v: Float64Array } {
    if (this.m === null || this.v === null) {
      this.m = new Float64Array(length);
      // Algorithm 2 line 1 requires v_{−1} ≥ τ²; τ² is the smallest, so the first step is not inflated.
      this.v = new Float64Array(length).fill(this.options.tau * this.options.tau);
    } else if (this.m.length !== length) {
      throw new AggregationError(
        'AGGREGATION_SHAPE',
        `${this.name} holds optimiser state for ${this.m.length} weights but the global model now has ${length}; start a new strategy instance for a new architecture`,
        { expected: this.m.length, actual: length },
      );
    }
    return { m: this.m, v: this.v };
  }
}

/** FedAdam (Reddi et al. 2021, Algorithm 2): Adam's exponential average of Δ² as the second moment. */
export class FedAdam extends FedOpt {
  readonly name = 'fedadam';

  protected secondMoment(vPrev: number, deltaSq: number): number {
    // Algorithm 2 line 14: v_t = β2 v_{t−1} + (1 − β2) Δ_t².
    const { beta2 } = this.options;
    return beta2 * vPrev + (1 - beta2) * deltaSq;
  }
}

/** FedYogi (Reddi et al. 2021, Algorithm 2): Yogi's additive second moment, which grows v slowly and avoids Adam's rapid forgetting. */
export class FedYogi extends FedOpt {
  readonly name = 'fedyogi';

  protected secondMoment(vPrev: number, deltaSq: number): number {
    // Algorithm 2 line 13: v_t = v_{t−1} − (1 − β2) Δ_t² sign(v_{t−1} − Δ_t²).
    const { beta2 } = this.options;
    return vPrev - (1 - beta2) * deltaSq * Math.sign(vPrev - deltaSq);
  }
}
