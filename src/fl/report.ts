import type { ClientAttack } from './attacks.js';
import type { AdmissionRefusal, IncentivesSummary, RoundSettlementReport } from './incentives.js';
import type { JobConfig } from './job-config.js';
import type { FlaggedClient } from './poisoning-detector.js';

/** One round as the report shows it. */
export interface RoundReport {
  round: number;
  /** Held-out accuracy of the aggregated model after this round. */
  accuracy: number;
  /** Held-out loss of the aggregated model after this round. */
  loss: number;
  participants: string[];
  /** Wall time of the whole round. */
  seconds: number;
  /** From the tasks going out until every update is in: the participants' training, the transfers and the protection's stages. */
  trainSeconds: number;
  aggregateSeconds: number;
  evaluateSeconds: number;
  /** Mean local training loss over the participants, weighted by examples; absent under SecAgg+ and DP, where it would be a release of its own. */
  trainLoss?: number;
  modelVersion: number;
  /** Bytes each client sent for its update this round (float32, or ciphertext). */
  bytesPerClient: number;
  /** With encrypted aggregation: seconds the clients spent encrypting, summed. */
  protectSeconds?: number;
  /** With differential privacy: the job's epsilon after this round, and what this round added. */
  epsilon?: number;
  epsilonRound?: number;
  /** With the poisoning detector on (the default): the clients it flagged this round. */
  flagged?: FlaggedClient[];
  /** With incentives (the token economy): the reward root posted for this round, rewards and slashes. */
  settlement?: RoundSettlementReport;
}

/** The token economy's part of a job: one reward root per round, refusals, and balances after claiming. */
export interface IncentivesReport extends IncentivesSummary {
  /** The reward Merkle root of each round, in round order (the zero hash when a round paid nobody). */
  rewardRoots: string[];
  /** Nodes refused for lack of stake; `round` 0 is registration, otherwise the round they missed. */
  refused: (AdmissionRefusal & { round: number })[];
}

/** Why a job ended before its last round. */
export interface JobStop {
  afterRound: number;
  code: string;
  reason: string;
}

/** The privacy a job applied and what it spent (epsilon at `delta`, RDP accounting). */
export interface PrivacyReport {
  mode: 'sample' | 'client' | 'local';
  noiseMultiplier: number;
  clipNorm: number;
  delta: number;
  conversion: 'classic' | 'improved';
  noise: 'secure' | 'seeded-insecure';
  budget: number;
  epsilon: number;
  /** Ledger name of the data set charged. */
  dataset: string;
}

/** A participant's share of the data. */
export interface ParticipantReport {
  id: string;
  numExamples: number;
  classCounts: number[];
}

/** The JSON report a job writes: what ran, how it went round by round, and what it produced. */
export interface JobReport {
  jobId: string;
  name: string;
  startedAt: string;
  config: JobConfig;
  execution: { mode: 'in-process' | 'workers'; workers: number };
  /** How updates travelled: plain float32, or CKKS ciphertexts summed without a secret key. */
  protection: 'none' | 'ckks' | 'secagg';
  participants: ParticipantReport[];
  rounds: RoundReport[];
  final: { accuracy: number; loss: number; passedValidation: boolean };
  model: { id: string; version: number; sha256: string; numParams: number };
  timings: { setupSeconds: number; trainSeconds: number; aggregateSeconds: number; evaluateSeconds: number };
  /** Wall time of the job. */
  seconds: number;
  privacy?: PrivacyReport;
  stopped?: JobStop;
  /** Simulation only: the clients that ran an attack, and which. */
  adversaries?: ClientAttack & { simulated: true; clients: string[] };
  /** With incentives: reward roots, refusals and balances (named after where they live). */
  chain?: IncentivesReport;
}

