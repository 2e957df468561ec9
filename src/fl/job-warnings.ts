import type { JobConfig } from './job-config.js';

/** Stable codes of the warnings a job can end with. */
export type JobWarningCode = 'ACCURACY_NEAR_BASELINE' | 'TEST_LOSS_RISING';

/** A sign that a job's model learned little or is getting worse, with what to change in its config. */
export interface JobWarning {
  code: JobWarningCode;
  message: string;
  /** Config changes that address the usual causes, naming the fields and their current values. */
  suggestions: string[];
}

/** What the warnings are judged from: the held-out metrics of every finalised round and of the final model. */
export interface JobWarningInput {
  config: JobConfig;
  /** Every finalised round of the job, in any order. */
  rounds: readonly { round: number; accuracy: number; loss: number }[];
  finalAccuracy: number;
  /** Accuracy of always answering the most frequent class of the held-out set, and that class's name. */
  baseline: { accuracy: number; className: string };
}

/** How close to the majority-class baseline a final accuracy counts as having learned nothing: one point. */
export const NEAR_BASELINE_MARGIN = 0.01;

/**
 * The warnings a finished job deserves: a final accuracy within one point of the majority-class
 * baseline (or below it), and a held-out loss that rose over the last half of the rounds. The second
 * is judged from the rounds from the middle one to the last: their least-squares trend must be
 * upward and the last loss above the first, so one noisy round neither raises nor hides it.
 */
export function jobWarnings(input: JobWarningInput): JobWarning[] {
  const warnings: JobWarning[] = [];
  const { finalAccuracy, baseline } = input;
  if (Number.isFinite(finalAccuracy) && finalAccuracy <= baseline.accuracy + NEAR_BASELINE_MARGIN) {
    const gap = finalAccuracy - baseline.accuracy;
    const where = gap < 0 ? `${points(-gap)} below` : gap === 0 ? 'exactly' : `only ${points(gap)} above`;
    warnings.push({
      code: 'ACCURACY_NEAR_BASELINE',
      message: `final accuracy ${finalAccuracy.toFixed(4)} is ${where} the majority-class baseline ${baseline.accuracy.toFixed(4)} (always answering class '${baseline.className}'): the model has learned next to nothing beyond the class frequencies`,
      suggestions: suggestionsFor(input.config),
    });
  }
  const rising = risingLoss(input.rounds);
  if (rising) {
    const { from, to, best } = rising;
    warnings.push({
      code: 'TEST_LOSS_RISING',
      message: `held-out loss rose over the last half of the rounds, from ${from.loss.toFixed(4)} at round ${from.round} to ${to.loss.toFixed(4)} at round ${to.round} (trend +${rising.slope.toPrecision(3)} a round) while accuracy went from ${from.accuracy.toFixed(4)} to ${to.accuracy.toFixed(4)}: the model grows more confident in its mistakes, as when each client's training pulls it toward its own data or the rounds overfit`,
      suggestions: [`stop earlier: held-out loss was lowest at round ${best.round} (${best.loss.toFixed(4)}) and the job ran ${input.config.rounds} rounds (rounds)`, ...suggestionsFor(input.config)],
    });
  }
  return warnings;
}

type RoundMetrics = JobWarningInput['rounds'][number];

interface RisingLoss {
  from: RoundMetrics;
  to: RoundMetrics;
  /** The round with the lowest held-out loss of the whole job. */
  best: RoundMetrics;
  slope: number;
}

/** The last half of the rounds (from the middle one) when their loss trends up and ends higher than it began. */
function risingLoss(all: JobWarningInput['rounds']): RisingLoss | undefined {
  const rounds = [...all].sort((a, b) => a.round - b.round);
  if (rounds.length < 2 || rounds.some((r) => !Number.isFinite(r.loss))) return undefined;
  const half = rounds.slice(Math.floor((rounds.length - 1) / 2));
  const first = half[0];
  const last = half[half.length - 1];
  const slope = leastSquaresSlope(half.map((r) => [r.round, r.loss]));
  if (!(slope > 0) || !(last.loss > first.loss)) return undefined;
  const best = rounds.reduce((a, b) => (b.loss < a.loss ? b : a));
  return { from: first, to: last, best, slope };
}

function leastSquaresSlope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) * (x - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

/** The usual remedies for a federated model that does not learn on non-IID clients, in this job's own terms. */
function suggestionsFor(config: JobConfig): string[] {
  const { strategy, training, selection } = config;
  const suggestions: string[] = [];
  suggestions.push(
    strategy.name === 'fedprox'
      ? `raise FedProx's mu (strategy.mu, now ${strategy.mu}), e.g. to ${strategy.mu > 0 ? strategy.mu * 10 : 0.01}, to keep each client's model nearer the global one`
      : `use FedProx (strategy: { name: fedprox, mu: 0.01 }; now ${strategy.name}) to keep each client's model near the global one on non-IID data`,
  );
  suggestions.push(`lower the learning rate (training.learningRate, now ${training.learningRate}), e.g. to ${training.learningRate / 10}`);
  if (training.optimizer !== 'sgd') suggestions.push(`train with plain SGD (training.optimizer: sgd; now ${training.optimizer}), whose local steps drift less than adaptive ones`);
  if (training.epochs > 1) suggestions.push(`train fewer local epochs per round (training.epochs, now ${training.epochs})`);
  suggestions.push(
    selection.fraction < 1
      ? `select more clients per round (selection.fraction, now ${selection.fraction})`
      : `train on more clients per round: selection.fraction is already 1 (every participant each round), so add participants${selection.maxClients !== undefined ? ` or raise selection.maxClients (now ${selection.maxClients})` : ''}`,
  );
  return suggestions;
}

function points(fraction: number): string {
  const p = fraction * 100;
  return `${p < 0.1 ? p.toPrecision(1) : p.toFixed(1)} point${p === 1 ? '' : 's'}`;
}
