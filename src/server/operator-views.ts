import { z } from 'zod';
import {
  NotFoundError,
  type JobRecord,
  type JobStatus,
  type NodeStatus,
  type PrivacyScopeKind,
  type ResourceMetrics,
  type RoundRecord,
  type RoundStatus,
  type Storage,
} from '../core/index.js';

/** Where the coordinator's own job stands: running, asked to pause (its round in progress finishes), or paused before a round. */
export type JobControlState = 'running' | 'pausing' | 'paused';

/** A job as the operator's list shows it. */
export interface JobSummary {
  id: string;
  name: string;
  status: JobStatus;
  createdAt: number;
  finishedAt: number | null;
  modelId: string | null;
  /** Rounds the job's config asks for, or null when the config does not say. */
  plannedRounds: number | null;
  /** Rounds stored so far, whatever their status. */
  storedRounds: number;
  /** Held-out accuracy after the latest evaluated round, or null before the first one. */
  latestAccuracy: number | null;
  /** For the job this coordinator runs, while it runs: whether it is paused. */
  control?: JobControlState;
}

/** One round of a job. */
export interface RoundView {
  number: number;
  status: RoundStatus;
  accuracy: number | null;
  loss: number | null;
  /** How far accuracy fell since the round before, when that was more than the job's `validation.maxAccuracyDrop`; null otherwise. */
  accuracyDrop: number | null;
  /** Updates accepted from clients. */
  updates: number;
  /** Clients selected for the round. */
  participants: string[];
  startedAt: number;
  finishedAt: number | null;
  error: string | null;
}

/** How the final model did on the held-out set, as the job's report states it. */
export type EvaluationView = z.infer<typeof EvaluationSchema>;

/** A warning the job ended with, and what to change. */
export type WarningView = z.infer<typeof WarningSchema>;

/** A job with its rounds, oldest round first. */
export interface JobDetail extends JobSummary {
  rounds: RoundView[];
  /** Why the job failed, when it did (a validation threshold its model missed, or the error that stopped it). */
  error: string | null;
  /** The final model's metrics once the job has finished; null before, or for a report that has none. */
  evaluation: EvaluationView | null;
  warnings: WarningView[];
  /** Whether the final model met the job's validation thresholds; null before the job finished. */
  validation: { passed: boolean; failures: { code: string; message: string }[] } | null;
}

/** A registered model and its newest version. */
export interface ModelView {
  id: string;
  name: string;
  latestVersion: number;
  createdAt: number;
  latest: { version: number; sha256: string; metrics: Record<string, number>; roundId: string | null; createdAt: number } | null;
}

/** A compute node and its health. */
export interface NodeView {
  id: string;
  status: NodeStatus;
  registeredAt: number;
  lastHeartbeat: number;
  resources: ResourceMetrics;
  labels: Record<string, string>;
}

/** A privacy ledger scope: what it may spend and what it has spent (epsilon at `delta`). */
export interface BudgetView {
  kind: PrivacyScopeKind;
  id: string;
  /** The epsilon budget. */
  epsilon: number;
  delta: number;
  /** Epsilon spent so far: the total after the latest charge, 0 before any. */
  spent: number;
  charges: number;
  updatedAt: number;
}

// A job's config and report are stored as opaque JSON; only these fields are read from them.
const PlannedRoundsSchema = z.object({ rounds: z.number().int().positive() });
const FailureSchema = z.object({ error: z.string() });
const ratio = z.number().nullable();
const EvaluationSchema = z.object({
  numExamples: z.number(),
  accuracy: z.number(),
  loss: z.number().nullable(),
  classNames: z.array(z.string()),
  confusion: z.array(z.array(z.number())),
  classes: z.array(z.object({ precision: ratio, recall: ratio, f1: ratio, support: z.number(), predicted: z.number() })),
  macroF1: ratio,
  baseline: z.object({ classIndex: z.number().int().nonnegative(), accuracy: z.number() }),
  rocAuc: ratio.optional(),
});
const WarningSchema = z.object({ code: z.string(), message: z.string(), suggestions: z.array(z.string()) });
const AssessmentSchema = z.object({
  evaluation: EvaluationSchema,
  warnings: z.array(WarningSchema),
  validation: z.object({ passed: z.boolean(), failures: z.array(z.object({ code: z.string(), message: z.string() })) }),
});

