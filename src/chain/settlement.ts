import { getAddress, type Address, type Hex } from 'viem';
import { InvalidInputError } from '../core/errors.js';
import { REPUTATION_ONE, type NexusClient, type ReputationRecord } from './client.js';
import type { RewardTree } from './merkle.js';

/** What the coordinator knows at the end of a round: each participant's contribution score and the flagged ones. */
export interface RoundOutcome {
  /** The chain's round number: global and increasing across jobs (the same number for rewards and reputation). */
  round: bigint;
  /** Non-negative contribution scores (e.g. sample counts or validation gains); only their ratios matter. */
  contributions: readonly { account: Address; score: number }[];
  /** Participants the poisoning detector flagged, with the evidence (a report hash or text) for the slash. */
  flagged?: readonly { account: Address; evidence: string }[];
  /** Tokens (base units) to split; the registry's reward per round unless given. Either way at most what the reward epoch has left. */
  reward?: bigint;
}

export interface RoundSettlement {
  round: bigint;
  /** The posted reward tree (undefined when nobody earned anything); publish `tree.dump()` to participants. */
  tree?: RewardTree;
  /** Each paid participant's reward, base units. */
  rewards: readonly { account: Address; amount: bigint }[];
  /**
   * The slash proposed against each flagged participant: what it will take once its challenge
   * period has passed (`challengeEndsAt`, unix seconds) unless contested or cancelled; amount 0
   * and no evidence when none was proposed (no stake, or a slash of it is still open).
   */
  slashes: readonly { account: Address; amount: bigint; evidence?: Hex; challengeEndsAt?: bigint }[];
  /** Gas the coordinator spent: root, reputation batch and slash proposals. */
  gasUsed: bigint;
}

/** Splits `reward` in proportion to `scores` (each share floored, so the sum never exceeds `reward` and falls short by less than one base unit per share). */
export function splitReward(reward: bigint, scores: readonly number[]): bigint[] {
  const fixed = scores.map((s) => {
    if (!Number.isFinite(s) || s < 0) throw new InvalidInputError('SETTLEMENT_BAD_SCORE', `a contribution score must be a finite number >= 0, got ${s}`);
    return BigInt(Math.round(s * 1e9));
  });
  const sum = fixed.reduce((a, b) => a + b, 0n);
  if (sum === 0n) return scores.map(() => 0n);
  return fixed.map((f) => (reward * f) / sum);
}

/**
 * After a round: pays contributions through one Merkle root, records reputation (the best
 * contributor earns one full point, the rest in proportion; a flagged participant earns nothing
 * and loses a full point) and proposes a slash of every flagged participant that has stake and no
 * open slash. This is what the coordinator calls once per round, signed by its client (POSTER,
 * UPDATER and SLASHER roles).
 */
export async function settleRound(coordinator: NexusClient, outcome: RoundOutcome): Promise<RoundSettlement> {
  const flagged = new Map((outcome.flagged ?? []).map((f) => [getAddress(f.account), f.evidence]));
  const honest = outcome.contributions.filter((c) => !flagged.has(getAddress(c.account)));
  const wanted = outcome.reward ?? (await coordinator.parameters()).rewardPerRound;
  // The distributor refuses a root past the epoch's budget; pay what is left instead of failing the round.
  const left = await coordinator.epochRewardLeft();
  const reward = wanted < left ? wanted : left;
  const amounts = splitReward(reward, honest.map((c) => c.score));
  const rewards = honest.map((c, i) => ({ account: getAddress(c.account), amount: amounts[i] })).filter((r) => r.amount > 0n);
  let gasUsed = 0n;
  let tree: RewardTree | undefined;
  if (rewards.length > 0) {
    const posted = await coordinator.postRewardRoot(outcome.round, rewards);
    tree = posted.tree;
    gasUsed += posted.gasUsed;
  }

  const best = Math.max(0, ...honest.map((c) => c.score));
  const records: ReputationRecord[] = [
    ...honest.map((c) => ({ account: getAddress(c.account), contribution: best > 0 ? (REPUTATION_ONE * BigInt(Math.round((c.score / best) * 1e6))) / 1_000_000n : 0n, penalty: 0n })),
    ...[...flagged.keys()].map((account) => ({ account, contribution: 0n, penalty: REPUTATION_ONE })),
  ];
  if (records.length > 0) gasUsed += (await coordinator.recordReputation(outcome.round, records)).gasUsed;

  const slashes: RoundSettlement['slashes'][number][] = [];
  for (const [account, evidence] of flagged) {
    const { active, pending } = await coordinator.stakeOf(account);
    // One open slash per account: a repeat offence within the challenge period costs reputation only.
    if (active + pending === 0n || (await coordinator.openSlashOf(account))) {
      slashes.push({ account, amount: 0n });
      continue;
    }
    const proposed = await coordinator.proposeSlash(account, `round ${outcome.round}: ${evidence}`);
    slashes.push({ account, amount: proposed.amount, evidence: proposed.evidence, challengeEndsAt: proposed.challengeEndsAt });
    gasUsed += proposed.gasUsed;
  }
  return { round: outcome.round, tree, rewards, slashes, gasUsed };
}

/** What client selection needs about candidates, in one call: stake eligibility and reputation. */
export async function participantStanding(client: NexusClient, accounts: readonly Address[]): Promise<{ account: Address; eligible: boolean; reputation: bigint }[]> {
  const reputations = await client.reputationsOf(accounts);
  const eligible = await Promise.all(accounts.map((a) => client.isEligible(a)));
  return accounts.map((account, i) => ({ account: getAddress(account), eligible: eligible[i], reputation: reputations[i] }));
}
