import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { InvalidInputError, NotFoundError, StateError } from '../core/errors.js';
import { NodeManager, TaskScheduler, parseWithSchema, type ResourceMetrics, type Storage } from '../core/index.js';
import { LocalModel, evaluate, initBackend, loadCsvDataset, type Dataset, type ModelSpec } from '../ml/index.js';
import type { LocalTrainingPlan } from './client-training.js';
import { selectClients } from './client-selection.js';
import { jobStreams, modelSpecFor } from './federated-job.js';
import { JobConfigSchema, type JobConfig, type JobConfigInput } from './job-config.js';
import { ModelRegistry } from './model-registry.js';
import { ModelValidator } from './model-validator.js';
import type { RoundReport } from './report.js';
import { createStrategy } from './strategies/index.js';
import { TrainingManager, UpdateRejectedError, type SubmitOutcome } from './training-manager.js';

/** A job whose participants run elsewhere: the coordinator holds only the model and a held-out set. */
export interface PreparedCoordinatedJob {
  config: JobConfig;
  spec: ModelSpec;
  /** The coordinator's held-out data, for evaluating each round's model. */
  test: Dataset;
  /** How a participant reads its own CSV so that its features match the model (sent in the welcome). */
  data: ParticipantDataOptions;
}

/** What a participant needs to load its local CSV the way the job expects. */
export interface ParticipantDataOptions {
  labelColumn: string | number;
  features?: (string | number)[];
  header: boolean | 'auto';
  delimiter: string;
  featureShape?: number[];
  scale: { kind: 'none' } | { kind: 'divide'; by: number } | { kind: 'minmax' };
  /** Min-max statistics from the coordinator's held-out set, so every participant scales alike. */
  stats?: { min: number[]; max: number[] };
  /** Class names in label order when labels are text, so a participant's labels map to the same outputs. */
  labels?: string[];
  numClasses: number;
}

/** One round's work for one remote participant. */
export interface RemoteTask {
  jobId: string;
  roundId: string;
  round: number;
  modelVersion: number;
  sha256: string;
  plan: LocalTrainingPlan;
  seed: number;
  deadline: number;
}

/** How the job reaches its participants; the coordinator server implements it over the network. */
export interface ParticipantChannel {
  /** Sends a task with the global weights; false when the participant is not connected. */
  sendTask(participantId: string, task: RemoteTask, weights: Float32Array): boolean;
  /** Tells every connected participant that the job ended. */
  announceDone(jobId: string, status: 'completed' | 'failed', accuracy?: number): void;
}

/** An update as it arrived from a participant. */
export interface RemoteUpdate {
  roundId: string;
  numExamples: number;
  loss: number;
  seconds: number;
  weights: Float32Array;
}

/** What a finished coordinated job reports. */
export interface CoordinatedJobReport {
  jobId: string;
  name: string;
  status: 'completed' | 'failed';
  /** True when this process took the job over from a coordinator that stopped. */
  resumed: boolean;
  rounds: RoundReport[];
  /** Accepted updates per round, round 1 first, from the store (so they survive restarts). */
  acceptedPerRound: number[];
  final: { accuracy: number; loss: number } | null;
  model: { id: string; version: number; sha256: string; numParams: number };
  seconds: number;
}

/** Validates a job config for a coordinator and loads its held-out set; training data stays with the participants. */
export async function prepareCoordinatedJob(input: JobConfigInput | unknown): Promise<PreparedCoordinatedJob> {
  const config = parseWithSchema(input, JobConfigSchema, 'config');
  if (config.privacy.he || config.privacy.secagg || config.privacy.dp || config.compression.kind !== 'none' || config.adversaries) {
    throw new InvalidInputError(
      'CONFIG_UNSUPPORTED_REMOTE',
      'config: privacy (dp, he, secagg), compression and adversaries run in simulation (`cipher-nexus train`) only for now; remove them to serve the job to remote participants',
    );
  }
  const d = config.data;
  const loaded = await loadCsvDataset(d.test, { labelColumn: d.labelColumn, features: d.features, header: d.header, delimiter: d.delimiter, featureShape: d.featureShape, scale: d.scale });
  const spec = modelSpecFor(config, loaded.dataset);
  const data: ParticipantDataOptions = {
    labelColumn: d.labelColumn,
    ...(d.features ? { features: d.features } : {}),
    header: d.header,
    delimiter: d.delimiter,
    ...(d.featureShape ? { featureShape: d.featureShape } : {}),
    scale: d.scale,
    ...(loaded.stats ? { stats: { min: Array.from(loaded.stats.min), max: Array.from(loaded.stats.max) } } : {}),
    ...(loaded.labels ? { labels: loaded.labels } : {}),
    numClasses: loaded.dataset.numClasses,
  };
  return { config, spec, test: loaded.dataset, data };
}

