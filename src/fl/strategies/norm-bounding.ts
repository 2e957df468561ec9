import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.js';
import { clipL2 } from '../../privacy/dp/index.js';
import { checkUpdates, type ClientUpdate, type FitInstructions, type Strategy } from './strategy.js';

/** Options of {@link NormBounding}. */
export const NormBoundingOptionsSchema = z.object({
  /** L2 bound M on each client's model delta w_k − w_global. */
  maxNorm: z.number().finite().positive(),
});
export type NormBoundingOptions = z.infer<typeof NormBoundingOptionsSchema>;

/**
 * Norm bounding (Sun et al. 2019, "Can You Really Backdoor Federated Learning?", §3 "norm
 * thresholding"): every client's delta Δ_k is scaled to Δ_k · min(1, M / ||Δ_k||₂) before the wrapped
 * strategy aggregates, so no single client can move the model by more than M. Without DP noise;
 * {@link DpFixedClipping} is the variant that also adds noise.
 */
export class NormBounding implements Strategy {
  readonly name: string;
  readonly maxNorm: number;

  constructor(
    private readonly inner: Strategy,
    options: NormBoundingOptions,
  ) {
    const parsed = NormBoundingOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new InvalidInputError('STRATEGY_CONFIG_INVALID', `norm bounding needs a finite maxNorm > 0 (got ${JSON.stringify(options)})`, parsed.error.issues);
    }
    this.maxNorm = parsed.data.maxNorm;
    this.name = `norm-bounding(${inner.name})`;
  }

  /** The wrapped strategy's instructions to clients. */
  configureFit(round: number): FitInstructions {
    return this.inner.configureFit(round);
  }

  /** Clips each delta to the bound, then lets the wrapped strategy aggregate the clipped models. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], round: number): Float32Array {
    checkUpdates(global, updates);
    return this.inner.aggregate(global, updates.map((u) => ({ ...u, weights: boundUpdate(global, u.weights, this.maxNorm) })), round);
  }
}

/** The model `global + Δ · min(1, maxNorm / ||Δ||₂)` with Δ = `weights − global`. */
export function boundUpdate(global: Float32Array, weights: Float32Array, maxNorm: number): Float32Array {
  const delta = new Float64Array(global.length);
  for (let k = 0; k < delta.length; k++) delta[k] = weights[k] - global[k];
  const clipped = clipL2(delta, maxNorm);
  const out = new Float32Array(global.length);
  for (let k = 0; k < out.length; k++) out[k] = global[k] + clipped[k];
  return out;
}
