import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../src/core/index.js';
import { ModelRegistry, prepareJob, runJob, type JobReport } from '../src/fl/index.js';
import { LocalModel, initBackend, predict } from '../src/ml/index.js';
import { runCliToEnd } from './support/cli-run.js';
import { writeTwoClassCsv } from './support/two-class-data.js';


/** The Mann-Whitney U over n1 n0, pair by pair, a tie counting one half. */
function aucByPairs(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  let u = 0;
  let pairs = 0;
  for (let i = 0; i < labels.length; i++) {
    for (let j = 0; j < labels.length; j++) {
      if (labels[i] !== 1 || labels[j] !== 0) continue;
      pairs++;
      u += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return u / pairs;
}

// Five clients on a Dirichlet 0.5 split, as in the issue: one client may hold a single class.
const JOB = (train: string, test: string, training: string): string[] => [
  'name: two-class',
  'seed: 3',
  'data:',
  `  train: ${train}`,
  `  test: ${test}`,
  '  labelColumn: label',
  'clients: 5',
  'rounds: 10',
  'partition: { kind: dirichlet, alpha: 0.5, minPerClient: 10 }',
  'model: { type: mlp, hidden: [16] }',
  `training: ${training}`,
  'execution: { mode: in-process }',
];

describe('evaluation on a made two-class non-IID split', () => {
  let dir: string;
  let testLabels: string[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cn-eval-'));
    writeTwoClassCsv(join(dir, 'noise-train.csv'), 200, 1, 0);
    testLabels = writeTwoClassCsv(join(dir, 'noise-test.csv'), 500, 2, 0);
    writeTwoClassCsv(join(dir, 'signal-train.csv'), 200, 1, 1);
    writeTwoClassCsv(join(dir, 'signal-test.csv'), 500, 2, 1);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a job that learned nothing warns, reports the metrics against the baseline, and fails minOverBaseline with exit 3', async () => {
    // Adam at 20 local epochs on 200 rows without signal: each round fits the noise a little more.
    const config = [...JOB('noise-train.csv', 'noise-test.csv', '{ epochs: 20, batchSize: 16, learningRate: 0.01, optimizer: adam }'), 'validation: { minOverBaseline: 0.02 }'];
    writeFileSync(join(dir, 'noise.yaml'), config.join('\n'));
    const db = join(dir, 'noise.db');
    const run = await runCliToEnd(['--db', db, 'train', '--config', 'noise.yaml', '--report', 'noise.json'], { cwd: dir });

    // Not bad input (2) nor a crash to restart (1): the job ran, its report is written, and rerunning would repeat it.
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^error \[JOB_VALIDATION_FAILED\]: job job-\S+ failed its validation: accuracy \S+ is (only \S+ above|\S+ below) the majority-class baseline 0\.\d+; at least 0\.02 above it is required/m);
    expect(run.stderr).not.toMatch(/\n\s+at /);

    const report = JSON.parse(readFileSync(join(dir, 'noise.json'), 'utf8')) as JobReport;
    const no = testLabels.filter((l) => l === 'no').length;
    const yes = testLabels.length - no;
    const e = report.evaluation;
    // The baseline comes from the held-out labels: 'no' is the majority.
    expect(e.classNames).toEqual(['no', 'yes']);
    expect(e.baseline).toEqual({ classIndex: 0, accuracy: no / 500 });
    expect(e.confusion[0][0] + e.confusion[0][1]).toBe(no);
    expect(e.confusion[1][0] + e.confusion[1][1]).toBe(yes);
    expect(e.accuracy).toBe((e.confusion[0][0] + e.confusion[1][1]) / 500);
    expect(e.accuracy).toBe(report.final.accuracy);
    expect(e.classes[1].support).toBe(yes);
    expect(e.classes[1].recall).toBe(e.confusion[1][1] / yes);

    expect(report.warnings.map((w) => w.code)).toEqual(['ACCURACY_NEAR_BASELINE', 'TEST_LOSS_RISING']);
    expect(report.warnings[0].suggestions.join('\n')).toMatch(/fedprox[\s\S]*learningRate, now 0.01[\s\S]*optimizer: sgd; now adam[\s\S]*more clients per round/);
    expect(report.status).toBe('failed');
    expect(report.final.passedValidation).toBe(false);
    expect(report.validation.failures.map((f) => f.code)).toEqual(['METRIC_BASELINE']);

    // What the terminal showed: the table, the per-class lines and the warnings.
    expect(run.stdout).toContain(`majority-class baseline ${(no / 500).toFixed(4)} (always 'no'), ROC AUC ${e.rocAuc?.toFixed(4)}`);
    expect(run.stdout).toMatch(/^yes +\S+ +\S+ +\S+ +\d+$/m);
    expect(run.stdout).toMatch(/^WARNING \[ACCURACY_NEAR_BASELINE\]: final accuracy/m);
    expect(run.stdout).toMatch(/^WARNING \[TEST_LOSS_RISING\]: held-out loss rose over the last half of the rounds/m);
    expect(run.stdout).toMatch(/^FAILED validation: \[METRIC_BASELINE\]/m);

    // The stored job is failed, and the ROC AUC is the U statistic of the stored model's own scores.
    const storage = openStorage({ path: db });
    try {
      expect((await storage.jobs.get(report.jobId))?.status).toBe('failed');
      const prepared = await prepareJob(JSON.parse(JSON.stringify(report.config)));
      const weights = (await new ModelRegistry(storage).getVersion(report.model.id)).weights;
      await initBackend();
      const model = await LocalModel.create(prepared.spec, { seed: 0 });
      model.setWeights(weights);
      const { probabilities } = await predict(model, prepared.test);
      model.dispose();
      expect(e.rocAuc).toBeCloseTo(aucByPairs(prepared.test.labels, probabilities.filter((_, i) => i % 2 === 1)), 12);
    } finally {
      await storage.close();
    }
  });

  it('the same split with signal, trained as the warning suggests (SGD), learns: no warning, validation passed', async () => {
    const lines = [...JOB(join(dir, 'signal-train.csv'), join(dir, 'signal-test.csv'), '{ epochs: 5, batchSize: 16, learningRate: 0.1, optimizer: sgd }'), 'validation: { minOverBaseline: 0.2 }'];
    writeFileSync(join(dir, 'signal.yaml'), lines.join('\n'));
    const { loadJobConfig } = await import('../src/fl/index.js');
    const storage = openStorage({ path: ':memory:' });
    try {
      const report = await runJob(await prepareJob(loadJobConfig(join(dir, 'signal.yaml'))), storage);
      expect(report.warnings).toEqual([]);
      expect(report.status).toBe('completed');
      expect(report.validation).toEqual({ passed: true, failures: [] });
      expect(report.evaluation.accuracy).toBeGreaterThan(report.evaluation.baseline.accuracy + 0.2);
      expect(report.evaluation.rocAuc).toBeGreaterThan(0.9);
      expect(report.evaluation.classes.every((c) => c.precision !== null && c.f1 !== null && c.f1 > 0.8)).toBe(true);
      expect((await storage.jobs.get(report.jobId))?.status).toBe('completed');
    } finally {
      await storage.close();
    }
  });
});
