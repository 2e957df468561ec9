import { describe, expect, it } from 'vitest';
import { parseWithSchema } from '../core/index.js';
import { JobConfigSchema, demoConfig } from './job-config.js';
import { classificationMetrics } from '../ml/index.js';
import { jobWarnings } from './job-warnings.js';
import { formatRoundTable, type JobReport, type ModelEvaluation, type RoundReport } from './report.js';

/** Three classes, 6 of 9 right (the matrix of classification-metrics.test.ts). */
const evaluation: ModelEvaluation = {
  ...classificationMetrics([0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 1, 0, 1, 1, 2, 0, 2, 1], 3),
  loss: 0.5,
  classNames: ['0', '1', '2'],
};
const assessed = { status: 'completed' as const, evaluation, warnings: [], validation: { passed: true, failures: [] } };

const round = (n: number, accuracy: number): RoundReport => ({
  round: n,
  accuracy,
  loss: 1 / n,
  participants: ['client-00', 'client-01', 'client-02'],
  seconds: 0.25 * n,
  trainSeconds: 0.2,
  aggregateSeconds: 0.001,
  evaluateSeconds: 0.01,
  trainLoss: 0.5,
  modelVersion: n + 1,
  bytesPerClient: 400,
});

describe('formatRoundTable', () => {
  it('prints one row per round and a footer with the final model', () => {
    const report: JobReport = {
      jobId: 'job-1',
      name: 'demo',
      ...assessed,
      startedAt: new Date(0).toISOString(),
      config: parseWithSchema(demoConfig(), JobConfigSchema, 'config'),
      execution: { mode: 'in-process', workers: 1 },
      protection: 'none',
      participants: [],
      rounds: [round(1, 0.5), round(2, 0.91234)],
      final: { accuracy: 0.91234, loss: 0.5, passedValidation: true },
      model: { id: 'model-x', version: 3, sha256: 'ab'.repeat(32), numParams: 10 },
      timings: { setupSeconds: 0, trainSeconds: 0, aggregateSeconds: 0, evaluateSeconds: 0 },
      seconds: 1.5,
    };
    const lines = formatRoundTable(report).split('\n');
    expect(lines[0]).toMatch(/round\s+accuracy\s+loss\s+clients\s+seconds/);
    expect(lines[1].trim().split(/\s+/)).toEqual(['1', '0.5000', '1.0000', '3', '0.25']);
    expect(lines[2].trim().split(/\s+/)).toEqual(['2', '0.9123', '0.5000', '3', '0.50']);
    expect(lines.join('\n')).toContain(`model-x v3 sha256 ${'ab'.repeat(32)}`);
    expect(lines.join('\n')).not.toMatch(/flagged|ATTACK/);
  });

  it('adds a flagged column and names a simulated attack', () => {
    const flagged = [
      { clientId: 'client-01', reason: 'norm' as const, score: 40 },
      { clientId: 'client-01', reason: 'cosine' as const, score: -0.2 },
      { clientId: 'client-02', reason: 'norm' as const, score: 9 },
    ];
    const report: JobReport = {
      jobId: 'job-2',
      name: 'attacked',
      ...assessed,
      startedAt: new Date(0).toISOString(),
      config: parseWithSchema(demoConfig(), JobConfigSchema, 'config'),
      execution: { mode: 'in-process', workers: 1 },
      protection: 'none',
      participants: [],
      rounds: [{ ...round(1, 0.5), flagged }, { ...round(2, 0.6), flagged: [] }],
      final: { accuracy: 0.6, loss: 0.5, passedValidation: true },
      model: { id: 'model-y', version: 3, sha256: 'cd'.repeat(32), numParams: 10 },
      timings: { setupSeconds: 0, trainSeconds: 0, aggregateSeconds: 0, evaluateSeconds: 0 },
      seconds: 1,
      adversaries: { simulated: true, clients: ['client-01', 'client-02'], kind: 'scale', factor: 10 },
    };
    const lines = formatRoundTable(report).split('\n');
    expect(lines[0]).toMatch(/seconds\s+flagged$/);
    expect(lines[1].trim().split(/\s+/).at(-1)).toBe('2');
    expect(lines[2].trim().split(/\s+/).at(-1)).toBe('0');
    expect(lines).toContain("SIMULATED ATTACK: client-01, client-02 ran 'scale' (factor 10)");
  });

  it('ends with the token economy: parameters, refusals, slashes, and earnings and balances after claiming', () => {
    const t = (display: string) => ({ units: '1', display });
    const settlement = (slashed: { clientId: string; amount: { units: string; display: string } }[]) => ({ rewardRoot: `0x${'ab'.repeat(32)}`, ledgerRound: '7', paid: t('1000 NXS'), rewards: [], slashed });
    const report: JobReport = {
      jobId: 'job-3',
      name: 'paid',
      ...assessed,
      startedAt: new Date(0).toISOString(),
      config: parseWithSchema(demoConfig(), JobConfigSchema, 'config'),
      execution: { mode: 'in-process', workers: 1 },
      protection: 'none',
      participants: [],
      rounds: [{ ...round(1, 0.5), settlement: settlement([{ clientId: 'client-05', amount: { units: '0', display: '0 NXS' } }]) }, { ...round(2, 0.6), settlement: settlement([{ clientId: 'client-02', amount: t('100 NXS') }]) }],
      final: { accuracy: 0.6, loss: 0.5, passedValidation: true },
      model: { id: 'model-z', version: 3, sha256: 'ef'.repeat(32), numParams: 10 },
      timings: { setupSeconds: 0, trainSeconds: 0, aggregateSeconds: 0, evaluateSeconds: 0 },
      seconds: 1,
      chain: {
        network: 'in-process EVM, chain 31337',
        rewardPerRound: t('1000 NXS'),
        minimumStake: t('100 NXS'),
        rewardRoots: [`0x${'ab'.repeat(32)}`, `0x${'0'.repeat(64)}`],
        refused: [{ clientId: 'client-09', round: 0, code: 'NODE_STAKE_TOO_LOW', reason: 'client-09 has 0 NXS staked' }],
        balances: [
          { clientId: 'client-00', account: '0xaa', earned: t('1500.25 NXS'), balance: t('10500.25 NXS') },
          { clientId: 'client-02', account: '0xbb', earned: t('0 NXS'), balance: t('8900 NXS') },
        ],
      },
    };
    const text = formatRoundTable(report);
    expect(text).toContain('token economy (in-process EVM, chain 31337): 1000 NXS per round, minimum stake 100 NXS; 1 of 2 rounds posted a reward root');
    expect(text).toContain('refused at registration: client-09 has 0 NXS staked');
    expect(text).toContain('slash proposed for client-02 (flagged by the poisoning detector): 100 NXS in round 2; takes effect after the challenge period unless contested');
    // A flagged client against which no slash was proposed (no stake, or one still open) gets no slash line.
    expect(text).not.toContain('client-05');
    const lines = text.split('\n');
    const table = lines.indexOf(lines.find((l) => l.startsWith('client '))!);
    expect(lines[table].split(/\s+/)).toEqual(['client', 'earned', 'balance', 'account']);
    expect(lines[table + 1].split(/\s{2,}/)).toEqual(['client-00', '1500.25 NXS', '10500.25 NXS', '0xaa']);
    expect(lines[table + 2].split(/\s{2,}/)).toEqual(['client-02', '0 NXS', '8900 NXS', '0xbb']);
  });

  it('shows the baseline, per-class metrics and confusion matrix, and ends with the warnings and what failed', () => {
    const config = parseWithSchema({ ...demoConfig(), validation: { minOverBaseline: 0.05 } }, JobConfigSchema, 'config');
    // Test labels 3 'no' to 2 'yes'; the model answers 'no' every time, with one tie between the classes' scores.
    const labels = [0, 0, 0, 1, 1];
    const learnedNothing: ModelEvaluation = { ...classificationMetrics(labels, [0, 0, 0, 0, 0], 2, [0.3, 0.2, 0.1, 0.3, 0.1]), loss: 0.69, classNames: ['no', 'yes'] };
    const rounds = [round(1, 0.6), { ...round(2, 0.6), loss: 0.6 }, { ...round(3, 0.6), loss: 0.7 }];
    const warnings = jobWarnings({ config, rounds, finalAccuracy: 0.6, baseline: { accuracy: 0.6, className: 'no' } });
    const failures = [{ code: 'METRIC_BASELINE' as const, message: 'accuracy 0.6 is only 0 above the majority-class baseline 0.6; at least 0.05 above it is required', value: 0, limit: 0.05 }];
    const report: JobReport = {
      jobId: 'job-4',
      name: 'two-class',
      status: 'failed',
      evaluation: learnedNothing,
      warnings,
      validation: { passed: false, failures },
      startedAt: new Date(0).toISOString(),
      config,
      execution: { mode: 'in-process', workers: 1 },
      protection: 'none',
      participants: [],
      rounds,
      final: { accuracy: 0.6, loss: 0.7, passedValidation: false },
      model: { id: 'model-w', version: 4, sha256: '01'.repeat(32), numParams: 10 },
      timings: { setupSeconds: 0, trainSeconds: 0, aggregateSeconds: 0, evaluateSeconds: 0 },
      seconds: 1,
    };
    const lines = formatRoundTable(report).split('\n');
    // Positives score 0.3, 0.1 against negatives 0.3, 0.2, 0.1: pairs won 0.5 + 1 + 1 + 0 + 0 + 0.5 = 3 of 6.
    expect(lines).toContain("majority-class baseline 0.6000 (always 'no'), ROC AUC 0.5000, macro F1 0.3750");
    const table = lines.findIndex((l) => l.startsWith('class '));
    expect(lines[table].split(/\s+/)).toEqual(['class', 'precision', 'recall', 'f1', 'support']);
    expect(lines[table + 1].split(/\s+/)).toEqual(['no', '0.6000', '1.0000', '0.7500', '3']);
    expect(lines[table + 2].split(/\s+/)).toEqual(['yes', '-', '0.0000', '0.0000', '2']);
    expect(lines[table + 3]).toBe('confusion matrix (rows: true class, columns: predicted)');
    expect(lines[table + 4].trim().split(/\s+/)).toEqual(['no', 'yes']);
    expect(lines[table + 5].split(/\s+/)).toEqual(['no', '3', '0']);
    expect(lines[table + 6].split(/\s+/)).toEqual(['yes', '2', '0']);
    const tail = lines.slice(lines.findIndex((l) => l.startsWith('WARNING')));
    expect(tail[0]).toMatch(/^WARNING \[ACCURACY_NEAR_BASELINE\]: final accuracy 0.6000 is exactly the majority-class baseline 0.6000/);
    expect(tail[1]).toMatch(/^WARNING \[TEST_LOSS_RISING\]: held-out loss rose over the last half of the rounds, from 0.6000 at round 2 to 0.7000 at round 3/);
    expect(tail[2]).toBe('what to try:');
    // The two warnings share their suggestions; each is printed once.
    expect(tail.filter((l) => l.includes('FedProx'))).toHaveLength(1);
    expect(tail.at(-1)).toBe(`FAILED validation: [METRIC_BASELINE] ${failures[0].message}`);
  });

  it('points to the JSON report for a confusion matrix too wide for a terminal', () => {
    const labels = Array.from({ length: 13 }, (_, i) => i);
    const wide: ModelEvaluation = { ...classificationMetrics(labels, labels, 13), loss: 0.1, classNames: labels.map(String) };
    const report: JobReport = {
      jobId: 'job-5',
      name: 'wide',
      ...assessed,
      evaluation: wide,
      startedAt: new Date(0).toISOString(),
      config: parseWithSchema(demoConfig(), JobConfigSchema, 'config'),
      execution: { mode: 'in-process', workers: 1 },
      protection: 'none',
      participants: [],
      rounds: [round(1, 1)],
      final: { accuracy: 1, loss: 0.1, passedValidation: true },
      model: { id: 'model-v', version: 2, sha256: '02'.repeat(32), numParams: 10 },
      timings: { setupSeconds: 0, trainSeconds: 0, aggregateSeconds: 0, evaluateSeconds: 0 },
      seconds: 1,
    };
    const text = formatRoundTable(report);
    expect(text).toContain('confusion matrix (13 x 13): in the JSON report, evaluation.confusion');
    expect(text).not.toMatch(/WARNING|FAILED|what to try/);
  });
});
