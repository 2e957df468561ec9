import { InvalidInputError } from '../core/errors.js';

/** Precision, recall and F1 of one class, one-vs-rest; a ratio whose denominator is zero is null, not 0. */
export interface ClassMetrics {
  /** TP / (TP + FP); null when the model never predicted the class. */
  precision: number | null;
  /** TP / (TP + FN); null when the class has no example. */
  recall: number | null;
  /** 2TP / (2TP + FP + FN), the harmonic mean of the two; null when the class is neither present nor predicted. */
  f1: number | null;
  /** Examples of the class. */
  support: number;
  /** Examples the model assigned to the class. */
  predicted: number;
}

/** The accuracy of always answering the most frequent class. */
export interface MajorityBaseline {
  /** Index of the most frequent class (the lowest index among equally frequent ones). */
  classIndex: number;
  accuracy: number;
}

/** What a classifier got right and wrong on a labelled set. */
export interface ClassificationMetrics {
  numExamples: number;
  accuracy: number;
  /** `confusion[t][p]`: examples of true class t the model assigned to class p. */
  confusion: number[][];
  classes: ClassMetrics[];
  /** Unweighted mean F1 over the classes that have one. */
  macroF1: number | null;
  baseline: MajorityBaseline;
  /** Two classes only: the area under the ROC curve of the class-1 score; null with one class absent or a score that is NaN (a diverged model). */
  rocAuc?: number | null;
}

/** Counts `confusion[t][p]` over the examples; labels and predictions must be class indices below `numClasses`. */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, numClasses: number): number[][] {
  if (labels.length !== predictions.length) {
    throw new InvalidInputError('METRICS_INPUT_INVALID', `${labels.length} labels but ${predictions.length} predictions; give one prediction per example`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new InvalidInputError('METRICS_INPUT_INVALID', `numClasses must be a positive integer, got ${numClasses}`);
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predictions[i];
    if (!isClass(t, numClasses) || !isClass(p, numClasses)) {
      throw new InvalidInputError('METRICS_INPUT_INVALID', `example ${i} has label ${t} and prediction ${p}; both must be class indices in [0, ${numClasses})`);
    }
    matrix[t][p]++;
  }
  return matrix;
}

/** One-vs-rest precision, recall and F1 of each class from a confusion matrix. */
export function classMetrics(confusion: readonly (readonly number[])[]): ClassMetrics[] {
  return confusion.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((s, x) => s + x, 0);
    const predicted = confusion.reduce((s, r) => s + r[c], 0);
    const fn = support - tp;
    const fp = predicted - tp;
    return {
      precision: predicted > 0 ? tp / predicted : null,
      recall: support > 0 ? tp / support : null,
      f1: 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : null,
      support,
      predicted,
    };
  });
}

/** The most frequent class of `labels` and the accuracy of predicting it for every example. */
export function majorityBaseline(labels: ArrayLike<number>, numClasses: number): MajorityBaseline {
  if (labels.length === 0) throw new InvalidInputError('METRICS_INPUT_INVALID', 'the majority-class baseline needs at least one label');
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    if (!isClass(labels[i], numClasses)) throw new InvalidInputError('METRICS_INPUT_INVALID', `label ${labels[i]} of example ${i} is not a class index in [0, ${numClasses})`);
    counts[labels[i]]++;
  }
  let classIndex = 0;
  for (let c = 1; c < numClasses; c++) if (counts[c] > counts[classIndex]) classIndex = c;
  return { classIndex, accuracy: counts[classIndex] / labels.length };
}

/**
 * Area under the ROC curve of `scores` for the examples whose label is 1 against those whose label
 * is 0: the Mann-Whitney U statistic over n₁·n₀ (Hanley and McNeil 1982), so a tie between a
 * positive and a negative counts one half. U comes from the rank sum of the positives with tied
 * scores given their mean rank, in O(n log n). Null when either class has no example.
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number | null {
  if (labels.length !== scores.length) throw new InvalidInputError('METRICS_INPUT_INVALID', `${labels.length} labels but ${scores.length} scores; give one score per example`);
  const order = Array.from({ length: labels.length }, (_, i) => i);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new InvalidInputError('METRICS_INPUT_INVALID', `ROC AUC is for two classes; example ${i} has label ${labels[i]}`);
    if (Number.isNaN(scores[i])) throw new InvalidInputError('METRICS_INPUT_INVALID', `example ${i} has score NaN; the model's outputs are not numbers`);
  }
  order.sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && scores[order[end]] === scores[order[start]]) end++;
    // Ranks start + 1 .. end share their mean.
    const meanRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        positiveRankSum += meanRank;
      }
    }
    start = end;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return null;
  const u = positiveRankSum - (positives * (positives + 1)) / 2;
  return u / (positives * negatives);
}

/**
 * Every metric of a classifier on a labelled set: accuracy, the confusion matrix, per-class
 * precision, recall and F1, the majority-class baseline and, for two classes with `positiveScores`
 * (the model's score of class 1 per example), the ROC AUC.
 */
export function classificationMetrics(labels: ArrayLike<number>, predictions: ArrayLike<number>, numClasses: number, positiveScores?: ArrayLike<number>): ClassificationMetrics {
  const confusion = confusionMatrix(labels, predictions, numClasses);
  const classes = classMetrics(confusion);
  const f1s = classes.map((c) => c.f1).filter((f): f is number => f !== null);
  let correct = 0;
  for (let c = 0; c < numClasses; c++) correct += confusion[c][c];
  return {
    numExamples: labels.length,
    accuracy: labels.length > 0 ? correct / labels.length : Number.NaN,
    confusion,
    classes,
    macroF1: f1s.length > 0 ? f1s.reduce((s, f) => s + f, 0) / f1s.length : null,
    baseline: majorityBaseline(labels, numClasses),
    ...(numClasses === 2 && positiveScores ? { rocAuc: Array.prototype.some.call(positiveScores, Number.isNaN) ? null : rocAuc(labels, positiveScores) } : {}),
  };
}

function isClass(x: number, numClasses: number): boolean {
  return Number.isInteger(x) && x >= 0 && x < numClasses;
}