function finiteOrNull(value: number | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function summarise(job: JobRecord, rounds: RoundRecord[]): JobSummary {
  const planned = PlannedRoundsSchema.safeParse(job.config);
  const evaluated = rounds.filter((r) => finiteOrNull(r.metrics.accuracy) !== null);
  return {
    id: job.id,
    name: job.name,
    status: job.status,
    createdAt: job.createdAt,
    finishedAt: job.finishedAt,
    modelId: job.modelId,
    plannedRounds: planned.success ? planned.data.rounds : null,
    storedRounds: rounds.length,
    latestAccuracy: evaluated.length > 0 ? evaluated[evaluated.length - 1].metrics.accuracy : null,
  };
}

/** Every job, newest first, with its progress and latest accuracy. */
export async function listJobSummaries(storage: Storage): Promise<JobSummary[]> {
  const jobs = await storage.jobs.list();
  const summaries = await Promise.all(jobs.map(async (job) => summarise(job, await storage.rounds.list({ jobId: job.id }))));
  return summaries.reverse();
}

/** One job with its rounds; throws NotFoundError (JOB_NOT_FOUND) for an unknown id. */
export async function getJobDetail(storage: Storage, jobId: string): Promise<JobDetail> {
  const job = await storage.jobs.get(jobId);
  if (!job) throw new NotFoundError('job', jobId);
  const rounds = await storage.rounds.list({ jobId });
  const views = await Promise.all(
    rounds.map(async (round): Promise<RoundView> => ({
      number: round.number,
      status: round.status,
      accuracy: finiteOrNull(round.metrics.accuracy),
      loss: finiteOrNull(round.metrics.loss),
      accuracyDrop: finiteOrNull(round.metrics.accuracyDrop),
      updates: (await storage.rounds.listUpdates(round.id)).length,
      participants: round.participants,
      startedAt: round.startedAt,
      finishedAt: round.finishedAt,
      error: round.error,
    })),
  );
  const failure = FailureSchema.safeParse(job.report);
  const assessed = AssessmentSchema.safeParse(job.report);
  const missed = assessed.success && !assessed.data.validation.passed ? assessed.data.validation.failures.map((f) => f.message).join('; ') : null;
  return {
    ...summarise(job, rounds),
    rounds: views,
    error: job.status === 'failed' ? (failure.success ? failure.data.error : missed) : null,
    evaluation: assessed.success ? assessed.data.evaluation : null,
    warnings: assessed.success ? assessed.data.warnings : [],
    validation: assessed.success ? { passed: assessed.data.validation.passed, failures: assessed.data.validation.failures.map(({ code, message }) => ({ code, message })) } : null,
  };
}

/** Every registered model with its newest version's hash and metrics, oldest model first. */
export async function listModelViews(storage: Storage): Promise<ModelView[]> {
  const models = await storage.models.listModels();
  return Promise.all(
    models.map(async (model): Promise<ModelView> => {
      const versions = await storage.models.listVersions(model.id);
      const newest = versions[versions.length - 1];
      return {
        id: model.id,
        name: model.name,
        latestVersion: model.latestVersion,
        createdAt: model.createdAt,
        latest: newest
          ? { version: newest.version, sha256: newest.sha256, metrics: newest.metrics, roundId: newest.roundId, createdAt: newest.createdAt }
          : null,
      };
    }),
  );
}

/** Every compute node in registration order. */
export async function listNodeViews(storage: Storage): Promise<NodeView[]> {
  const nodes = await storage.nodes.list();
  return nodes.map(({ id, status, registeredAt, lastHeartbeat, resources, labels }) => ({ id, status, registeredAt, lastHeartbeat, resources, labels }));
}

/** Every privacy ledger scope with its budget and what it has spent. */
export async function listBudgetViews(storage: Storage): Promise<BudgetView[]> {
  const budgets = await storage.privacy.listBudgets();
  return Promise.all(
    budgets.map(async (budget): Promise<BudgetView> => {
      const charges = await storage.privacy.listCharges(budget.scope);
      const last = charges[charges.length - 1];
      return {
        kind: budget.scope.kind,
        id: budget.scope.id,
        epsilon: budget.epsilon,
        delta: budget.delta,
        spent: last ? last.epsilonAfter : 0,
        charges: charges.length,
        updatedAt: budget.updatedAt,
      };
    }),
  );
}
