import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidInputError } from '../core/errors.js';
import { classMetrics, classificationMetrics, confusionMatrix, majorityBaseline, rocAuc } from './classification-metrics.js';

/** The Mann-Whitney U statistic by its definition: every (positive, negative) pair, a tie counting one half. */
function bruteForceAuc(labels: number[], scores: number[]): number | null {
  let u = 0;
  let pairs = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      u += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return pairs === 0 ? null : u / pairs;
}

describe('confusionMatrix and classMetrics', () => {
  // Rows are true classes: class 0 has 3 examples, class 1 has 2, class 2 has 4.
  const labels = [0, 0, 0, 1, 1, 2, 2, 2, 2];
  const predictions = [0, 1, 0, 1, 1, 2, 0, 2, 1];

  it('counts true class against predicted class', () => {
    expect(confusionMatrix(labels, predictions, 3)).toEqual([
      [2, 1, 0],
      [0, 2, 0],
      [1, 1, 2],
    ]);
  });

  it('derives precision, recall and F1 one-vs-rest', () => {
    const [c0, c1, c2] = classMetrics(confusionMatrix(labels, predictions, 3));
    // Class 0: TP 2, predicted 3 (column 0), support 3.
    expect(c0).toEqual({ precision: 2 / 3, recall: 2 / 3, f1: 4 / 6, support: 3, predicted: 3 });
    // Class 1: TP 2, predicted 4, support 2.
    expect(c1).toEqual({ precision: 0.5, recall: 1, f1: 4 / 6, support: 2, predicted: 4 });
    // Class 2: TP 2, predicted 2, support 4.
    expect(c2).toEqual({ precision: 1, recall: 0.5, f1: 4 / 6, support: 4, predicted: 2 });
  });

  it('reports accuracy, macro F1 and the majority baseline together', () => {
    const m = classificationMetrics(labels, predictions, 3);
    expect(m.accuracy).toBe(6 / 9);
    expect(m.macroF1).toBeCloseTo(2 / 3, 15);
    expect(m.baseline).toEqual({ classIndex: 2, accuracy: 4 / 9 });
    expect(m.rocAuc).toBeUndefined();
  });

  it('leaves precision undefined for a class the model never predicts', () => {
    // A model that always answers the majority class scores the baseline exactly.
    const m = classificationMetrics([0, 0, 0, 1, 1], [0, 0, 0, 0, 0], 2, [0.2, 0.2, 0.2, 0.2, 0.2]);
    expect(m.classes[1]).toEqual({ precision: null, recall: 0, f1: 0, support: 2, predicted: 0 });
    expect(m.classes[0]).toEqual({ precision: 0.6, recall: 1, f1: 0.75, support: 3, predicted: 5 });
    expect(m.accuracy).toBe(m.baseline.accuracy);
    expect(m.rocAuc).toBe(0.5);
  });

  it('has no ROC AUC for a diverged model whose scores are NaN, and still counts its answers', () => {
    const m = classificationMetrics([0, 1, 1], [0, 0, 0], 2, [Number.NaN, Number.NaN, Number.NaN]);
    expect(m.rocAuc).toBeNull();
    expect(m.confusion).toEqual([
      [1, 0],
      [2, 0],
    ]);
  });

  it('gives a class absent from labels and predictions no F1', () => {
    const m = classificationMetrics([0, 1], [0, 1], 3);
    expect(m.classes[2]).toEqual({ precision: null, recall: null, f1: null, support: 0, predicted: 0 });
    expect(m.macroF1).toBe(1);
  });

  it('keeps counts and metrics consistent on any input', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }).chain((k) => fc.tuple(fc.constant(k), fc.array(fc.tuple(fc.nat(k - 1), fc.nat(k - 1)), { minLength: 1, maxLength: 60 }))), ([k, pairs]) => {
        const m = classificationMetrics(pairs.map((p) => p[0]), pairs.map((p) => p[1]), k);
        expect(m.classes.reduce((s, c) => s + c.support, 0)).toBe(pairs.length);
        expect(m.classes.reduce((s, c) => s + c.predicted, 0)).toBe(pairs.length);
        expect(m.accuracy).toBe(pairs.filter(([t, p]) => t === p).length / pairs.length);
        for (const c of m.classes) {
          if (c.precision !== null && c.recall !== null && c.precision + c.recall > 0) {
            expect(c.f1).toBeCloseTo((2 * c.precision * c.recall) / (c.precision + c.recall), 12);
          }
        }
        expect(m.baseline.accuracy).toBe(Math.max(...m.classes.map((c) => c.support)) / pairs.length);
      }),
    );
  });

  it('refuses labels outside the classes and mismatched lengths', () => {
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow(InvalidInputError);
    expect(() => confusionMatrix([0, 1], [0], 2)).toThrow(/2 labels but 1 predictions/);
    expect(() => majorityBaseline([], 2)).toThrow(InvalidInputError);
  });
});

describe('majorityBaseline', () => {
  it('picks the most frequent class, the lowest index on a tie', () => {
    expect(majorityBaseline([1, 1, 0, 2, 1], 3)).toEqual({ classIndex: 1, accuracy: 0.6 });
    expect(majorityBaseline([2, 0, 2, 0], 3)).toEqual({ classIndex: 0, accuracy: 0.5 });
  });
});

describe('rocAuc', () => {
  it('counts a tied positive-negative pair as one half', () => {
    // Positives score 0.9, 0.7, 0.3; negatives 0.9, 0.3, 0.1. Pairs won: 2.5 + 2 + 1.5 = 6 of 9.
    expect(rocAuc([1, 0, 1, 0, 1, 0], [0.9, 0.9, 0.7, 0.3, 0.3, 0.1])).toBe(6 / 9);
  });

  it('is 1 for a perfect ranking, 0 for a reversed one and 0.5 for a constant score', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])).toBe(1);
    expect(rocAuc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])).toBe(0);
    expect(rocAuc([0, 1, 0, 1, 1], [0.4, 0.4, 0.4, 0.4, 0.4])).toBe(0.5);
  });

  it('is null when one class is absent', () => {
    expect(rocAuc([1, 1, 1], [0.1, 0.5, 0.9])).toBeNull();
    expect(rocAuc([], [])).toBeNull();
  });

  it('equals the Mann-Whitney U over n1 n0 computed pair by pair, ties included', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 6 })), { minLength: 1, maxLength: 80 }), (rows) => {
        const labels = rows.map((r) => r[0]);
        // Few distinct scores, so most inputs have ties within and across the classes.
        const scores = rows.map((r) => r[1] / 6);
        const auc = rocAuc(labels, scores);
        const expected = bruteForceAuc(labels, scores);
        if (expected === null) expect(auc).toBeNull();
        else expect(auc).toBeCloseTo(expected, 12);
      }),
    );
  });

  it('refuses more than two classes and NaN scores', () => {
    expect(() => rocAuc([0, 2], [0.1, 0.2])).toThrow(/two classes/);
    expect(() => rocAuc([0, 1], [0.1, Number.NaN])).toThrow(/NaN/);
  });
});
