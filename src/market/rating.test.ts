import { getAddress, type Address } from 'viem';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPUTATION_ONE, startEmbeddedNexus, type EmbeddedNexus } from '../chain/index.js';
import { RatingBook, RatingError, weightedRating, type RatingInput } from './rating.js';

const alice = '0x00000000000000000000000000000000000a11ce';
const bob = '0x0000000000000000000000000000000000000b0b';
const carol = '0x00000000000000000000000000000000000ca201';

function refusal(run: () => unknown): RatingError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RatingError);
    return error as RatingError;
  }
  throw new Error('a bad rating was accepted');
}

describe('weightedRating', () => {
  const reputation = new Map<string, number>([
    [getAddress(alice), 3],
    [getAddress(bob), 1],
    [getAddress(carol), 0],
  ]);
  const reputationOf = (rater: Address) => reputation.get(rater) ?? 0;

  it('weights each score by its rater’s reputation; zero reputation is counted but weighs nothing', () => {
    const ratings: RatingInput[] = [
      { assetId: '1', fillId: 'f1', rater: alice, score: 5 },
      { assetId: '1', fillId: 'f2', rater: bob, score: 1 },
      { assetId: '1', fillId: 'f3', rater: carol, score: 1 },
    ];
    expect(weightedRating(ratings, reputationOf)).toEqual({ mean: (3 * 5 + 1 * 1) / 4, count: 3, totalWeight: 4 });
    expect(weightedRating([ratings[2]], reputationOf)).toEqual({ mean: undefined, count: 1, totalWeight: 0 });
    expect(weightedRating([], reputationOf)).toEqual({ mean: undefined, count: 0, totalWeight: 0 });
  });

  it('lies between the lowest and highest weighted score and equals the plain mean under equal reputations', () => {
    const ratingArb = fc.uniqueArray(fc.record({ fill: fc.integer({ min: 0, max: 1000 }), score: fc.integer({ min: 1, max: 5 }), weight: fc.integer({ min: 0, max: 100 }) }), {
      maxLength: 30,
      selector: (r) => r.fill,
    });
    fc.assert(
      fc.property(ratingArb, (rows) => {
        const ratings = rows.map((r) => ({ assetId: '1', fillId: `f${r.fill}`, rater: alice, score: r.score }));
        const weights = rows.map((r) => r.weight);
        let i = 0;
        const summary = weightedRating(ratings, () => weights[i++]);
        expect(summary.count).toBe(rows.length);
        expect(summary.totalWeight).toBe(weights.reduce((a, b) => a + b, 0));
        const weighted = rows.filter((r) => r.weight > 0).map((r) => r.score);
        if (weighted.length === 0) expect(summary.mean).toBeUndefined();
        else {
          expect(summary.mean).toBeGreaterThanOrEqual(Math.min(...weighted) - 1e-12);
          expect(summary.mean).toBeLessThanOrEqual(Math.max(...weighted) + 1e-12);
        }
        if (rows.length > 0) expect(weightedRating(ratings, () => 7).mean).toBeCloseTo(rows.reduce((s, r) => s + r.score, 0) / rows.length, 12);
      }),
    );
  });

  it('refuses a score out of range, a second rating of one fill by one rater, and a negative reputation', () => {
    for (const score of [0, 6, 2.5, Number.NaN]) {
      const error = refusal(() => weightedRating([{ assetId: '1', fillId: 'f1', rater: alice, score }], reputationOf));
      expect(error.code).toBe('RATING_OUT_OF_RANGE');
      expect(error.message).toContain('from 1 to 5');
    }
    // The same rater in another spelling of the address is the same rater.
    const twice = [
      { assetId: '1', fillId: 'f1', rater: alice, score: 4 },
      { assetId: '1', fillId: 'f1', rater: alice.toUpperCase().replace('0X', '0x'), score: 2 },
    ];
    expect(refusal(() => weightedRating(twice, reputationOf)).code).toBe('RATING_DUPLICATE');
    expect(refusal(() => weightedRating([{ assetId: '1', fillId: 'f1', rater: alice, score: 4 }], () => -1)).code).toBe('RATING_REPUTATION_INVALID');
    expect(refusal(() => weightedRating([{ assetId: '1', fillId: 'f1', rater: 'alice', score: 4 }], reputationOf)).code).toBe('RATING_INVALID');
  });
});

describe('RatingBook', () => {
  const completed = new Set([`f1:${getAddress(alice)}`, `f2:${getAddress(bob)}`, `f3:${getAddress(carol)}`]);
  const purchased = (rater: Address, fillId: string) => completed.has(`${fillId}:${rater}`);

  it('admits one rating per buyer per completed purchase and refuses the rest', async () => {
    const book = new RatingBook(purchased);
    await book.rate({ assetId: '7', fillId: 'f1', rater: alice, score: 4 });
    await expect(book.rate({ assetId: '7', fillId: 'f1', rater: alice, score: 5 })).rejects.toMatchObject({ code: 'RATING_DUPLICATE' });
    await expect(book.rate({ assetId: '7', fillId: 'f1', rater: bob, score: 5 })).rejects.toMatchObject({ code: 'RATING_NOT_A_BUYER' });
    await expect(book.rate({ assetId: '7', fillId: 'f2', rater: bob, score: 9 })).rejects.toMatchObject({ code: 'RATING_OUT_OF_RANGE' });
    expect(book.ratingsOf('7')).toEqual([{ assetId: '7', fillId: 'f1', rater: getAddress(alice), score: 4 }]);
  });

  it('does not admit two ratings of one fill raced through a slow purchase check', async () => {
    const book = new RatingBook(async (rater, fillId) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return purchased(rater, fillId);
    });
    const results = await Promise.allSettled([book.rate({ assetId: '7', fillId: 'f1', rater: alice, score: 4 }), book.rate({ assetId: '7', fillId: 'f1', rater: alice, score: 1 })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(book.ratingsOf('7')).toHaveLength(1);
  });
});

describe('ratings weighted by on-chain reputation', () => {
  let n: EmbeddedNexus;
  beforeAll(async () => {
    // The first account is the coordinator, which records reputation; the other three are buyers.
    n = await startEmbeddedNexus({ accounts: 4 });
  });

  it('weights buyers by the Reputation contract’s scores', async () => {
    const [a, b, c] = n.participants.map((p) => p.account);
    await n.coordinator.recordReputation(1n, [
      { account: a, contribution: REPUTATION_ONE, penalty: 0n },
      { account: b, contribution: REPUTATION_ONE / 4n, penalty: 0n },
    ]);
    const scores = await n.coordinator.reputationsOf([a, b, c]);
    const byAccount = new Map([a, b, c].map((account, i) => [getAddress(account), scores[i]]));
    const book = new RatingBook(() => true);
    await book.rate({ assetId: '1', fillId: 'fa', rater: a, score: 5 });
    await book.rate({ assetId: '1', fillId: 'fb', rater: b, score: 1 });
    await book.rate({ assetId: '1', fillId: 'fc', rater: c, score: 1 });
    const summary = book.summaryOf('1', (rater) => byAccount.get(rater) ?? 0n);
    expect(summary).toEqual({ mean: (5 * 1_000_000 + 1 * 250_000) / 1_250_000, count: 3, totalWeight: 1_250_000 });
  });
});