/** A short fixed-width table of rounds for a terminal. */
export function formatRoundTable(report: JobReport): string {
  const dp = report.privacy;
  const anyFlagged = report.rounds.some((r) => (r.flagged ?? []).length > 0);
  const flaggedIn = (r: RoundReport): number => new Set((r.flagged ?? []).map((f) => f.clientId)).size;
  const header = `round  accuracy    loss  clients  seconds${dp ? '  epsilon' : ''}${anyFlagged ? '  flagged' : ''}`;
  const lines = report.rounds.map(
    (r) =>
      `${String(r.round).padStart(5)}  ${r.accuracy.toFixed(4).padStart(8)}  ${r.loss.toFixed(4).padStart(6)}  ${String(r.participants.length).padStart(7)}  ${r.seconds.toFixed(2).padStart(7)}${dp ? `  ${(r.epsilon ?? 0).toFixed(3).padStart(7)}` : ''}${anyFlagged ? `  ${String(flaggedIn(r)).padStart(7)}` : ''}`,
  );
  const adv = report.adversaries;
  const footer = [
    ...(adv ? [`SIMULATED ATTACK: ${adv.clients.join(', ')} ran '${adv.kind}'${adv.kind === 'label-flip' ? '' : ` (factor ${adv.factor})`}`] : []),
    ...(dp
      ? [`privacy: ${dp.mode}-level DP, noise multiplier ${dp.noiseMultiplier}, clip ${dp.clipNorm}; epsilon ${dp.epsilon.toFixed(3)} of ${dp.budget} spent at delta ${dp.delta} (${dp.conversion} RDP conversion)${dp.noise === 'seeded-insecure' ? '; SEEDED NOISE: NOT PRIVATE' : ''}`]
      : []),
    ...(report.stopped ? [`stopped after round ${report.stopped.afterRound}: ${report.stopped.reason}`] : []),
    `final accuracy ${report.final.accuracy.toFixed(4)}, loss ${report.final.loss.toFixed(4)} on ${report.config.data.test}`,
    `model ${report.model.id} v${report.model.version} sha256 ${report.model.sha256}`,
    `${report.rounds.length} rounds, ${report.participants.length} clients (${report.execution.mode}), ${report.seconds.toFixed(1)} s`,
    ...(report.protection === 'ckks'
      ? [`updates travelled as CKKS ciphertexts under a joint key that ${report.config.privacy.heCommittee} participants held in shares each round (${Math.round(report.rounds[0]?.bytesPerClient ?? 0)} bytes per client per round, key holders' messages included); the coordinator held no part of the key`]
      : []),
    ...(report.protection === 'secagg' ? [`updates were securely aggregated (SecAgg+, ${Math.round(report.rounds[0]?.bytesPerClient ?? 0)} bytes per client per round); the coordinator saw only masked vectors and the sum`] : []),
    ...(report.chain ? ['', ...formatIncentives(report.chain, report.rounds)] : []),
  ];
  return [header, ...lines, '', ...footer].join('\n');
}

/** The token economy's lines: parameters, refusals, slashes, and each participant's earnings and balance after claiming. */
function formatIncentives(chain: IncentivesReport, rounds: readonly RoundReport[]): string[] {
  const posted = chain.rewardRoots.filter((root) => !/^0x0+$/.test(root)).length;
  const slashes = new Map<string, string[]>();
  for (const r of rounds) {
    for (const s of (r.settlement?.slashed ?? []).filter((x) => !/^0+$/.test(x.amount.units))) slashes.set(s.clientId, [...(slashes.get(s.clientId) ?? []), `${s.amount.display} in round ${r.round}`]);
  }
  const width = Math.max(6, ...chain.balances.map((b) => b.clientId.length));
  const earnedWidth = Math.max(6, ...chain.balances.map((b) => b.earned.display.length));
  const balanceWidth = Math.max(7, ...chain.balances.map((b) => b.balance.display.length));
  return [
    `token economy (${chain.network}): ${chain.rewardPerRound.display} per round, minimum stake ${chain.minimumStake.display}; ${posted} of ${chain.rewardRoots.length} rounds posted a reward root`,
    ...chain.refused.map((x) => `refused ${x.round === 0 ? 'at registration' : `before round ${x.round}`}: ${x.reason}`),
    ...[...slashes].map(([clientId, what]) => `slash proposed for ${clientId} (flagged by the poisoning detector): ${what.join(', ')}; takes effect after the challenge period unless contested`),
    `${'client'.padEnd(width)}  ${'earned'.padStart(earnedWidth)}  ${'balance'.padStart(balanceWidth)}  account`,
    ...chain.balances.map((b) => `${b.clientId.padEnd(width)}  ${b.earned.display.padStart(earnedWidth)}  ${b.balance.display.padStart(balanceWidth)}  ${b.account}`),
  ];
}
