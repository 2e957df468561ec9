import { UpdateRejectedError } from './round-errors.js';

/**
 * How much an update may weigh in FedAvg. A participant declares its example count once, in its
 * signed hello; every update it sends is weighed by at most that count, and the job may cap any one
 * participant's share of a round's total weight (`aggregation.maxWeightShare`). The bounds of a round
 * are fixed when it starts, from the declared counts of the participants selected for it, so that
 * under SecAgg+ and CKKS they can be applied before masking or encryption.
 */

/** Refusal code of an update that claims more weight than its participant declared. */
export const WEIGHT_OVER_BOUND = 'UPDATE_WEIGHT_OVER_BOUND';
/** Refusal code of a hello that declares a different example count than the participant declared before. */
export const EXAMPLES_REDECLARED = 'EXAMPLES_REDECLARED';

/**
 * Each participant's weight bound for one round: its declared count, lowered where needed so that no
 * participant holds more than `maxShare` of the round's total (water-filling: everyone above a level
 * t is cut to t, the largest t that keeps the largest share at most `maxShare`). When `maxShare` is
 * below 1/n no weighting can meet it and every participant gets the same weight, the smallest
 * largest share there is. Bounds are whole numbers: FedAvg's weights are example counts.
 */
export function roundWeightBounds(declared: ReadonlyMap<string, number>, maxShare = 1): Map<string, number> {
  const entries = [...declared].filter(([, n]) => n > 0);
  const bounds = new Map(entries);
  if (maxShare >= 1 || entries.length === 0) return bounds;
  const n = entries.length;
  if (maxShare * n <= 1) {
    const level = Math.max(1, Math.min(...entries.map(([, w]) => w)));
    for (const [id] of entries) bounds.set(id, level);
    return bounds;
  }
  // Ascending: with the k largest cut to level t, the largest share is t / (below + k t) <= maxShare,
  // so t <= maxShare * below / (1 - k maxShare); the level is right when it sits between neighbours.
  const sorted = entries.map(([, w]) => w).sort((a, b) => a - b);
  let below = sorted.reduce((s, w) => s + w, 0);
  let level = Number.POSITIVE_INFINITY;
  for (let k = 1; k <= n; k++) {
    const largest = sorted[n - k];
    below -= largest;
    if (k * maxShare >= 1) break;
    const t = (maxShare * below) / (1 - k * maxShare);
    const next = k < n ? sorted[n - k - 1] : 0;
    if (t >= largest) break;
    level = t;
    if (t >= next) break;
  }
  if (!Number.isFinite(level)) return bounds;
  const whole = Math.max(1, Math.floor(level));
  for (const [id, w] of entries) bounds.set(id, Math.min(w, whole));
  return bounds;
}

/**
 * The weight an update is aggregated with: its claimed examples, never above the round's bound.
 * A claim above what the participant declared when it joined is a lie in a signed message and is
 * refused (UPDATE_WEIGHT_OVER_BOUND, a security event naming the participant).
 */
export function boundedWeight(participantId: string, claimed: number, declared: number | undefined, bound: number | undefined): number {
  if (declared === undefined || bound === undefined) {
    throw new UpdateRejectedError('UPDATE_NOT_DECLARED', `'${participantId}' declared no example count for this job; say hello with numExamples before sending updates`);
  }
  if (claimed > declared) {
    throw new UpdateRejectedError(
      WEIGHT_OVER_BOUND,
      `the update from '${participantId}' claims ${claimed} examples; it declared ${declared} when it joined and an update weighs at most that`,
      { participantId, claimed, declared },
    );
  }
  return Math.min(claimed, bound);
}
