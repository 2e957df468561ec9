import { checkUpdates, type ClientUpdate, type FitInstructions, type Strategy } from './strategy.js';

/**
 * Coordinate-wise median of the client models (Yin et al. 2018, "Byzantine-Robust Distributed
 * Learning: Towards Optimal Statistical Rates", §3, median-based gradient descent); with an even
 * number of updates, the mean of the two middle values. Unweighted: an attacker cannot buy influence
 * by claiming many examples.
 */
export function coordinateMedian(global: Float32Array, updates: readonly ClientUpdate[]): Float32Array {
  checkUpdates(global, updates);
  const n = updates.length;
  const column = new Float64Array(n);
  const out = new Float32Array(global.length);
  const lo = (n - 1) >> 1;
  const hi = n >> 1;
  for (let k = 0; k < out.length; k++) {
    for (let i = 0; i < n; i++) column[i] = updates[i].weights[k];
    column.sort();
    out[k] = (column[lo] + column[hi]) / 2;
  }
  return out;
}

/** Coordinate-wise median aggregation (Yin et al. 2018); see {@link coordinateMedian}. */
export class Median implements Strategy {
  readonly name: string = 'median';

  /** Median clients run plain local SGD. */
  configureFit(_round: number): FitInstructions {
    return { proximalMu: 0 };
  }

  /** The coordinate-wise median of the client models. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], _round: number): Float32Array {
    return coordinateMedian(global, updates);
  }
}