interface Joined {
  numExamples: number;
}

/**
 * Runs a federated job whose participants train remotely: rounds, selection, durable streaming
 * aggregation and evaluation, state in the store so that a restarted coordinator takes the job
 * over where it stopped (an open round keeps the updates it had accepted).
 */
export class CoordinatedJob extends EventEmitter {
  private readonly joined = new Map<string, Joined>();
  private waiters: (() => void)[] = [];
  private current: { roundId: string; task: Omit<RemoteTask, 'seed'>; weights: Float32Array; participants: Set<string>; accepted: Set<string> } | null = null;

  private constructor(
    readonly jobId: string,
    readonly resumed: boolean,
    private readonly prepared: PreparedCoordinatedJob,
    private readonly storage: Storage,
    private readonly channel: ParticipantChannel,
    private readonly modelId: string,
    private readonly createdAt: number,
    private readonly manager: TrainingManager,
    private readonly registry: ModelRegistry,
    private readonly nodes: NodeManager,
    private readonly scheduler: TaskScheduler,
  ) {
    super();
  }

  /** Takes over the store's running job of this name, or creates it with a fresh model. */
  static async open(prepared: PreparedCoordinatedJob, storage: Storage, channel: ParticipantChannel): Promise<CoordinatedJob> {
    const { config, spec } = prepared;
    await initBackend();
    const registry = new ModelRegistry(storage);
    const nodes = new NodeManager(storage);
    const scheduler = new TaskScheduler(storage, nodes);
    const initial = await LocalModel.create(spec, { seed: jobStreams(config.seed).initSeed });
    const weights = initial.getWeights();
    initial.dispose();
    const manager = new TrainingManager(storage, registry, createStrategy(config.strategy), {
      validator: new ModelValidator({ expectedLength: weights.length, thresholds: config.validation }),
      streaming: true,
      durable: true,
    });
    const running = (await storage.jobs.list()).find((j) => j.status === 'running' && j.name === config.name && j.modelId);
    if (running) {
      // FedAdam's and FedYogi's moments continue where the previous process left them.
      await manager.restoreStrategyState(running.modelId as string);
      return new CoordinatedJob(running.id, true, prepared, storage, channel, running.modelId as string, running.createdAt, manager, registry, nodes, scheduler);
    }
    const jobId = `job-${randomUUID()}`;
    const createdAt = Date.now();
    const modelId = await storage.transaction(async () => {
      const id = await registry.registerModel({ name: config.name, architecture: spec, hyperparameters: { ...config.training, strategy: config.strategy }, initialWeights: weights });
      await storage.jobs.upsert({ id: jobId, name: config.name, config, status: 'running', modelId: id, report: null, createdAt, finishedAt: null });
      return id;
    });
    return new CoordinatedJob(jobId, false, prepared, storage, channel, modelId, createdAt, manager, registry, nodes, scheduler);
  }

  /** A participant connected (again): registers it as an online node and hands it the open round's task if it owes one. */
  async join(participantId: string, numExamples: number, resources: ResourceMetrics): Promise<void> {
    await this.nodes.registerNode({ id: participantId, status: 'online', resources, labels: { job: this.jobId, remote: 'true', examples: String(numExamples) } });
    this.joined.set(participantId, { numExamples });
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
    const open = this.current;
    if (open && open.participants.has(participantId) && !open.accepted.has(participantId)) {
      this.channel.sendTask(participantId, { ...open.task, seed: taskSeed(this.prepared.config.seed, open.task.round, participantId) }, open.weights);
    }
  }

  /** A participant's connection closed; it stays a node but is no longer offered tasks. */
  async leave(participantId: string): Promise<void> {
    this.joined.delete(participantId);
    const node = await this.storage.nodes.get(participantId);
    // A quick reconnect may have joined again meanwhile: it stays online.
    if (node && !this.joined.has(participantId)) await this.storage.nodes.upsert({ ...node, status: 'offline' });
  }

  /** Fresh resource metrics from a participant's heartbeat. */
  async heartbeat(participantId: string, resources: ResourceMetrics): Promise<void> {
    if (this.joined.has(participantId)) await this.nodes.heartbeat(participantId, resources);
  }

