import { describe, expect, it } from 'vitest';
import { parseWithSchema } from '../core/index.js';
import { JobConfigSchema, demoConfig, type JobConfigInput } from './job-config.js';
import { jobWarnings, type JobWarningInput } from './job-warnings.js';

const config = (patch: Partial<JobConfigInput> = {}) => parseWithSchema({ ...demoConfig(), ...patch }, JobConfigSchema, 'config');
const rounds = (losses: number[]) => losses.map((loss, i) => ({ round: i + 1, accuracy: 0.5, loss }));
const input = (patch: Partial<JobWarningInput>): JobWarningInput => ({
  config: config(),
  rounds: rounds([1, 0.8, 0.6, 0.5]),
  finalAccuracy: 0.9,
  baseline: { accuracy: 0.602, className: 'no' },
  ...patch,
});
const codes = (i: JobWarningInput): string[] => jobWarnings(i).map((w) => w.code);

describe('jobWarnings', () => {
  it('says nothing about a job that learned and whose loss fell', () => {
    expect(jobWarnings(input({}))).toEqual([]);
  });

  it('warns when the final accuracy is within one point of the majority class, or below it', () => {
    const [w] = jobWarnings(input({ finalAccuracy: 0.602 }));
    expect(w.code).toBe('ACCURACY_NEAR_BASELINE');
    expect(w.message).toBe(
      "final accuracy 0.6020 is exactly the majority-class baseline 0.6020 (always answering class 'no'): the model has learned next to nothing beyond the class frequencies",
    );
    expect(jobWarnings(input({ finalAccuracy: 0.611 }))[0].message).toMatch(/only 0.9 points above/);
    expect(jobWarnings(input({ finalAccuracy: 0.55 }))[0].message).toMatch(/5.2 points below/);
    expect(codes(input({ finalAccuracy: 0.612 }))).toEqual(['ACCURACY_NEAR_BASELINE']);
    expect(codes(input({ finalAccuracy: 0.6121 }))).toEqual([]);
  });

  it('warns when the held-out loss rose over the last half of the rounds, naming where it went', () => {
    // Rounds 5..10 are the last half; the loss climbs from 0.60 to 0.75 there. Trend: sum (x - 7.5)(y - mean y) = 0.53
    // over sum (x - 7.5)^2 = 17.5, 0.0303 a round.
    const accuracies = [0.6, 0.7, 0.8, 0.85, 0.86, 0.87, 0.87, 0.88, 0.88, 0.89];
    const losses = [0.9, 0.7, 0.62, 0.6, 0.6, 0.63, 0.66, 0.7, 0.72, 0.75];
    const w = jobWarnings(input({ rounds: losses.map((loss, i) => ({ round: i + 1, loss, accuracy: accuracies[i] })) }));
    expect(w.map((x) => x.code)).toEqual(['TEST_LOSS_RISING']);
    expect(w[0].message).toBe(
      'held-out loss rose over the last half of the rounds, from 0.6000 at round 5 to 0.7500 at round 10 (trend +0.0303 a round) while accuracy went from 0.8600 to 0.8900: the model grows more confident in its mistakes, as when each client\'s training pulls it toward its own data or the rounds overfit',
    );
    // Rounds 4 and 5 share the lowest loss; the first of them is named.
    expect(w[0].suggestions[0]).toBe('stop earlier: held-out loss was lowest at round 4 (0.6000) and the job ran 30 rounds (rounds)');
    expect(w[0].suggestions.slice(1)).toEqual(jobWarnings(input({ finalAccuracy: 0.6 }))[0].suggestions);
  });

  it('judges the rounds in round order whatever order they come in', () => {
    const shuffled = rounds([0.5, 0.6, 0.7, 0.8]).reverse();
    expect(codes(input({ rounds: shuffled }))).toEqual(['TEST_LOSS_RISING']);
  });

  it('ignores one noisy last round in a falling trend, and a rise that ends below where the half began', () => {
    // Trend over rounds 3..6 is downward although the last round went up.
    expect(codes(input({ rounds: rounds([1, 0.8, 0.6, 0.5, 0.4, 0.45]) }))).toEqual([]);
    // Up in the middle, back below the start of the half by the end.
    expect(codes(input({ rounds: rounds([1, 0.5, 0.9, 0.95, 0.49]) }))).toEqual([]);
    expect(codes(input({ rounds: rounds([0.7]) }))).toEqual([]);
    expect(codes(input({ rounds: rounds([0.7, Number.NaN, 0.9]) }))).toEqual([]);
  });

  it('rises every round in both warnings at once, as in the learned-nothing job', () => {
    const w = jobWarnings(input({ finalAccuracy: 0.602, rounds: rounds([0.68, 0.69, 0.71, 0.74, 0.78]) }));
    expect(w.map((x) => x.code)).toEqual(['ACCURACY_NEAR_BASELINE', 'TEST_LOSS_RISING']);
  });

  it("suggests FedProx's mu, a lower learning rate, SGD and more clients in this config's terms", () => {
    const [adam] = jobWarnings(input({ finalAccuracy: 0.6, config: config({ training: { epochs: 2, learningRate: 0.01, optimizer: 'adam' } }) }));
    expect(adam.suggestions).toEqual([
      "use FedProx (strategy: { name: fedprox, mu: 0.01 }; now fedavg) to keep each client's model near the global one on non-IID data",
      'lower the learning rate (training.learningRate, now 0.01), e.g. to 0.001',
      'train with plain SGD (training.optimizer: sgd; now adam), whose local steps drift less than adaptive ones',
      'train fewer local epochs per round (training.epochs, now 2)',
      'train on more clients per round: selection.fraction is already 1 (every participant each round), so add participants',
    ]);
    const [prox] = jobWarnings(
      input({ finalAccuracy: 0.6, config: config({ strategy: { name: 'fedprox', mu: 0.1 }, training: { epochs: 1, optimizer: 'sgd', learningRate: 0.5 }, selection: { fraction: 0.5 } }) }),
    );
    expect(prox.suggestions).toEqual([
      "raise FedProx's mu (strategy.mu, now 0.1), e.g. to 1, to keep each client's model nearer the global one",
      'lower the learning rate (training.learningRate, now 0.5), e.g. to 0.05',
      'select more clients per round (selection.fraction, now 0.5)',
    ]);
  });
});
