import type { JobConfig } from './job-config.js';

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
  trainSeconds: number;
  aggregateSeconds: number;
  evaluateSeconds: number;
  /** Mean local training loss over the participants, weighted by examples. */
  trainLoss: number;
  modelVersion: number;
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
  participants: ParticipantReport[];
  rounds: RoundReport[];
  final: { accuracy: number; loss: number; passedValidation: boolean };
  model: { id: string; version: number; sha256: string; numParams: number };
  timings: { setupSeconds: number; trainSeconds: number; aggregateSeconds: number; evaluateSeconds: number };
  /** Wall time of the job. */
  seconds: number;
}

/** A short fixed-width table of rounds for a terminal. */
export function formatRoundTable(report: JobReport): string {
  const header = 'round  accuracy    loss  clients  seconds';
  const lines = report.rounds.map(
    (r) =>
      `${String(r.round).padStart(5)}  ${r.accuracy.toFixed(4).padStart(8)}  ${r.loss.toFixed(4).padStart(6)}  ${String(r.participants.length).padStart(7)}  ${r.seconds.toFixed(2).padStart(7)}`,
  );
  const footer = [
    `final accuracy ${report.final.accuracy.toFixed(4)}, loss ${report.final.loss.toFixed(4)} on ${report.config.data.test}`,
    `model ${report.model.id} v${report.model.version} sha256 ${report.model.sha256}`,
    `${report.rounds.length} rounds, ${report.participants.length} clients (${report.execution.mode}), ${report.seconds.toFixed(1)} s`,
  ];
  return [header, ...lines, '', ...footer].join('\n');
}