  /** Admits one participant's update to the open round (or recognises a resubmission). */
  async submit(participantId: string, update: RemoteUpdate): Promise<SubmitOutcome> {
    const outcome = await this.manager.submitUpdate(update.roundId, {
      clientId: participantId,
      weights: update.weights,
      numExamples: update.numExamples,
      metrics: { loss: update.loss, seconds: update.seconds },
    });
    if (outcome === 'accepted') {
      if (this.current?.roundId === update.roundId) this.current.accepted.add(participantId);
      const taskId = `${update.roundId}/${participantId}`;
      // The scheduler holds its active tasks in memory: no store read on this per-update path.
      const task = await this.scheduler.getTask(taskId).catch((error: unknown) => {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      });
      if (task?.status === 'assigned') await this.scheduler.completeTask(taskId, { loss: update.loss, numExamples: update.numExamples });
      this.emit('update', { roundId: update.roundId, participantId });
    }
    return outcome;
  }

  /**
   * A participant offers its update for a round before sending it (so the coordinator can pace
   * uploads): 'send' when the round wants it, 'duplicate' when it was already accepted.
   */
  async offer(participantId: string, roundId: string): Promise<'send' | 'duplicate'> {
    const open = this.current;
    if (open?.roundId === roundId) {
      if (open.accepted.has(participantId)) return 'duplicate';
      if (!open.participants.has(participantId)) throw new UpdateRejectedError('UPDATE_NOT_PARTICIPANT', `'${participantId}' was not selected for this round`);
      return 'send';
    }
    const round = await this.storage.rounds.get(roundId);
    if (round && (await this.storage.rounds.listUpdates(roundId)).some((u) => u.clientId === participantId)) return 'duplicate';
    throw new UpdateRejectedError('UPDATE_ROUND_CLOSED', round ? `round ${round.number} is ${round.status}; it takes no more updates` : `round '${roundId}' is not a round of this job`);
  }

