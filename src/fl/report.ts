import type { ClassificationMetrics } from '../ml/index.js';
import type { ClientAttack } from './attacks.js';
import type { AdmissionRefusal, IncentivesSummary, RoundSettlementReport } from './incentives.js';
import type { JobConfig } from './job-config.js';
import type { JobWarning } from './job-warnings.js';
import type { ValidationIssue } from './model-validator.js';
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
  /** When held-out accuracy fell by more than `validation.maxAccuracyDrop` since the round before: that round's accuracy and the margin. */
  accuracyDrop?: { previous: number; margin: number };
}

/** An update the coordinator refused because it claimed more weight than its participant declared. */
export interface RefusedUpdate {
  round: number;
  clientId: string;
  code: string;
  reason: string;
}

/** The token economy's part of a job: one reward root per round, refusals, and balances after claiming. */
export interface IncentivesReport extends IncentivesSummary {
  /** The reward Merkle root of each round, in round order (the zero hash when a round paid nobody). */
  rewardRoots: string[];
  /** Nodes refused for lack of stake; `round` 0 is registration, otherwise the round they missed. */
  refused: (AdmissionRefusal & { round: number })[];
}

/** The final model on the held-out set: what it got right and wrong per class, and what always answering the commonest class scores. */
export interface ModelEvaluation extends ClassificationMetrics {
  /** Mean cross-entropy on the held-out set. */
  loss: number;
  /** The name of each class, in the order of `classes` and of the confusion matrix's rows and columns. */
  classNames: string[];
}

/** Whether the final model met the job's `validation` thresholds; `failures` says which it missed and by how much. */
export interface JobValidation {
  passed: boolean;
  failures: ValidationIssue[];
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
  /** Fixed-point step of the released noisy values: exact discrete Gaussian noise is added in whole steps. */
  gridStep: number;
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
  /** 'failed' when the final model missed a `validation` threshold. */
  status: 'completed' | 'failed';
  startedAt: string;
  config: JobConfig;
  execution: { mode: 'in-process' | 'workers'; workers: number };
  /** How updates travelled: plain float32, or CKKS ciphertexts summed without a secret key. */
  protection: 'none' | 'ckks' | 'secagg' | 'tee';
  participants: ParticipantReport[];
  rounds: RoundReport[];
  final: { accuracy: number; loss: number; passedValidation: boolean };
  evaluation: ModelEvaluation;
  /** Signs that the model learned little or got worse, each with what to change in the config. */
  warnings: JobWarning[];
  validation: JobValidation;
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
  /** Updates refused for claiming more weight than their participant declared; each such participant took no further part. */
  refusedUpdates?: RefusedUpdate[];
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
      ? [`privacy: ${dp.mode}-level DP, noise multiplier ${dp.noiseMultiplier}, clip ${dp.clipNorm}; epsilon ${dp.epsilon.toFixed(3)} of ${dp.budget} spent at delta ${dp.delta} (${dp.conversion} RDP conversion); exact discrete Gaussian on a grid of step 2^${Math.log2(dp.gridStep)}${dp.noise === 'seeded-insecure' ? '; SEEDED NOISE: NOT PRIVATE' : ''}`]
      : []),
    ...(report.refusedUpdates ?? []).map((x) => `round ${x.round}: REFUSED ${x.clientId}'s update (${x.code}): ${x.reason}`),
    ...report.rounds.flatMap((r) => (r.accuracyDrop ? [`round ${r.round}: ACCURACY DROP from ${r.accuracyDrop.previous.toFixed(4)} to ${r.accuracy.toFixed(4)} (more than ${r.accuracyDrop.margin}); check this round's participants`] : [])),
    ...(report.stopped ? [`stopped after round ${report.stopped.afterRound}: ${report.stopped.reason}`] : []),
    `final accuracy ${report.final.accuracy.toFixed(4)}, loss ${report.final.loss.toFixed(4)} on ${report.config.data.test}`,
    ...formatEvaluation(report.evaluation),
    `model ${report.model.id} v${report.model.version} sha256 ${report.model.sha256}`,
    `${report.rounds.length} rounds, ${report.participants.length} clients (${report.execution.mode}), ${report.seconds.toFixed(1)} s`,
    ...(report.protection === 'ckks'
      ? [`updates travelled as CKKS ciphertexts under a joint key that ${report.config.privacy.heCommittee} participants held in shares each round (${Math.round(report.rounds[0]?.bytesPerClient ?? 0)} bytes per client per round, key holders' messages included); the coordinator held no part of the key`]
      : []),
    ...(report.protection === 'tee' ? [`updates were encrypted to a SIMULATED enclave (not hardware-protected) after each participant verified its evidence; it aggregated with ${report.config.strategy.name} inside, and the coordinator held only ciphertexts and the result`] : []),
    ...(report.protection === 'secagg' ? [`updates were securely aggregated (SecAgg+, ${Math.round(report.rounds[0]?.bytesPerClient ?? 0)} bytes per client per round); the coordinator saw only masked vectors and the sum`] : []),
    ...(report.chain ? ['', ...formatIncentives(report.chain, report.rounds)] : []),
    ...formatVerdict(report),
  ];
  return [header, ...lines, '', ...footer].join('\n');
}

