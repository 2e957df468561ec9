import type { Storage } from '../core/index.js';
import { classificationMetrics, evaluate, predict, type LocalModel } from '../ml/index.js';
import type { CoordinatorJob } from './job-driver.js';
import { jobWarnings, type JobWarning } from './job-warnings.js';
import type { ModelRegistry } from './model-registry.js';
import { ModelValidator } from './model-validator.js';
import type { JobPrivacy } from './privacy-plan.js';
import type { IncentivesReport, JobStop, JobValidation, ModelEvaluation, RefusedUpdate, RoundReport } from './report.js';

/** What a finished job reports, whichever transport carried it. */
export interface JobOutcome {
  jobId: string;
  name: string;
  /** 'failed' when the final model missed a `validation` threshold (see `validation.failures`). */
  status: 'completed' | 'failed';
  /** True when this process took the job over from a coordinator that stopped. */
  resumed: boolean;
  /** The rounds this process ran. */
  rounds: RoundReport[];
  /** Accepted updates per finalised round, round 1 first, from the store (so they survive restarts). */
  acceptedPerRound: number[];
  final: { accuracy: number; loss: number } | null;
  /** The final model on the held-out set: per-class metrics, confusion matrix, majority-class baseline, ROC AUC for two classes. */
  evaluation: ModelEvaluation;
  /** Signs that the model learned little or got worse, with what to change. */
  warnings: JobWarning[];
  validation: JobValidation;
  model: { id: string; version: number; sha256: string; numParams: number };
  seconds: number;
  /** With differential privacy: the job's epsilon when it ended. */
  epsilon?: number;
  stopped?: JobStop;
  chain?: IncentivesReport;
  /** Updates refused for claiming more weight than their participant declared (this process's rounds). */
  refusedUpdates?: RefusedUpdate[];
}

/** What a job's outcome is built from: the job and its records, and what this process's rounds came to. */
export interface OutcomeInput {
  job: CoordinatorJob;
  jobId: string;
  resumed: boolean;
  storage: Storage;
  registry: ModelRegistry;
  modelId: string;
  /** A model of the job's architecture to evaluate the final weights with. */
  evaluator: LocalModel;
  rounds: RoundReport[];
  /** performance.now() when this process started running the job. */
  started: number;
  privacy: JobPrivacy | undefined;
  stopped: JobStop | undefined;
  chain: IncentivesReport | undefined;
  refusedUpdates: readonly RefusedUpdate[];
}

/** The job's outcome: every finalised round from the store, and the final model evaluated, warned about and validated. */
export async function jobOutcome(input: OutcomeInput): Promise<JobOutcome> {
  const { job, jobId, storage, registry, modelId, evaluator, rounds, started, privacy, stopped, chain, refusedUpdates } = input;
  const { config } = job;
  const all = (await storage.rounds.list({ jobId })).filter((r) => r.status === 'finalized').sort((a, b) => a.number - b.number);
  const model = await registry.getModel(modelId);
  const latest = await registry.getVersion(modelId, model.latestVersion);
  const last = all[all.length - 1];
  const evaluation = await evaluateFinal(job, evaluator, latest.weights);
  const warnings = jobWarnings({
    config,
    rounds: all.map((r) => ({ round: r.number, accuracy: r.metrics.accuracy, loss: r.metrics.loss })),
    finalAccuracy: evaluation.accuracy,
    baseline: { accuracy: evaluation.baseline.accuracy, className: evaluation.classNames[evaluation.baseline.classIndex] },
  });
  const validation = validateFinal(config.validation, evaluation, latest.weights.length);
  return {
    jobId,
    name: config.name,
    status: validation.passed ? 'completed' : 'failed',
    resumed: input.resumed,
    rounds,
    acceptedPerRound: all.map((r) => r.metrics.updates ?? 0),
    final: last ? { accuracy: last.metrics.accuracy, loss: last.metrics.loss } : null,
    evaluation,
    warnings,
    validation,
    model: { id: modelId, version: latest.version, sha256: latest.sha256, numParams: latest.weights.length },
    seconds: (performance.now() - started) / 1000,
    ...(privacy ? { epsilon: privacy.spent() } : {}),
    ...(stopped ? { stopped } : {}),
    ...(chain ? { chain } : {}),
    ...(refusedUpdates.length > 0 ? { refusedUpdates: [...refusedUpdates] } : {}),
  };
}

/** The final model on the held-out set the rounds were evaluated on; the baseline comes from that set's labels. */
async function evaluateFinal(job: CoordinatorJob, evaluator: LocalModel, weights: Float32Array): Promise<ModelEvaluation> {
  const { spec, test } = job;
  evaluator.setWeights(weights);
  const { loss } = await evaluate(evaluator, test, { batchSize: 512 });
  const predicted = await predict(evaluator, test, { batchSize: 512 });
  const k = spec.numClasses;
  // ROC AUC ranks the examples by the model's probability of class 1, the second in label order.
  const positiveScores = k === 2 ? predicted.probabilities.filter((_, i) => i % 2 === 1) : undefined;
  const classNames = Array.from({ length: k }, (_, c) => job.classNames?.[c] ?? String(c));
  return { ...classificationMetrics(test.labels, predicted.classes, k, positiveScores), loss, classNames };
}

/** The job's `validation` thresholds against the final model; a job without thresholds always passes. */
function validateFinal(thresholds: CoordinatorJob['config']['validation'], evaluation: ModelEvaluation, numParams: number): JobValidation {
  if (Object.values(thresholds).every((v) => v === undefined)) return { passed: true, failures: [] };
  const verdict = new ModelValidator({ expectedLength: numParams, thresholds }).checkMetrics({ accuracy: evaluation.accuracy, loss: evaluation.loss, baseline: evaluation.baseline.accuracy });
  return { passed: verdict.valid, failures: verdict.reasons };
}
