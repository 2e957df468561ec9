import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.js';
import { checkUpdates, type ClientUpdate, type FitInstructions, type Strategy } from './strategy.js';

/** Options of {@link TrimmedMean}. */
export const TrimmedMeanOptionsSchema = z.object({
  /** Fraction β in [0, 0.5) of the updates dropped at each end of every coordinate. */
  beta: z.number().min(0).lt(0.5),
});
export type TrimmedMeanOptions = z.infer<typeof TrimmedMeanOptionsSchema>;

/**
 * Coordinate-wise β-trimmed mean (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
 * Optimal Statistical Rates", Definition 2): for every coordinate, drop the ⌊βn⌋ largest and ⌊βn⌋
 * smallest values and average the rest, unweighted. β = 0 is the plain mean.
 */
export function trimmedMean(global: Float32Array, updates: readonly ClientUpdate[], beta: number): Float32Array {
  checkUpdates(global, updates);
  const n = updates.length;
  const trim = Math.floor(beta * n);
  const kept = n - 2 * trim;
  const column = new Float64Array(n);
  const out = new Float32Array(global.length);
  for (let k = 0; k < out.length; k++) {
    for (let i = 0; i < n; i++) column[i] = updates[i].weights[k];
    column.sort();
    let s = 0;
    for (let i = trim; i < n - trim; i++) s += column[i];
    out[k] = s / kept;
  }
  return out;
}

/** Coordinate-wise trimmed-mean aggregation (Yin et al. 2018); see {@link trimmedMean}. */
export class TrimmedMean implements Strategy {
  readonly name: string = 'trimmed-mean';
  readonly beta: number;

  constructor(options: TrimmedMeanOptions) {
    const parsed = TrimmedMeanOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new InvalidInputError('STRATEGY_CONFIG_INVALID', `trimmed mean needs 0 <= beta < 0.5 (got ${JSON.stringify(options)}); 0.1 to 0.3 are typical`, parsed.error.issues);
    }
    this.beta = parsed.data.beta;
  }

  /** Trimmed-mean clients run plain local SGD. */
  configureFit(_round: number): FitInstructions {
    return { proximalMu: 0 };
  }

  /** The coordinate-wise β-trimmed mean of the client models. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], _round: number): Float32Array {
    return trimmedMean(global, updates, this.beta);
  }
}
