import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { availableParallelism } from 'node:os';
import { InvalidInputError } from '../core/errors.js';
import { NodeManager, Rng, parseWithSchema, type Storage } from '../core/index.js';
import {
  checkSpecAgainstDataset,
  classCounts,
  initBackend,
  loadCsvDataset,
  partitionDirichlet,
  partitionIid,
  partitionShards,
  subset,
  validateModelSpec,
  type Dataset,
  type ModelSpec,
} from '../ml/index.js';
import { defaultGridStep, powerOfTwoAtMost } from '../privacy/dp/index.js';
import { attackOf, chooseAdversaries, type ClientAttack } from './attacks.js';
import { InProcessChannel } from './in-process-channel.js';
import type { RoundIncentives } from './incentives.js';
import { JobDriver } from './job-driver.js';
import { JobConfigSchema, type JobConfig, type JobConfigInput } from './job-config.js';
import { jobStreams } from './job-streams.js';
import type { JobReport, JobStop, ParticipantReport, RoundReport } from './report.js';
import { createClientRunner } from './simulation.js';

export { jobStreams } from './job-streams.js';

/** A job's data and model, loaded and checked before anything is written to storage. */
export interface PreparedJob {
  config: JobConfig;
  spec: ModelSpec;
  train: Dataset;
  test: Dataset;
  clients: Map<string, Dataset>;
  /** The training data's ledger name: the configured one, or the file's name and content hash. */
  datasetId: string;
  /** Class names in label order when the labels were text (absent for numeric labels, which name themselves). */
  classNames?: string[];
  /** Simulation only: the malicious clients and their attack; empty unless the config has `adversaries`. */
  adversaries: ReadonlyMap<string, ClientAttack>;
}

/** Progress callbacks of a running job. */
export interface JobObserver {
  onStart?(info: { jobId: string; rounds: number; clients: number }): void;
  onRound?(round: RoundReport): void;
  /** The job stopped before its last round (its privacy budget would have been exceeded). */
  onStop?(stop: JobStop): void;
}

/** What a job may be given besides its data and storage. */
export interface RunJobOptions {
  /** The token economy (stake to join, reputation-weighted selection, rewards and slashes per round); none unless given. */
  incentives?: RoundIncentives;
}

/** Validates a job config and loads and splits its data; throws InvalidInputError on bad input. */
export async function prepareJob(input: JobConfigInput | unknown): Promise<PreparedJob> {
  const config = parseWithSchema(input, JobConfigSchema, 'config');
  const data = config.data;
  const loadOptions = {
    labelColumn: data.labelColumn,
    features: data.features,
    header: data.header,
    delimiter: data.delimiter,
    featureShape: data.featureShape,
  };
  const train = await loadCsvDataset(data.train, { ...loadOptions, scale: data.scale });
  const test = await loadCsvDataset(data.test, {
    ...loadOptions,
    scale: data.scale,
    stats: train.stats,
    labels: train.labels,
  });
  if (test.dataset.numFeatures !== train.dataset.numFeatures) {
    throw new InvalidInputError(
      'DATA_SHAPE_MISMATCH',
      `the test file has ${test.dataset.numFeatures} features and the training file ${train.dataset.numFeatures}; they must match`,
    );
  }
  const spec = modelSpecFor(config, train.dataset);
  if (config.clients * 1 > train.dataset.numExamples) {
    throw new InvalidInputError(
      'CONFIG_INVALID',
      `config field 'clients': ${config.clients} clients cannot share ${train.dataset.numExamples} training examples`,
    );
  }
  const parts = partitionFor(config, train.dataset, jobStreams(config.seed).partition);
  const clients = new Map<string, Dataset>();
  const width = String(config.clients - 1).length;
  parts.forEach((indices, i) => clients.set(`client-${String(i).padStart(Math.max(2, width), '0')}`, subset(train.dataset, indices)));
  const adversaries = new Map<string, ClientAttack>();
  if (config.adversaries) {
    const attack = attackOf(config.adversaries);
    for (const id of chooseAdversaries([...clients.keys()], config.adversaries, jobStreams(config.seed).adversaries)) adversaries.set(id, attack);
  }
  const datasetId = config.privacy.dp?.dataset ?? `${basename(data.train)}@${createHash('sha256').update(readFileSync(data.train)).digest('hex').slice(0, 16)}`;
  return { config, spec, train: train.dataset, test: test.dataset, clients, datasetId, adversaries, ...(train.labels ? { classNames: train.labels } : {}) };
}

/** The job's model for a data set's feature shape and classes, checked against that data. */
export function modelSpecFor(config: JobConfig, train: Dataset): ModelSpec {
  const base = { inputShape: train.featureShape, numClasses: train.numClasses };
  const spec = validateModelSpec(
    config.model.type === 'mlp'
      ? { type: 'mlp', ...base, hidden: config.model.hidden, activation: config.model.activation }
      : { type: 'cnn', ...base, conv: config.model.conv, dense: config.model.dense },
  );
  checkSpecAgainstDataset(spec, train);
  return spec;
}

