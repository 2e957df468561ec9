/**
 * What a federated job asks of an incentive system (the token economy of layer 4, or none): who may
 * join, how likely each is to be picked, and what each round pays or costs. The job only talks to
 * this interface, so the learning layer never depends on a chain; the surfaces compose the two.
 */

import type { FlaggedClient } from './poisoning-detector.js';

/** A node the incentives would not let in, and why, in words an operator can act on. */
export interface AdmissionRefusal {
  clientId: string;
  /** Stable error code, e.g. NODE_STAKE_TOO_LOW. */
  code: string;
  reason: string;
}

/** A token amount: exact base units as a decimal string, and a figure for people. */
export interface TokenAmount {
  units: string;
  display: string;
}

/** What one round's contributions and misbehaviour came to. */
export interface RoundContributions {
  /** Non-negative scores; only their ratios matter. */
  contributions: readonly { clientId: string; score: number }[];
  /** Clients the poisoning detector flagged, with the evidence kept with the penalty; they earn nothing this round. */
  flagged: readonly { clientId: string; evidence: string }[];
}

/** What the incentives did after a round. */
export interface RoundSettlementReport {
  /** The reward Merkle root posted for the round (hex), or the zero hash when nobody earned anything. */
  rewardRoot: string;
  /** The incentive system's own number for this round (global across jobs on a chain). */
  ledgerRound: string;
  paid: TokenAmount;
  rewards: readonly { clientId: string; amount: TokenAmount }[];
  /** The slash proposed against each flagged client (0 when none was); it takes effect after the chain's challenge period unless contested or cancelled. */
  slashed: readonly { clientId: string; amount: TokenAmount }[];
}

/** A participant's standing when the job ends. */
export interface ParticipantBalance {
  clientId: string;
  account: string;
  /** Rewards the participant claimed for this job's rounds. */
  earned: TokenAmount;
  /** Its token balance after claiming. */
  balance: TokenAmount;
}

/** What the incentives report when the job ends (rewards claimed). */
export interface IncentivesSummary {
  /** Where the ledger lives, e.g. "in-process EVM, chain 31337". */
  network: string;
  /** The parameters read when the job started. */
  rewardPerRound: TokenAmount;
  minimumStake: TokenAmount;
  balances: readonly ParticipantBalance[];
}

/**
 * The incentive hooks of a job. Every method may reach a remote ledger, so all are async; a
 * refusal is data (a node below the minimum stake), a failure to reach the ledger throws.
 */
export interface RoundIncentives {
  /** Which of `clientIds` may not take part (checked at registration and before every round). */
  admit(clientIds: readonly string[]): Promise<AdmissionRefusal[]>;
  /** Sampling weight per client for selection (e.g. from reputation); every id gets a positive weight. */
  selectionWeights(clientIds: readonly string[]): Promise<Record<string, number>>;
  /** Pays job round `round`'s contributions and penalises the flagged clients. */
  settle(round: number, outcome: RoundContributions): Promise<RoundSettlementReport>;
  /** Ends the job: rewards are claimed and balances read. */
  finish(): Promise<IncentivesSummary>;
}

/**
 * A round's contribution score per participant is the number of examples it trained on: FedAvg
 * weights each update by exactly that (McMahan et al. 2017), so a participant's reward share equals
 * its share of the aggregate; scores from model quality would need individual updates, which secure
 * aggregation hides. A flagged participant earns nothing and is penalised, with the detector's
 * statistics as evidence.
 */
export function roundContributions(jobId: string, round: number, accepted: readonly { clientId: string; numExamples: number }[], flagged: readonly FlaggedClient[]): RoundContributions {
  const reasons = new Map<string, string[]>();
  for (const f of flagged) reasons.set(f.clientId, [...(reasons.get(f.clientId) ?? []), `${f.reason} ${f.score.toPrecision(4)}`]);
  return {
    contributions: [...accepted].sort((a, b) => (a.clientId < b.clientId ? -1 : 1)).map((x) => ({ clientId: x.clientId, score: x.numExamples })),
    flagged: [...reasons].map(([clientId, why]) => ({ clientId, evidence: `job ${jobId} round ${round} ${clientId}: ${why.join(', ')}` })),
  };
}
