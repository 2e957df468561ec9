import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.js';
import { AggregationError, checkUpdates, type ClientUpdate, type FitInstructions, type Strategy } from './strategy.js';

/** Options of {@link Krum}. */
export const KrumOptionsSchema = z.object({
  /** Number of Byzantine clients f the rule must tolerate; a round needs n ≥ 2f + 3 updates. */
  f: z.number().int().nonnegative(),
  /** Multi-Krum: how many best-scored updates to average (1 ≤ m ≤ n − f); 1, the default, is Krum. */
  m: z.number().int().positive().default(1),
});
export type KrumOptions = z.input<typeof KrumOptionsSchema>;

/**
 * Krum's selection (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine Tolerant
 * Gradient Descent", §4): the score of update i is the sum of squared L2 distances to its n − f − 2
 * nearest other updates, and the m updates of lowest score are chosen. Needs n > 2f + 2 (Prop. 1).
 * Ties go to the smaller client id, so the choice does not depend on arrival order.
 */
export function krumSelect(updates: readonly ClientUpdate[], f: number, m = 1): ClientUpdate[] {
  const n = updates.length;
  if (n < 2 * f + 3) {
    throw new AggregationError(
      'AGGREGATION_TOO_FEW',
      `Krum with f = ${f} needs at least 2f + 3 = ${2 * f + 3} updates, this round has ${n}; lower f or wait for more clients`,
      { n, f },
    );
  }
  if (m > n - f) {
    throw new AggregationError('AGGREGATION_TOO_FEW', `Multi-Krum averages m = ${m} updates but only n − f = ${n - f} are trusted; lower m`, { n, f, m });
  }
  const ordered = [...updates].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  const dist = pairwiseSquaredDistances(ordered);
  const neighbours = n - f - 2;
  const scores = ordered.map((_, i) => {
    const row = Array.from(dist.subarray(i * n, (i + 1) * n)).filter((_, j) => j !== i);
    row.sort((a, b) => a - b);
    return row.slice(0, neighbours).reduce((s, x) => s + x, 0);
  });
  const rank = ordered.map((_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
  return rank.slice(0, m).map((i) => ordered[i]);
}

function pairwiseSquaredDistances(updates: readonly ClientUpdate[]): Float64Array {
  const n = updates.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = updates[i].weights;
    for (let j = i + 1; j < n; j++) {
      const b = updates[j].weights;
      let s = 0;
      for (let k = 0; k < a.length; k++) {
        const diff = a[k] - b[k];
        s += diff * diff;
      }
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/**
 * Krum and Multi-Krum (Blanchard et al. 2017): the next global model is the plain mean of the m
 * updates {@link krumSelect} chooses. The mean is unweighted as in the paper: example counts are
 * reported by the clients themselves, and a robust rule must not let an attacker buy weight with them.
 */
export class Krum implements Strategy {
  readonly name: string;
  readonly options: Readonly<{ f: number; m: number }>;

  constructor(options: KrumOptions) {
    const parsed = KrumOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new InvalidInputError(
        'STRATEGY_CONFIG_INVALID',
        `Krum needs an integer f >= 0 and, for Multi-Krum, an integer m >= 1 (got ${JSON.stringify(options)})`,
        parsed.error.issues,
      );
    }
    this.options = parsed.data;
    this.name = parsed.data.m === 1 ? 'krum' : 'multi-krum';
  }

  /** Krum clients run plain local SGD. */
  configureFit(_round: number): FitInstructions {
    return { proximalMu: 0 };
  }

  /** The unweighted mean of the m lowest-scored updates. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], _round: number): Float32Array {
    checkUpdates(global, updates);
    const chosen = krumSelect(updates, this.options.f, this.options.m);
    const sum = new Float64Array(global.length);
    for (const u of chosen) for (let k = 0; k < sum.length; k++) sum[k] += u.weights[k];
    const out = new Float32Array(global.length);
    for (let k = 0; k < out.length; k++) out[k] = sum[k] / chosen.length;
    return out;
  }
}