function partitionFor(config: JobConfig, train: Dataset, rng: Rng): number[][] {
  const p = config.partition;
  switch (p.kind) {
    case 'iid':
      return partitionIid(train.numExamples, config.clients, rng);
    case 'dirichlet':
      return partitionDirichlet(train.labels, config.clients, p.alpha, rng, { minPerClient: p.minPerClient });
    case 'shards':
      return partitionShards(train.labels, config.clients, p.shardsPerClient, rng);
  }
}

/**
 * Runs a federated training job in simulation: the same job driver that serves remote participants,
 * with the simulated clients joined through an in-process channel. Each client is the participant
 * runtime a client agent runs, training in this thread or in worker threads. With `incentives`,
 * nodes without enough stake are refused, selection is weighted by reputation and each round ends
 * with its rewards and penalties settled.
 */
export async function runJob(prepared: PreparedJob, storage: Storage, observer: JobObserver = {}, options: RunJobOptions = {}): Promise<JobReport> {
  const started = performance.now();
  const { config, spec, test, clients } = prepared;
  const { incentives } = options;
  // Checked before anything is written, so a refusal leaves storage as it was.
  const refusedAtRegistration = incentives ? await incentives.admit([...clients.keys()]) : [];
  const admitted = new Map([...clients].filter(([id]) => !refusedAtRegistration.some((x) => x.clientId === id)));
  await initBackend();
  const workers = config.execution.mode === 'workers' ? Math.max(1, Math.min(config.execution.workers ?? availableParallelism(), admitted.size)) : 1;
  const runner = await createClientRunner(spec, admitted, { mode: config.execution.mode, workers });
  const channel = new InProcessChannel(
    runner,
    new Map([...admitted].map(([id, data]) => [id, { numExamples: data.numExamples, ...(prepared.adversaries.has(id) ? { attack: prepared.adversaries.get(id) } : {}) }])),
  );
  const nodes = new NodeManager(storage);
  try {
    const driver = await JobDriver.open({ config, spec, test, datasetId: prepared.datasetId, ...(prepared.classNames ? { classNames: prepared.classNames } : {}) }, storage, channel, {
      resume: false,
      durable: false,
      openMembership: false,
      ...(incentives ? { incentives, refusedAtRegistration } : {}),
    });
    await channel.connect(driver);
    observer.onStart?.({ jobId: driver.jobId, rounds: config.rounds, clients: clients.size });
    driver.on('round', (round: RoundReport) => observer.onRound?.(round));
    driver.on('stopped', (stop: JobStop) => observer.onStop?.(stop));
    const setupSeconds = (performance.now() - started) / 1000;
    const outcome = await driver.run();
    const rounds = outcome.rounds;
    // A job the privacy budget stopped before its first round still has its initial model's figures.
    const final = outcome.final ?? { accuracy: outcome.evaluation.accuracy, loss: outcome.evaluation.loss };
    const participants: ParticipantReport[] = [...clients].map(([id, data]) => ({ id, numExamples: data.numExamples, classCounts: Array.from(classCounts(data)) }));
    const sum = (key: 'trainSeconds' | 'aggregateSeconds' | 'evaluateSeconds'): number => rounds.reduce((s, x) => s + x[key], 0);
    const dp = config.privacy.dp;
    const report: JobReport = {
      jobId: outcome.jobId,
      name: config.name,
      status: outcome.status,
      startedAt: new Date(Date.now() - (performance.now() - started)).toISOString(),
      config,
      execution: { mode: config.execution.mode, workers },
      protection: config.privacy.tee ? 'tee' : config.privacy.he ? 'ckks' : config.privacy.secagg ? 'secagg' : 'none',
      participants,
      rounds,
      final: { ...final, passedValidation: outcome.validation.passed },
      evaluation: outcome.evaluation,
      warnings: outcome.warnings,
      validation: outcome.validation,
      model: outcome.model,
      timings: { setupSeconds, trainSeconds: sum('trainSeconds'), aggregateSeconds: sum('aggregateSeconds'), evaluateSeconds: sum('evaluateSeconds') },
      seconds: (performance.now() - started) / 1000,
      ...(dp
        ? {
            privacy: {
              mode: dp.mode,
              noiseMultiplier: dp.noiseMultiplier,
              clipNorm: dp.clipNorm,
              delta: dp.delta,
              conversion: dp.conversion,
              noise: dp.noise,
              gridStep: dp.gridStep === undefined ? defaultGridStep(dp.clipNorm, outcome.model.numParams) : powerOfTwoAtMost(dp.gridStep),
              budget: dp.budget.epsilon,
              epsilon: outcome.epsilon ?? 0,
              dataset: prepared.datasetId,
            },
          }
        : {}),
      ...(outcome.stopped ? { stopped: outcome.stopped } : {}),
      ...(config.adversaries ? { adversaries: { simulated: true as const, clients: [...prepared.adversaries.keys()], ...attackOf(config.adversaries) } } : {}),
      ...(outcome.chain ? { chain: outcome.chain } : {}),
      ...(outcome.refusedUpdates ? { refusedUpdates: outcome.refusedUpdates } : {}),
    };
    await driver.saveReport(report.status, report);
    return report;
  } finally {
    await runner.close();
    // Simulated nodes live as long as their job.
    for (const id of clients.keys()) await nodes.unregisterNode(id).catch(() => undefined);
  }
}