// Beyond this many classes the confusion matrix no longer fits a terminal; it stays in the JSON report.
const MAX_PRINTED_CONFUSION = 12;

/** The final model's baseline, ROC AUC, per-class precision, recall and F1, and its confusion matrix, as terminal lines. */
export function formatEvaluation(e: ModelEvaluation): string[] {
  const names = e.classNames;
  const ratio = (x: number | null): string => (x === null ? '-' : x.toFixed(4));
  const nameWidth = Math.max(5, ...names.map((n) => n.length));
  const baseline = `majority-class baseline ${e.baseline.accuracy.toFixed(4)} (always '${names[e.baseline.classIndex]}')`;
  const lines = [
    `${baseline}${e.rocAuc !== undefined ? `, ROC AUC ${e.rocAuc === null ? '- (one class absent)' : e.rocAuc.toFixed(4)}` : ''}, macro F1 ${ratio(e.macroF1)}`,
    `${'class'.padEnd(nameWidth)}  precision  recall      f1  support`,
    ...e.classes.map((c, i) => `${names[i].padEnd(nameWidth)}  ${ratio(c.precision).padStart(9)}  ${ratio(c.recall).padStart(6)}  ${ratio(c.f1).padStart(6)}  ${String(c.support).padStart(7)}`),
  ];
  if (names.length > MAX_PRINTED_CONFUSION) return [...lines, `confusion matrix (${names.length} x ${names.length}): in the JSON report, evaluation.confusion`];
  const cell = Math.max(...names.map((n) => n.length), ...e.confusion.flat().map((x) => String(x).length));
  return [
    ...lines,
    'confusion matrix (rows: true class, columns: predicted)',
    `${''.padEnd(nameWidth)}  ${names.map((n) => n.padStart(cell)).join('  ')}`,
    ...e.confusion.map((row, i) => `${names[i].padEnd(nameWidth)}  ${row.map((x) => String(x).padStart(cell)).join('  ')}`),
  ];
}

/** The warnings, what to change, and the validation thresholds the model missed, as terminal lines: last, where a reader looks. */
export function formatVerdict(report: Pick<JobReport, 'warnings' | 'validation'>): string[] {
  const suggestions = [...new Set(report.warnings.flatMap((w) => w.suggestions))];
  return [
    ...(report.warnings.length > 0 ? ['', ...report.warnings.map((w) => `WARNING [${w.code}]: ${w.message}`)] : []),
    ...(suggestions.length > 0 ? ['what to try:', ...suggestions.map((x) => `  - ${x}`)] : []),
    ...(report.validation.passed ? [] : ['', `FAILED validation: ${report.validation.failures.map((f) => `[${f.code}] ${f.message}`).join('; ')}`]),
  ];
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