  /** Waits until at least `count` participants are connected. */
  async waitForParticipants(count: number, signal?: AbortSignal): Promise<void> {
    while (this.joined.size < count) {
      if (signal?.aborted) throw new StateError('JOB_ABORTED', 'the coordinator stopped while waiting for participants');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }

  /** Runs (or continues) the job's rounds to the end; emits 'round' with each RoundReport. */
  async run(signal?: AbortSignal): Promise<CoordinatedJobReport> {
    const started = performance.now();
    const { config, test } = this.prepared;
    const evaluator = await LocalModel.create(this.prepared.spec, { seed: 0 });
    const rounds: RoundReport[] = [];
    try {
      const minimum = Math.max(config.selection.minClients, 1);
      for (;;) {
        if (signal?.aborted) throw new StateError('JOB_ABORTED', 'the coordinator stopped between rounds');
        const existing = await this.storage.rounds.list({ jobId: this.jobId });
        const finalized = existing.filter((r) => r.status === 'finalized').length;
        if (finalized >= config.rounds) break;
        const open = existing.find((r) => r.status === 'open' || r.status === 'aggregating');
        let roundStart = performance.now();
        let roundId: string;
        let participants: string[];
        if (open) {
          // A previous coordinator left this round open: its accepted updates come back from the store,
          // and the participants that still owe an update get a fresh deadline.
          await this.storage.rounds.upsert({ ...open, deadline: Math.round(Date.now() + config.round.deadlineSeconds * 1000) });
          await this.manager.resumeRound(open.id);
          roundId = open.id;
          participants = open.participants;
          this.emit('resumed', { round: open.number, accepted: (await this.storage.rounds.listUpdates(open.id)).length });
        } else {
          await this.waitForParticipants(minimum, signal);
          roundStart = performance.now();
          const candidates = (await this.nodes.listNodes()).filter((n) => this.joined.has(n.id));
          try {
            participants = selectClients(candidates, { ...config.selection, requirements: { cpuCores: 0 } }, jobStreams(config.seed + existing.length).selection);
          } catch (error) {
            // Someone left between waking up and selecting: wait for enough participants again.
            if ((error as { code?: string }).code === 'SELECTION_INSUFFICIENT') continue;
            throw error;
          }
          roundId = await this.manager.startRound(this.modelId, {
            jobId: this.jobId,
            participants,
            quorum: Math.max(1, Math.ceil(config.round.quorum * participants.length)),
            deadlineMs: config.round.deadlineSeconds * 1000,
          });
        }
        const round = await this.manager.getRound(roundId);
        const base = await this.registry.getVersion(this.modelId, round.baseVersion);
        const task: Omit<RemoteTask, 'seed'> = {
          jobId: this.jobId,
          roundId,
          round: round.number,
          modelVersion: base.version,
          sha256: base.sha256,
          plan: { ...config.training, proximalMu: this.manager.fitInstructions(round.number).proximalMu },
          deadline: round.deadline,
        };
        const submitted = new Set((await this.storage.rounds.listUpdates(roundId)).map((u) => u.clientId));
        // A round that was already aggregating when the previous coordinator died has all it will get.
        const collecting = round.status === 'open';
        this.current = collecting ? { roundId, task, weights: base.weights, participants: new Set(participants), accepted: submitted } : null;
        for (const id of collecting ? participants : []) {
          const taskId = `${roundId}/${id}`;
          if (!(await this.storage.tasks.get(taskId))) {
            await this.scheduler.scheduleTask({ id: taskId, type: 'train', priority: 0, requirements: {}, payload: { jobId: this.jobId, roundId, clientId: id } });
            // A participant that dropped since selection keeps its task pending; it gets it when it rejoins.
            await this.scheduler.assignTask(id, taskId).catch((error: { code?: string }) => {
              if (error.code !== 'NODE_UNAVAILABLE') throw error;
            });
          }
          if (!submitted.has(id)) this.channel.sendTask(id, { ...task, seed: taskSeed(config.seed, round.number, id) }, base.weights);
        }
        if (collecting) await this.waitForRound(roundId, round.deadline, signal);
        const result = await this.manager.finalizeRound(roundId);
        this.current = null;
        const accepted = await this.storage.rounds.listUpdates(roundId);
        const evalStart = performance.now();
        evaluator.setWeights(result.weights);
        const metrics = await evaluate(evaluator, test, { batchSize: 512 });
        const evaluateSeconds = (performance.now() - evalStart) / 1000;
        await this.manager.recordMetrics(roundId, { accuracy: metrics.accuracy, loss: metrics.loss });
        const totalExamples = accepted.reduce((s, u) => s + u.numExamples, 0);
        const report: RoundReport = {
          round: round.number,
          accuracy: metrics.accuracy,
          loss: metrics.loss,
          participants,
          seconds: (performance.now() - roundStart) / 1000,
          trainSeconds: Math.max(0, ...accepted.map((u) => u.metrics.seconds ?? 0)),
          aggregateSeconds: result.aggregateSeconds,
          evaluateSeconds,
          trainLoss: accepted.reduce((s, u) => s + (u.metrics.loss ?? 0) * u.numExamples, 0) / totalExamples,
          modelVersion: result.version.version,
          bytesPerClient: result.weights.length * 4,
        };
        rounds.push(report);
        this.emit('round', report);
      }
      return await this.finish('completed', rounds, started);
    } catch (error) {
      this.current = null;
      if (signal?.aborted) throw error;
      await this.storage.jobs.upsert({ id: this.jobId, name: config.name, config, status: 'failed', modelId: this.modelId, report: { error: (error as Error).message }, createdAt: this.createdAt, finishedAt: Date.now() });
      this.channel.announceDone(this.jobId, 'failed');
      throw error;
    } finally {
      evaluator.dispose();
    }
  }

  private waitForRound(roundId: string, deadline: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.off('update', check);
        signal?.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.off('update', check);
        reject(new StateError('JOB_ABORTED', 'the coordinator stopped during a round'));
      };
      const check = (): void => {
        this.manager.isComplete(roundId).then((complete) => complete && done(), reject);
      };
      if (signal?.aborted) {
        reject(new StateError('JOB_ABORTED', 'the coordinator stopped during a round'));
        return;
      }
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.on('update', check);
      signal?.addEventListener('abort', aborted, { once: true });
      check();
    });
  }

  private async finish(status: 'completed', rounds: RoundReport[], started: number): Promise<CoordinatedJobReport> {
    const { config } = this.prepared;
    const all = (await this.storage.rounds.list({ jobId: this.jobId })).filter((r) => r.status === 'finalized').sort((a, b) => a.number - b.number);
    const model = await this.registry.getModel(this.modelId);
    const latest = await this.registry.getVersion(this.modelId, model.latestVersion);
    const last = all[all.length - 1];
    const report: CoordinatedJobReport = {
      jobId: this.jobId,
      name: config.name,
      status,
      resumed: this.resumed,
      rounds,
      acceptedPerRound: all.map((r) => r.metrics.updates ?? 0),
      final: last ? { accuracy: last.metrics.accuracy, loss: last.metrics.loss } : null,
      model: { id: this.modelId, version: latest.version, sha256: latest.sha256, numParams: latest.weights.length },
      seconds: (performance.now() - started) / 1000,
    };
    await this.storage.jobs.upsert({ id: this.jobId, name: config.name, config, status, modelId: this.modelId, report, createdAt: this.createdAt, finishedAt: Date.now() });
    this.channel.announceDone(this.jobId, status, report.final?.accuracy);
    return report;
  }
}

/** A participant's shuffling seed for a round, the same after a coordinator restart. */
export function taskSeed(jobSeed: number, round: number, participantId: string): number {
  return createHash('sha256').update(`${jobSeed}/${round}/${participantId}`).digest().readUInt32BE(0);
}
