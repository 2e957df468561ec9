import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { CipherNexusError } from '../core/errors.js';
import { attackOf } from './attacks.js';
import { NodeManager, TaskScheduler, type Storage } from '../core/index.js';
import { LocalModel, classCounts, evaluate, initBackend, type Dataset, type ModelSpec } from '../ml/index.js';
import type { NoiseSource } from '../privacy/dp/index.js';
import { decodeCompressed, type ClientResult, type ClientTask, type LocalTrainingPlan } from './client-training.js';
import { selectClients } from './client-selection.js';
import type { JobObserver, PreparedJob, RunJobOptions } from './federated-job.js';
import type { RoundContributions } from './incentives.js';
import type { JobConfig } from './job-config.js';
import { taskSeed } from './job-driver.js';
import { jobStreams } from './job-streams.js';
import { ModelRegistry } from './model-registry.js';
import { ModelValidator } from './model-validator.js';
import { detectPoisoning, type FlaggedClient } from './poisoning-detector.js';
import { JobPrivacy, noiseSourceFor, type RoundCharge } from './privacy-plan.js';
import type { IncentivesReport, JobReport, JobStop, ParticipantReport, RoundReport } from './report.js';
import { CkksRound } from './round-protection.js';
import { createClientRunner } from './simulation.js';
import { DpFixedClipping, createStrategy } from './strategies/index.js';
import { TrainingManager } from './training-manager.js';

/**
 * A CKKS job in simulation, on the single-key scheme whose participants share one secret key. It is
 * the one mode not yet on the job driver: multi-party CKKS replaces it (and this module) there.
 */
export async function runCkksSimulation(prepared: PreparedJob, storage: Storage, observer: JobObserver = {}, options: RunJobOptions = {}): Promise<JobReport> {
  const started = performance.now();
  const { config, spec, test, clients } = prepared;
  const { incentives } = options;
  const refused: IncentivesReport['refused'] = [];
  // Checked before anything is written, so a refusal leaves storage as it was.
  for (const refusal of incentives ? await incentives.admit([...clients.keys()]) : []) refused.push({ ...refusal, round: 0 });
  const active = new Set([...clients.keys()].filter((id) => !refused.some((x) => x.clientId === id)));
  await initBackend();
  const streams = jobStreams(config.seed);
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

  const protection = await CkksRound.create(jobId, config.privacy.heParams);
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
      const participants = selectClients(candidates, { ...config.selection, requirements: { cpuCores: 1 }, ...(weights ? { weights } : {}) }, jobStreams(config.seed + r - 1).selection);
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
        seed: taskSeed(config.seed, r, clientId),
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
      const { finalized, bytesPerClient, clientSeconds } = await protection.collect(manager, roundId, results, { trainLoss });
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
        protectSeconds: clientSeconds,
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
