import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { availableParallelism } from 'node:os';
import { CipherNexusError, InvalidInputError } from '../core/errors.js';
import type { NoiseSource } from '../privacy/dp/index.js';
import { NodeManager, Rng, TaskScheduler, parseWithSchema, type Storage } from '../core/index.js';
import {
  LocalModel,
  checkSpecAgainstDataset,
  classCounts,
  evaluate,
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
import { attackOf, chooseAdversaries, type ClientAttack } from './attacks.js';
import { decodeCompressed, type ClientResult, type ClientTask, type LocalTrainingPlan } from './client-training.js';
import { selectClients } from './client-selection.js';
import type { RoundContributions, RoundIncentives } from './incentives.js';
import { JobConfigSchema, type JobConfig, type JobConfigInput } from './job-config.js';
import { ModelRegistry } from './model-registry.js';
import { ModelValidator } from './model-validator.js';
import { detectPoisoning, type FlaggedClient } from './poisoning-detector.js';
import { JobPrivacy, noiseSourceFor, type RoundCharge } from './privacy-plan.js';
import type { IncentivesReport, JobReport, JobStop, ParticipantReport, RoundReport } from './report.js';
import { CkksRound, PlainRound, SecAggRound, type RoundProtection } from './round-protection.js';
import { createClientRunner } from './simulation.js';
import { DpFixedClipping, createStrategy } from './strategies/index.js';
import { TrainingManager } from './training-manager.js';

/** A job's data and model, loaded and checked before anything is written to storage. */
export interface PreparedJob {
  config: JobConfig;
  spec: ModelSpec;
  train: Dataset;
  test: Dataset;
  clients: Map<string, Dataset>;
  /** The training data's ledger name: the configured one, or the file's name and content hash. */
  datasetId: string;
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
  return { config, spec, train: train.dataset, test: test.dataset, clients, datasetId, adversaries };
}

/** The independent random streams of a job, all derived from its one seed so that a seed replays the job. */
export function jobStreams(seed: number): { partition: Rng; selection: Rng; training: Rng; initSeed: number; adversaries: Rng } {
  const root = new Rng(seed);
  // Drawn in this order so that adding a stream at the end leaves the earlier ones as they were.
  const partition = root.fork();
  const selection = root.fork();
  const training = root.fork();
  const initSeed = root.nextUint32();
  return { partition, selection, training, initSeed, adversaries: root.fork() };
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
 * Runs a federated training job in simulation: registers the clients as compute nodes, then for
 * each round selects participants, schedules their local training as tasks, collects their updates
 * through the training manager, aggregates with the job's strategy and evaluates on held-out data.
 * With `incentives`, nodes without enough stake are refused, selection is weighted by reputation and
 * each round ends with its rewards and penalties settled.
 */
export async function runJob(prepared: PreparedJob, storage: Storage, observer: JobObserver = {}, options: RunJobOptions = {}): Promise<JobReport> {
  const started = performance.now();
  const { config, spec, test, clients } = prepared;
  const { incentives } = options;
  const refused: IncentivesReport['refused'] = [];
  // Checked before anything is written, so a refusal leaves storage as it was.
  for (const refusal of incentives ? await incentives.admit([...clients.keys()]) : []) refused.push({ ...refusal, round: 0 });
  const active = new Set([...clients.keys()].filter((id) => !refused.some((x) => x.clientId === id)));
  await initBackend();
  const streams = jobStreams(config.seed);
  const selectionRng = streams.selection;
  const trainingRng = streams.training;
  const initial = await LocalModel.create(spec, { seed: streams.initSeed });
  const evaluator = initial;
  const registry = new ModelRegistry(storage);
  const nodes = new NodeManager(storage);
  const scheduler = new TaskScheduler(storage, nodes);
  const dp = config.privacy.dp;
  const baseStrategy = createStrategy(config.strategy);
  // Client-level DP lives on the server: the wrapper clips and noises before the strategy sees anything.
  const dpNoise = (): NoiseSource => noiseSourceFor(dp?.noise ?? 'secure', streams.initSeed);
  // Under secure aggregation the clients clip and noise (see SecAggRound); the coordinator cannot.
  const strategy =
    dp?.mode === 'client' && !config.privacy.secagg
      ? new DpFixedClipping(baseStrategy, {
          clipNorm: dp.clipNorm,
          noiseMultiplier: dp.noiseMultiplier,
          noise: dpNoise(),
        })
      : baseStrategy;
  const validator = new ModelValidator({ expectedLength: initial.numParams, thresholds: config.validation });
  const manager = new TrainingManager(storage, registry, strategy, { validator });
  const jobId = `job-${randomUUID()}`;
  const createdAt = Date.now();
  const workers = config.execution.mode === 'workers' ? Math.min(config.execution.workers ?? availableParallelism(), clients.size) : 1;

  const modelId = await storage.transaction(async () => {
    await storage.jobs.upsert(jobRecord(jobId, config, createdAt, 'running', null, null));
    const id = await registry.registerModel({
      name: config.name,
      architecture: spec,
      hyperparameters: { ...config.training, strategy: config.strategy },
      initialWeights: initial.getWeights(),
    });
    await storage.jobs.upsert(jobRecord(jobId, config, createdAt, 'running', id, null));
    for (const clientId of active) {
      const data = clients.get(clientId) as Dataset;
      await nodes.registerNode({
        id: clientId,
        status: 'online',
        resources: { cpuCores: 1, memoryMb: 512 },
        labels: { simulated: 'true', job: jobId, examples: String(data.numExamples) },
      });
    }
    return id;
  });
  const privacy = dp
    ? await JobPrivacy.open(storage, dp, {
        jobId,
        datasetId: prepared.datasetId,
        federation: new Map([...clients].map(([id, data]) => [id, data.numExamples])),
        training: config.training,
      })
    : undefined;
  observer.onStart?.({ jobId, rounds: config.rounds, clients: clients.size });

  const protection: RoundProtection = config.privacy.he
    ? await CkksRound.create(jobId, config.privacy.heParams)
    : config.privacy.secagg
      ? new SecAggRound({
          clip: config.privacy.secagg.clip,
          dp: dp?.mode === 'client' ? { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise: dpNoise() } : undefined,
        })
      : new PlainRound();
  const runner = await createClientRunner(spec, clients, { mode: config.execution.mode, workers });
  const setupSeconds = (performance.now() - started) / 1000;
  const rounds: RoundReport[] = [];
  let latest = { version: 1, sha256: '', weights: initial.getWeights() };
  let stopped: JobStop | undefined;
  let chain: IncentivesReport | undefined;
  const rewardRoots: string[] = [];
  // Simulation of each client's own memory: its error-feedback residual between rounds.
  const residuals = new Map<string, Float32Array>();
  try {
    for (let r = 1; r <= config.rounds; r++) {
      const roundStart = performance.now();
      let candidates = (await nodes.listNodes()).filter((n) => n.labels.job === jobId);
      let weights: Record<string, number> | undefined;
      if (incentives) {
        // Stake can fall between rounds (a slash, an unstake request): a node below the minimum leaves the job.
        for (const refusal of await incentives.admit(candidates.map((n) => n.id))) {
          refused.push({ ...refusal, round: r });
          await nodes.unregisterNode(refusal.clientId);
          active.delete(refusal.clientId);
        }
        candidates = candidates.filter((n) => active.has(n.id));
        weights = await incentives.selectionWeights(candidates.map((n) => n.id));
      }
      const participants = selectClients(candidates, { ...config.selection, requirements: { cpuCores: 1 }, ...(weights ? { weights } : {}) }, selectionRng);
      let charge: RoundCharge | undefined;
      if (privacy) {
        try {
          charge = await privacy.chargeRound(r, participants);
        } catch (error) {
          if (!(error instanceof CipherNexusError) || error.code !== 'DP_BUDGET_EXCEEDED') throw error;
          stopped = { afterRound: r - 1, code: error.code, reason: error.message };
          observer.onStop?.(stopped);
          break;
        }
      }
      const quorum = Math.max(1, Math.ceil(config.round.quorum * participants.length));
      const roundId = await manager.startRound(modelId, {
        jobId,
        participants,
        quorum,
        deadlineMs: config.round.deadlineSeconds * 1000,
      });
      const plan: LocalTrainingPlan = { ...config.training, proximalMu: strategy.configureFit(r).proximalMu };
      const tasks: ClientTask[] = participants.map((clientId) => ({
        clientId,
        round: r,
        globalWeights: latest.weights,
        plan,
        seed: trainingRng.nextUint32(),
        privacy: charge?.cost.clientPlans.get(clientId),
        attack: prepared.adversaries.get(clientId),
        ...(config.compression.kind !== 'none' ? { compression: config.compression, residual: residuals.get(clientId) } : {}),
      }));
      const taskIds = new Map<string, string>();
      for (const task of tasks) {
        const taskId = `${roundId}/${task.clientId}`;
        await scheduler.scheduleTask({ id: taskId, type: 'train', priority: 0, requirements: { cpuCores: 1 }, payload: { jobId, roundId, clientId: task.clientId } });
        await scheduler.assignTask(task.clientId, taskId);
        taskIds.set(task.clientId, taskId);
      }
      const trainStart = performance.now();
      let results: ClientResult[];
      try {
        // Compressed updates are rebuilt on the coordinator; each client keeps its own residual.
        results = (await runner.run(tasks)).map((result) => {
          if (result.residual) residuals.set(result.clientId, result.residual);
          return decodeCompressed(result, latest.weights);
        });
      } catch (error) {
        for (const taskId of taskIds.values()) await scheduler.failTask(taskId, (error as Error).message);
        throw error;
      }
      const trainSeconds = (performance.now() - trainStart) / 1000;
      const trainLoss = weightedMean(results.map((x) => [x.loss, x.numExamples]));
      const { enabled: detect, ...detectorOptions } = config.detection;
      // The detector reads individual updates, which a protected round does not show the coordinator.
      const flagged = detect && protection.individualUpdatesVisible ? detectPoisoning(latest.weights, results, detectorOptions) : undefined;
      const { finalized, bytesPerClient, clientSeconds } = await protection.collect(manager, roundId, results, { trainLoss }, latest.weights);
      for (const result of results) {
        await scheduler.completeTask(taskIds.get(result.clientId) as string, { loss: result.loss, numExamples: result.numExamples });
      }
      const evalStart = performance.now();
      evaluator.setWeights(finalized.weights);
      const metrics = await evaluate(evaluator, test, { batchSize: 512 });
      const evaluateSeconds = (performance.now() - evalStart) / 1000;
      // Flags go to the round's stored metrics, one key per client and reason; the hash-chained audit
      // trail that DESIGN.md promises arrives with the coordinator server and will take them from here.
      const flagMetrics = flagged ? Object.fromEntries([['flagged', new Set(flagged.map((f) => f.clientId)).size], ...flagged.map((f) => [`flagged:${f.clientId}:${f.reason}`, f.score])]) : {};
      await manager.recordMetrics(roundId, { accuracy: metrics.accuracy, loss: metrics.loss, ...flagMetrics });
      latest = { version: finalized.version.version, sha256: finalized.version.sha256, weights: finalized.weights };
      const settlement = incentives ? await incentives.settle(r, roundContributions(jobId, r, results, flagged ?? [])) : undefined;
      if (settlement) rewardRoots.push(settlement.rewardRoot);
      const report: RoundReport = {
        round: r,
        accuracy: metrics.accuracy,
        loss: metrics.loss,
        participants,
        seconds: (performance.now() - roundStart) / 1000,
        trainSeconds,
        aggregateSeconds: finalized.aggregateSeconds,
        evaluateSeconds,
        trainLoss,
        modelVersion: finalized.version.version,
        bytesPerClient,
        ...(protection.kind !== 'none' ? { protectSeconds: clientSeconds } : {}),
        ...(charge ? { epsilon: charge.epsilon, epsilonRound: charge.epsilonRound } : {}),
        ...(flagged ? { flagged } : {}),
        ...(settlement ? { settlement } : {}),
      };
      rounds.push(report);
      observer.onRound?.(report);
    }
    if (incentives) chain = { ...(await incentives.finish()), rewardRoots, refused };
  } catch (error) {
    await storage.jobs.upsert(jobRecord(jobId, config, createdAt, 'failed', modelId, { error: (error as Error).message }));
    throw error;
  } finally {
    await runner.close();
    protection.close();
    evaluator.dispose();
    for (const clientId of active) await nodes.unregisterNode(clientId);
  }

  const final = rounds.length > 0 ? { accuracy: rounds[rounds.length - 1].accuracy, loss: rounds[rounds.length - 1].loss } : await evaluateInitial(spec, latest.weights, test);
  const passedValidation = await registry.validateModel(modelId, final, config.validation);
  const participants: ParticipantReport[] = [...clients].map(([id, data]) => ({
    id,
    numExamples: data.numExamples,
    classCounts: Array.from(classCounts(data)),
  }));
  const sum = (key: 'trainSeconds' | 'aggregateSeconds' | 'evaluateSeconds'): number => rounds.reduce((s, x) => s + x[key], 0);
  const report: JobReport = {
    jobId,
    name: config.name,
    startedAt: new Date(Date.now() - (performance.now() - started)).toISOString(),
    config,
    execution: { mode: config.execution.mode, workers },
    protection: protection.kind,
    participants,
    rounds,
    final: { ...final, passedValidation },
    model: { id: modelId, version: latest.version, sha256: latest.sha256, numParams: latest.weights.length },
    timings: { setupSeconds, trainSeconds: sum('trainSeconds'), aggregateSeconds: sum('aggregateSeconds'), evaluateSeconds: sum('evaluateSeconds') },
    seconds: (performance.now() - started) / 1000,
    ...(dp && privacy
      ? {
          privacy: {
            mode: dp.mode,
            noiseMultiplier: dp.noiseMultiplier,
            clipNorm: dp.clipNorm,
            delta: dp.delta,
            conversion: dp.conversion,
            noise: dp.noise,
            budget: dp.budget.epsilon,
            epsilon: privacy.spent(),
            dataset: prepared.datasetId,
          },
        }
      : {}),
    ...(stopped ? { stopped } : {}),
    ...(config.adversaries ? { adversaries: { simulated: true as const, clients: [...prepared.adversaries.keys()], ...attackOf(config.adversaries) } } : {}),
    ...(chain ? { chain } : {}),
  };
  await storage.jobs.upsert(jobRecord(jobId, config, createdAt, 'completed', modelId, report));
  return report;
}

/**
 * A round's contribution score per client is the number of examples it trained on: FedAvg weights
 * each update by exactly that (McMahan et al. 2017), so a client's reward share equals its share of
 * the aggregate. Scores from model quality (leave-one-out or Shapley gains) would cost extra
 * evaluations per round and are not computable under secure aggregation. A flagged client earns
 * nothing and is penalised; the evidence names the job, round and the detector's statistics.
 */
function roundContributions(jobId: string, round: number, results: readonly ClientResult[], flagged: readonly FlaggedClient[]): RoundContributions {
  const reasons = new Map<string, string[]>();
  for (const f of flagged) reasons.set(f.clientId, [...(reasons.get(f.clientId) ?? []), `${f.reason} ${f.score.toPrecision(4)}`]);
  return {
    contributions: results.map((x) => ({ clientId: x.clientId, score: x.numExamples })),
    flagged: [...reasons].map(([clientId, why]) => ({ clientId, evidence: `job ${jobId} round ${round} ${clientId}: ${why.join(', ')}` })),
  };
}

async function evaluateInitial(spec: ModelSpec, weights: Float32Array, test: Dataset): Promise<{ accuracy: number; loss: number }> {
  const model = await LocalModel.create(spec, { seed: 0 });
  try {
    model.setWeights(weights);
    const { accuracy, loss } = await evaluate(model, test, { batchSize: 512 });
    return { accuracy, loss };
  } finally {
    model.dispose();
  }
}

function jobRecord(id: string, config: JobConfig, createdAt: number, status: 'running' | 'completed' | 'failed', modelId: string | null, report: unknown) {
  return {
    id,
    name: config.name,
    config,
    status,
    modelId,
    report,
    createdAt,
    finishedAt: status === 'running' ? null : Date.now(),
  };
}

function weightedMean(pairs: [number, number][]): number {
  const total = pairs.reduce((s, [, w]) => s + w, 0);
  return pairs.reduce((s, [v, w]) => s + v * w, 0) / total;
}
