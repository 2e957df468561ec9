import { clipL2, gaussianMechanism, type NoiseSource } from '../../privacy/dp/index.js';
import { InvalidInputError, StateError } from '../../core/errors.js';
import { AggregationError, type ClientUpdate, type FitInstructions, type Strategy } from './strategy.js';

/** Server-side clipping and noise of client-level DP-FedAvg. */
export interface DpFixedClippingOptions {
  /** L2 bound S on each client's model delta. */
  clipNorm: number;
  /** Noise multiplier z: the noise on the sum of deltas has standard deviation z * S. */
  noiseMultiplier: number;
  noise: NoiseSource;
  /** Fixed-point step of the noised sum; default `defaultGridStep(clipNorm, model size)`. */
  gridStep?: number;
}

/**
 * Client-level differential privacy on the server (McMahan et al. 2018, "Learning Differentially
 * Private Recurrent Language Models", Algorithm 1 with flat clipping): each client's delta is
 * clipped to L2 norm S, the clipped deltas are summed, the sum is rounded to the grid and the exact
 * discrete Gaussian with sigma = z x (S in grid steps + sqrt(d)) is added (`gaussianMechanism`), and
 * the sum is divided by the number of updates m. Every client counts equally, so one
 * client changes the sum by at most S; weighting by example counts would let a large client exceed it.
 * The noisy mean delta is handed to the wrapped strategy as a single update, so a server optimiser
 * (FedAdam, FedYogi) treats it as its pseudo-gradient and the noise is never bypassed.
 */
export class DpFixedClipping implements Strategy {
  readonly name: string;

  constructor(
    private readonly inner: Strategy,
    private readonly options: DpFixedClippingOptions,
  ) {
    if (!(options.clipNorm > 0)) throw new InvalidInputError('DP_CLIP_INVALID', `clip norm must be positive, got ${options.clipNorm}`);
    if (!(options.noiseMultiplier >= 0)) throw new InvalidInputError('DP_NOISE_INVALID', `noise multiplier must be non-negative, got ${options.noiseMultiplier}`);
    this.name = `dp-fixed-clipping(${inner.name})`;
  }

  /** The wrapped strategy's state. */
  saveState(): Uint8Array | null {
    return this.inner.saveState?.() ?? null;
  }

  /** Hands saved state to the wrapped strategy. */
  loadState(state: Uint8Array): void {
    if (!this.inner.loadState) throw new StateError('STRATEGY_STATE_INVALID', `${this.inner.name} keeps no state between rounds; there is nothing to continue`);
    this.inner.loadState(state);
  }

  /** The wrapped strategy's instructions to clients. */
  configureFit(round: number): FitInstructions {
    return this.inner.configureFit(round);
  }

  /** Clips each delta, sums, adds noise to the sum and lets the wrapped strategy apply the mean. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], round: number): Float32Array {
    if (updates.length === 0) throw new AggregationError('AGGREGATION_EMPTY', `round ${round} has no updates to aggregate`);
    const d = global.length;
    const sum = new Float64Array(d);
    const delta = new Float64Array(d);
    for (const update of updates) {
      if (update.weights.length !== d) {
        throw new AggregationError('AGGREGATION_SHAPE', `update from '${update.clientId}' has ${update.weights.length} values, the model ${d}`);
      }
      for (let k = 0; k < d; k++) delta[k] = update.weights[k] - global[k];
      const clipped = clipL2(delta, this.options.clipNorm);
      for (let k = 0; k < d; k++) sum[k] += clipped[k];
    }
    const released = gaussianMechanism(sum, { l2Sensitivity: this.options.clipNorm, noiseMultiplier: this.options.noiseMultiplier, gridStep: this.options.gridStep }, this.options.noise);
    const m = updates.length;
    const noisy = new Float32Array(d);
    for (let k = 0; k < d; k++) noisy[k] = global[k] + released[k] / m;
    delta.fill(0);
    sum.fill(0);
    return this.inner.aggregate(global, [{ clientId: 'dp-aggregate', weights: noisy, numExamples: 1 }], round);
  }
}
