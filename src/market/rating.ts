import { getAddress, isAddress, type Address } from 'viem';
import { z } from 'zod';
import { CipherNexusError, formatZodIssue } from '../core/index.js';

/**
 * Buyers' ratings of a data asset after a job, shown beside its quality report. Each rating counts
 * with the rater's reputation as its weight, so a ring of fresh accounts cannot outvote buyers
 * with a record; a rater with no reputation is heard (counted) but weighs nothing.
 */

/** Lowest and highest score. */
export const RATING_MIN = 1;
export const RATING_MAX = 5;

/** Why a rating was refused. */
export type RatingErrorCode = 'RATING_INVALID' | 'RATING_OUT_OF_RANGE' | 'RATING_NOT_A_BUYER' | 'RATING_DUPLICATE' | 'RATING_REPUTATION_INVALID';

/** A rating was refused; the ratings are as they were. */
export class RatingError extends CipherNexusError {
  declare readonly code: RatingErrorCode;

  constructor(code: RatingErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}

/** One buyer's rating of an asset, for the fill (purchase) whose job it judges. */
export const RatingSchema = z
  .object({
    assetId: z.string().min(1).max(128),
    /** The fill that bought the job being rated. */
    fillId: z.string().min(1).max(128),
    /** The buyer's account; compared in checksum form. */
    rater: z
      .string()
      .refine((a) => isAddress(a, { strict: false }), 'expected a 0x-prefixed 20-byte address')
      .transform((a) => getAddress(a)),
    // NaN passes here so that it is refused as out of range, like any other score that is not 1 to 5.
    score: z.union([z.number(), z.nan()]),
  })
  .strict();

/** One buyer's rating of an asset. */
export type Rating = z.output<typeof RatingSchema>;
/** A rating as submitted. */
export type RatingInput = z.input<typeof RatingSchema>;

/** Whether `rater` bought a job through `fillId` and that job has completed. */
export type CompletedPurchase = (rater: Address, fillId: string, assetId: string) => boolean | Promise<boolean>;

/** A rater's reputation, non-negative; the chain's score (a bigint) or any other. */
export type ReputationOf = (rater: Address) => number | bigint;

/** The reputation-weighted summary of an asset's ratings. */
export interface WeightedRating {
  /** Weighted mean score; undefined when no rating carries weight. */
  mean: number | undefined;
  /** Ratings counted, including those of raters with no reputation. */
  count: number;
  /** Sum of the raters' reputations. */
  totalWeight: number;
}

function checked(input: RatingInput): Rating {
  const parsed = RatingSchema.safeParse(input);
  if (!parsed.success) {
    throw new RatingError('RATING_INVALID', `the rating is malformed: ${formatZodIssue(parsed.error.issues[0], { what: 'rating', input })}`, { issues: parsed.error.issues });
  }
  const { score } = parsed.data;
  if (!Number.isInteger(score) || score < RATING_MIN || score > RATING_MAX) {
    throw new RatingError('RATING_OUT_OF_RANGE', `a rating is a whole number from ${RATING_MIN} to ${RATING_MAX}, not ${score}; rate again within that range`, { score });
  }
  return parsed.data;
}

const key = (r: Rating): string => `${r.fillId}\0${r.rater}`;

function duplicate(r: Rating): RatingError {
  return new RatingError('RATING_DUPLICATE', `${r.rater} has already rated fill '${r.fillId}'; a buyer rates each purchase once`, { rater: r.rater, fillId: r.fillId });
}

/** Mean score weighted by each rater's reputation; refuses out-of-range scores, a second rating of one fill by one rater, and a negative reputation. */
export function weightedRating(ratings: readonly RatingInput[], reputationOf: ReputationOf): WeightedRating {
  const seen = new Set<string>();
  let totalWeight = 0;
  let weighted = 0;
  for (const input of ratings) {
    const rating = checked(input);
    if (seen.has(key(rating))) throw duplicate(rating);
    seen.add(key(rating));
    const raw = reputationOf(rating.rater);
    const weight = typeof raw === 'bigint' ? Number(raw) : raw;
    if (!(Number.isFinite(weight) && weight >= 0)) {
      throw new RatingError('RATING_REPUTATION_INVALID', `the reputation of ${rating.rater} is ${String(raw)}; a weight must be a finite number of at least 0`, { rater: rating.rater, reputation: String(raw) });
    }
    totalWeight += weight;
    weighted += weight * rating.score;
  }
  return { mean: totalWeight > 0 ? weighted / totalWeight : undefined, count: seen.size, totalWeight };
}

/** The ratings of assets, admitting one per buyer per completed purchase. */
export class RatingBook {
  private readonly byKey = new Map<string, Rating>();

  constructor(private readonly completedPurchase: CompletedPurchase) {}

  /** Records a rating after checking its range, that the rater completed the purchase, and that it is the first for that fill. */
  async rate(input: RatingInput): Promise<Rating> {
    const rating = checked(input);
    if (this.byKey.has(key(rating))) throw duplicate(rating);
    if (!(await this.completedPurchase(rating.rater, rating.fillId, rating.assetId))) {
      throw new RatingError(
        'RATING_NOT_A_BUYER',
        `${rating.rater} has no completed purchase of asset '${rating.assetId}' through fill '${rating.fillId}'; only a buyer whose job has completed may rate it`,
        { rater: rating.rater, fillId: rating.fillId, assetId: rating.assetId },
      );
    }
    // Checked again: another rating of this fill may have been admitted while the predicate was awaited.
    if (this.byKey.has(key(rating))) throw duplicate(rating);
    this.byKey.set(key(rating), rating);
    return rating;
  }

  /** The ratings of one asset, in the order they were made. */
  ratingsOf(assetId: string): Rating[] {
    return [...this.byKey.values()].filter((r) => r.assetId === assetId);
  }

  /** The reputation-weighted summary of one asset's ratings. */
  summaryOf(assetId: string, reputationOf: ReputationOf): WeightedRating {
    return weightedRating(this.ratingsOf(assetId), reputationOf);
  }
}
