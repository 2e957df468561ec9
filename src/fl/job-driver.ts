import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CipherNexusError, NotFoundError, StateError } from '../core/errors.js';
import { NodeManager, TaskScheduler, type ResourceMetrics, type Storage } from '../core/index.js';
import { LocalModel, classificationMetrics, evaluate, initBackend, predict, type Dataset, type ModelSpec } from '../ml/index.js';
import { selectClients } from './client-selection.js';
import type { AdmissionRefusal, RoundContributions, RoundIncentives } from './incentives.js';
import type { JobConfig } from './job-config.js';
import { jobStreams } from './job-streams.js';
import { jobWarnings, type JobWarning } from './job-warnings.js';
import { ModelRegistry } from './model-registry.js';
import { ModelValidator } from './model-validator.js';
import type { CoordinatorEndpoint, ParticipantChannel, RemoteTask, RemoteUpdate, StageMessage } from './participant-channel.js';
import { detectPoisoning, type FlaggedClient } from './poisoning-detector.js';
import { JobPrivacy, noiseSourceFor, type RoundCharge } from './privacy-plan.js';
import { CkksCollection } from './protection/ckks.js';
import { PlainCollection } from './protection/plain.js';
import type { RoundCollection, RoundContext } from './protection/round-collection.js';
import { SecAggCollection } from './protection/secagg.js';
import type { IncentivesReport, JobStop, JobValidation, ModelEvaluation, RefusedUpdate, RoundReport } from './report.js';
import { DpFixedClipping, createStrategy } from './strategies/index.js';
import { UpdateRejectedError } from './round-errors.js';
import { TrainingManager } from './training-manager.js';
import type { SubmitOutcome } from './update-admission.js';
import { EXAMPLES_REDECLARED, WEIGHT_OVER_BOUND, roundWeightBounds } from './weight-bound.js';

/** What a job needs at the coordinator: its config, its model and the held-out set it is evaluated on. */
export interface CoordinatorJob {
  config: JobConfig;
  spec: ModelSpec;
  test: Dataset;
  /** Ledger name of the training data for differential privacy. */
  datasetId: string;
  /** Class names in label order when the labels were text; the class indices otherwise. */
  classNames?: string[];
}

/** How the driver keeps a job's rounds. */
export interface JobDriverOptions {
  /** Take over a running job of the same name left in the store (a restarted coordinator); otherwise always start a new job. */
  resume: boolean;
  /** Fold plain updates as they arrive and keep their bytes in the store until the round closes, so a restarted coordinator resumes the round. */
  durable: boolean;
  /** Participants may join at any time (across machines); in simulation everyone has joined before the first round. */
  openMembership: boolean;
  /** The token economy: stake to join, reputation-weighted selection, rewards and slashes per round. */
  incentives?: RoundIncentives;
  /** Participants the incentives refused before the job opened (reported as refused in round 0). */
  refusedAtRegistration?: readonly AdmissionRefusal[];
}

/** A participant of the job: what it declared, and the identity key it is registered with. */
interface Member {
  numExamples: number;
  identityKey: Uint8Array;
}

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

// Round failures the job survives by starting a new round (too few participants answered).
const RETRYABLE_ROUND_FAILURES = new Set(['ROUND_QUORUM_NOT_MET', 'SECAGG_BELOW_THRESHOLD', 'SECAGG_INCONSISTENT_VIEW', 'SECAGG_RECONSTRUCTION_FAILED', 'CKKS_COMMITTEE_INCOMPLETE', 'CKKS_HOLDERS_DISAGREE']);
const MAX_FAILED_ROUNDS_IN_A_ROW = 3;

/**
 * The round loop of a federated job, the same in simulation and across machines: the transport is a
 * `ParticipantChannel`. Each round it selects participants, charges the privacy budget before any
 * data is touched, hands out tasks, lets the round's protection collect and combine the updates,
 * evaluates, pays, and records everything in the store, so that a restarted coordinator takes the
 * job over where it stopped (a protected round is restarted under a new round context).
 */
export class JobDriver extends EventEmitter implements CoordinatorEndpoint {
  private readonly members = new Map<string, Member>();
  /** Participants the incentives refused during the job: they take no further part. */
  private readonly excluded = new Set<string>();
  private joinWaiters: (() => void)[] = [];
  private current: { roundId: string; collection: RoundCollection; tasks: Map<string, RemoteTask>; weights: Float32Array; accepted: Set<string>; round: number } | null = null;
  /** Updates refused for claiming more weight than declared, over the whole job. */
  private readonly refusedUpdates: RefusedUpdate[] = [];
  private failure: Error | null = null;
  private readonly failed = new AbortController();
  /** An operator asked the job to hold before its next round. */
  private pauseRequested = false;
  /** Wakes the round loop while it holds for a pause. */
  private wakePaused: (() => void) | null = null;

  private constructor(
    readonly jobId: string,
    readonly resumed: boolean,
    private readonly job: CoordinatorJob,
    private readonly storage: Storage,
    private readonly channel: ParticipantChannel,
    private readonly modelId: string,
    private readonly createdAt: number,
    private readonly manager: TrainingManager,
    private readonly registry: ModelRegistry,
    private readonly nodes: NodeManager,
    private readonly scheduler: TaskScheduler,
    /** Participants and their examples, for client-level DP's sampling rate (updated as they join). */
    private readonly federation: Map<string, number>,
    private readonly privacy: JobPrivacy | undefined,
    private readonly options: JobDriverOptions,
  ) {
    super();
  }

  /** Takes over the store's running job of this name (with `resume`), or creates a new job with a fresh model. */
  static async open(job: CoordinatorJob, storage: Storage, channel: ParticipantChannel, options: JobDriverOptions): Promise<JobDriver> {
    const { config, spec } = job;
    await initBackend();
    const registry = new ModelRegistry(storage);
    const nodes = new NodeManager(storage);
    const scheduler = new TaskScheduler(storage, nodes);
    const streams = jobStreams(config.seed);
    const initial = await LocalModel.create(spec, { seed: streams.initSeed });
    const weights = initial.getWeights();
    initial.dispose();
    const dp = config.privacy.dp;
    const base = createStrategy(config.strategy);
    // Client-level DP clips and noises on the coordinator, before the strategy sees anything; under
    // secure aggregation the participants do it (SecAggParticipant), since the coordinator cannot.
    const strategy =
      dp?.mode === 'client' && !config.privacy.secagg
        ? new DpFixedClipping(base, { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise: noiseSourceFor(dp.noise, streams.initSeed), gridStep: dp.gridStep })
        : base;
    const manager = new TrainingManager(storage, registry, strategy, {
      validator: new ModelValidator({ expectedLength: weights.length, thresholds: config.validation }),
      streaming: options.durable,
      durable: options.durable,
    });
    const running = options.resume ? (await storage.jobs.list()).find((j) => j.status === 'running' && j.name === config.name && j.modelId) : undefined;
    let jobId: string;
    let modelId: string;
    let createdAt: number;
    if (running) {
      jobId = running.id;
      modelId = running.modelId as string;
      createdAt = running.createdAt;
      // FedAdam's and FedYogi's moments continue where the previous process left them.
      await manager.restoreStrategyState(modelId);
    } else {
      jobId = `job-${randomUUID()}`;
      createdAt = Date.now();
      modelId = await storage.transaction(async () => {
        const id = await registry.registerModel({ name: config.name, architecture: spec, hyperparameters: { ...config.training, strategy: config.strategy }, initialWeights: weights });
        await storage.jobs.upsert({ id: jobId, name: config.name, config, status: 'running', modelId: id, report: null, createdAt, finishedAt: null });
        return id;
      });
    }
    const federation = new Map<string, number>();
    const privacy = dp ? await JobPrivacy.open(storage, dp, { jobId, datasetId: job.datasetId, federation, training: config.training }) : undefined;
    // A job taken over continues its own epsilon from the ledger's record of its rounds.
    if (privacy && running) await privacy.resume();
    return new JobDriver(jobId, Boolean(running), job, storage, channel, modelId, createdAt, manager, registry, nodes, scheduler, federation, privacy, options);
  }

  /** Ends the job with `error` (a simulated participant that cannot train is a broken setup, not a drop-out). */
  fail(error: Error): void {
    this.failure ??= error;
    this.failed.abort();
  }

  /** Where the job stands: running, asked to pause (the round in progress finishes first), or holding before a round. */
  get controlState(): 'running' | 'pausing' | 'paused' {
    if (!this.pauseRequested) return 'running';
    return this.wakePaused ? 'paused' : 'pausing';
  }

  /** Holds the job before its next round, leaving the round in progress to finish; false when it is already paused. Not persisted: a restarted coordinator runs. */
  pause(): boolean {
    if (this.pauseRequested) return false;
    this.pauseRequested = true;
    this.emit('control', this.controlState);
    return true;
  }

  /** Lets a paused job go on; false when it was not paused. */
  resume(): boolean {
    if (!this.pauseRequested) return false;
    this.pauseRequested = false;
    const wake = this.wakePaused;
    this.wakePaused = null;
    wake?.();
    this.emit('control', this.controlState);
    return true;
  }

  /** Waits while a pause is requested, until resumed or aborted; participants stay connected and no round is open meanwhile. */
  private async holdWhilePaused(signal: AbortSignal): Promise<void> {
    while (this.pauseRequested && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        this.wakePaused = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.emit('control', this.controlState);
      });
    }
    this.wakePaused = null;
  }

  /** A participant connected (again): registers it as an online node and hands it the open round's task if it owes one. */
  async join(participantId: string, numExamples: number, resources: ResourceMetrics, identityKey: Uint8Array = new Uint8Array(0)): Promise<void> {
    // The count a participant declares bounds the weight of every update it sends: it is declared once per job.
    const declared = (await this.declaredExamples([participantId])).get(participantId);
    if (declared !== undefined && declared !== numExamples) {
      throw new StateError(EXAMPLES_REDECLARED, `'${participantId}' declared ${declared} examples for this job and now declares ${numExamples}; the count is fixed for the job: join with the same data, or ask the operator to start a new job`, {
        participantId,
        declared,
        numExamples,
      });
    }
    await this.nodes.registerNode({ id: participantId, status: 'online', resources, labels: { job: this.jobId, examples: String(numExamples) } });
    this.members.set(participantId, { numExamples, identityKey });
    this.federation.set(participantId, numExamples);
    await this.privacy?.admit(participantId);
    const waiters = this.joinWaiters;
    this.joinWaiters = [];
    for (const wake of waiters) wake();
    const open = this.current;
    const task = open?.tasks.get(participantId);
    // The task is sent again: an agent that still works on it ignores it; one that lost it starts over (under SecAgg+ it
    // can take part only while the round is still at its first stage, otherwise it is a drop-out the protocol recovers from).
    if (open && task && !open.accepted.has(participantId)) this.channel.sendTask(participantId, task, open.weights);
  }

  /** A participant's connection closed; it stays a node but is no longer offered tasks. */
  async leave(participantId: string): Promise<void> {
    this.members.delete(participantId);
    const node = await this.storage.nodes.get(participantId);
    // A quick reconnect may have joined again meanwhile: it stays online.
    if (node && !this.members.has(participantId)) await this.storage.nodes.upsert({ ...node, status: 'offline' });
  }

  /** Fresh resource metrics from a participant's heartbeat. */
  async heartbeat(participantId: string, resources: ResourceMetrics): Promise<void> {
    if (this.members.has(participantId)) await this.nodes.heartbeat(participantId, resources);
  }

  /** A participant offers its update before sending it: 'send' when the open round wants it, 'duplicate' when it was already accepted. */
  async offer(participantId: string, roundId: string): Promise<'send' | 'duplicate'> {
    const open = this.current;
    if (open?.roundId === roundId) {
      if (open.accepted.has(participantId)) return 'duplicate';
      if (!open.tasks.has(participantId)) throw new UpdateRejectedError('UPDATE_NOT_PARTICIPANT', `'${participantId}' was not selected for this round`);
      return 'send';
    }
    const round = await this.storage.rounds.get(roundId);
    if (round?.jobId === this.jobId && (await this.storage.rounds.listUpdates(roundId)).some((u) => u.clientId === participantId)) return 'duplicate';
    throw new UpdateRejectedError('UPDATE_ROUND_CLOSED', round?.jobId === this.jobId ? `round ${round.number} is ${round.status}; it takes no more updates` : `round '${roundId}' is not a round of this job`);
  }

  /** Admits one participant's update to the open round (or recognises a resubmission). */
  async submit(participantId: string, update: RemoteUpdate): Promise<SubmitOutcome> {
    const open = this.current;
    if (open?.roundId !== update.roundId) {
      // Throws UPDATE_ROUND_CLOSED unless this update was accepted before the round closed.
      return this.offer(participantId, update.roundId) as Promise<'duplicate'>;
    }
    if (!open.tasks.has(participantId)) throw new UpdateRejectedError('UPDATE_NOT_PARTICIPANT', `'${participantId}' was not selected for this round`);
    if (this.excluded.has(participantId)) throw new UpdateRejectedError('UPDATE_NOT_PARTICIPANT', `'${participantId}' takes no further part in this job`);
    const outcome = await open.collection.submit(participantId, update).catch((error: unknown) => {
      // A claim over the declared count is a lie in a signed message: the participant is out of the round and the job.
      if (error instanceof CipherNexusError && error.code === WEIGHT_OVER_BOUND) {
        this.refusedUpdates.push({ round: open.round, clientId: participantId, code: error.code, reason: error.message });
        this.excluded.add(participantId);
        open.collection.excuse(participantId);
      }
      throw error;
    });
    if (outcome === 'accepted') {
      open.accepted.add(participantId);
      const taskId = `${update.roundId}/${participantId}`;
      // The scheduler holds its active tasks in memory: no store read on this per-update path.
      const task = await this.scheduler.getTask(taskId).catch((error: unknown) => {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      });
      if (task?.status === 'assigned') await this.scheduler.completeTask(taskId, { numExamples: update.numExamples });
      this.emit('update', { roundId: update.roundId, participantId });
    }
    return outcome;
  }

  /** A message of the open round's protection protocol. */
  async receiveStage(participantId: string, message: StageMessage): Promise<void> {
    const open = this.current;
    if (open?.roundId !== message.roundId || !open.tasks.has(participantId)) {
      throw new UpdateRejectedError('STAGE_ROUND_CLOSED', `round '${message.roundId}' is not open for '${participantId}'; its messages are refused`);
    }
    await open.collection.receiveStage(participantId, message);
  }

  /** What each participant declared when it joined this job: from its membership, or from the store for one that joined a previous coordinator process. */
  private async declaredExamples(ids: readonly string[]): Promise<Map<string, number>> {
    const declared = new Map<string, number>();
    for (const id of ids) {
      const member = this.members.get(id);
      if (member) {
        declared.set(id, member.numExamples);
        continue;
      }
      const node = await this.storage.nodes.get(id);
      const stored = node?.labels.job === this.jobId ? Number(node.labels.examples) : Number.NaN;
      if (Number.isInteger(stored) && stored > 0) declared.set(id, stored);
    }
    return declared;
  }

  /** Waits until at least `count` participants are connected. */
  private async waitForMembers(count: number, signal: AbortSignal): Promise<void> {
    // Excluded participants may stay connected, but they are not selected.
    const eligible = (): number => [...this.members.keys()].filter((id) => !this.excluded.has(id)).length;
    if (!this.options.openMembership && eligible() < count) {
      throw new StateError('SELECTION_INSUFFICIENT', `${eligible()} participants take part and a round needs at least ${count}; lower selection.minClients or add clients`);
    }
    while (eligible() < count) {
      if (signal.aborted) throw new StateError('JOB_ABORTED', 'the coordinator stopped while waiting for participants');
      await this.nextJoin(signal);
    }
  }

  private nextJoin(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      this.joinWaiters.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** Runs (or continues) the job's rounds to the end; emits 'round' with each RoundReport. */
  async run(signal?: AbortSignal): Promise<JobOutcome> {
    const started = performance.now();
    const { config } = this.job;
    const abort = signal ? AbortSignal.any([signal, this.failed.signal]) : this.failed.signal;
    const evaluator = await LocalModel.create(this.job.spec, { seed: 0 });
    const rounds: RoundReport[] = [];
    const rewardRoots: string[] = [];
    const refused: IncentivesReport['refused'] = (this.options.refusedAtRegistration ?? []).map((refusal) => ({ ...refusal, round: 0 }));
    let stopped: JobStop | undefined;
    let failedInARow = 0;
    try {
      for (;;) {
        if (abort.aborted) throw this.failure ?? new StateError('JOB_ABORTED', 'the coordinator stopped between rounds');
        const existing = await this.storage.rounds.list({ jobId: this.jobId });
        const finalized = existing.filter((r) => r.status === 'finalized').length;
        if (finalized >= config.rounds) break;
        if (this.pauseRequested) {
          await this.holdWhilePaused(abort);
          // The rounds are listed again: nothing may have changed, but an abort while paused ends the job above.
          continue;
        }
        const open = existing.find((r) => r.status === 'open' || r.status === 'aggregating');
        if (open && (config.privacy.secagg || config.privacy.he)) {
          // Nothing of a protected round can be carried over: it starts again under a new round context.
          await this.manager.abandonRound(open.id, 'the coordinator restarted during this protected round; it was started again as a new round');
          this.emit('restarted', { round: open.number });
          continue;
        }
        let roundStart = performance.now();
        let roundId: string;
        let charge: RoundCharge | undefined;
        if (open) {
          // A previous coordinator left this plain round open: its accepted updates come back from the store.
          await this.storage.rounds.upsert({ ...open, deadline: Math.round(Date.now() + config.round.deadlineSeconds * 1000) });
          await this.manager.resumeRound(open.id);
          roundId = open.id;
          this.emit('resumed', { round: open.number, accepted: (await this.storage.rounds.listUpdates(open.id)).length });
        } else {
          await this.waitForMembers(Math.max(config.selection.minClients, 1), abort);
          roundStart = performance.now();
          const participants = await this.select(existing.length, refused, abort);
          if (!participants) continue;
          if (this.privacy) {
            try {
              charge = await this.privacy.chargeRound(existing.length + 1, participants);
            } catch (error) {
              if (!(error instanceof CipherNexusError) || error.code !== 'DP_BUDGET_EXCEEDED') throw error;
              stopped = { afterRound: finalized, code: error.code, reason: error.message };
              this.emit('stopped', stopped);
              break;
            }
          }
          roundId = await this.manager.startRound(this.modelId, {
            jobId: this.jobId,
            participants,
            quorum: Math.max(1, Math.ceil(config.round.quorum * participants.length)),
            deadlineMs: config.round.deadlineSeconds * 1000,
          });
        }
        const report = await this.runRound(roundId, charge, roundStart, evaluator, abort).catch((error: unknown) => {
          if (!abort.aborted && error instanceof CipherNexusError && RETRYABLE_ROUND_FAILURES.has(error.code) && ++failedInARow < MAX_FAILED_ROUNDS_IN_A_ROW) {
            this.emit('round-failed', { roundId, code: error.code, reason: error.message });
            return undefined;
          }
          throw error;
        });
        if (!report) continue;
        failedInARow = 0;
        if (report.settlement) rewardRoots.push(report.settlement.rewardRoot);
        rounds.push(report);
        this.emit('round', report);
      }
      const chain = this.options.incentives ? { ...(await this.options.incentives.finish()), rewardRoots, refused } : undefined;
      return await this.finish(rounds, started, stopped, chain, evaluator);
    } catch (error) {
      this.current = null;
      const reason = this.failure ?? (error as Error);
      if (signal?.aborted && !this.failure) throw error;
      await this.saveReport('failed', { error: reason.message });
      this.channel.announceDone(this.jobId, 'failed');
      throw reason;
    } finally {
      evaluator.dispose();
    }
  }

  /** This round's participants among the connected nodes (stake and reputation with incentives); undefined when someone left meanwhile. */
  private async select(previousRounds: number, refused: IncentivesReport['refused'], signal: AbortSignal): Promise<string[] | undefined> {
    const { config } = this.job;
    let candidates = (await this.nodes.listNodes()).filter((n) => this.members.has(n.id) && !this.excluded.has(n.id) && n.labels.job === this.jobId);
    let weights: Record<string, number> | undefined;
    const incentives = this.options.incentives;
    if (incentives) {
      // Stake can fall between rounds (a slash, an unstake request): a node below the minimum leaves the job.
      const refusals = await incentives.admit(candidates.map((n) => n.id));
      for (const refusal of refusals) {
        refused.push({ ...refusal, round: previousRounds + 1 });
        this.excluded.add(refusal.clientId);
        await this.nodes.unregisterNode(refusal.clientId);
      }
      candidates = candidates.filter((n) => !this.excluded.has(n.id));
      weights = await incentives.selectionWeights(candidates.map((n) => n.id));
    }
    try {
      return selectClients(candidates, { ...config.selection, requirements: { cpuCores: 0 }, ...(weights ? { weights } : {}) }, jobStreams(config.seed + previousRounds).selection);
    } catch (error) {
      // Someone left between waking up and selecting: wait for enough participants again (across machines).
      if ((error as { code?: string }).code !== 'SELECTION_INSUFFICIENT' || !this.options.openMembership) throw error;
      await this.nextJoin(signal);
      return undefined;
    }
  }

  private collectionFor(ctx: RoundContext): RoundCollection {
    const { secagg, he, heParams, heCommittee, heStageSeconds } = this.job.config.privacy;
    const identityKeys = new Map([...this.members].map(([id, member]) => [id, member.identityKey]));
    if (he) return new CkksCollection(ctx, this.jobId, { preset: heParams, committee: heCommittee, identityKeys, stageMs: heStageSeconds * 1000 });
    if (!secagg) return new PlainCollection(ctx);
    const dp = this.job.config.privacy.dp;
    return new SecAggCollection(ctx, {
      clip: secagg.clip,
      gamma: secagg.gamma,
      delta: secagg.delta,
      identityKeys,
      stageMs: secagg.stageSeconds * 1000,
      ...(dp?.mode === 'client' ? { dp: { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise: dp.noise, ...(dp.gridStep === undefined ? {} : { gridStep: dp.gridStep }) } } : {}),
    });
  }

  private tasksFor(roundId: string, round: { number: number; participants: string[]; deadline: number }, base: { version: number; sha256: string }, charge: RoundCharge | undefined, collection: RoundCollection): Map<string, RemoteTask> {
    const { config } = this.job;
    const tasks = new Map<string, RemoteTask>();
    for (const id of round.participants) {
      const privacy = charge?.cost.clientPlans.get(id);
      tasks.set(id, {
        jobId: this.jobId,
        roundId,
        round: round.number,
        modelVersion: base.version,
        sha256: base.sha256,
        plan: { ...config.training, proximalMu: this.manager.fitInstructions(round.number).proximalMu },
        seed: taskSeed(config.seed, round.number, id),
        deadline: round.deadline,
        ...(privacy ? { privacy } : {}),
        ...(config.compression.kind !== 'none' ? { compression: config.compression } : {}),
        protection: collection.taskProtection(id),
        releaseLoss: collection.individualUpdatesVisible && !config.privacy.dp,
      });
    }
    return tasks;
  }

  private async runRound(roundId: string, charge: RoundCharge | undefined, roundStart: number, evaluator: LocalModel, signal: AbortSignal): Promise<RoundReport> {
    const { config, test } = this.job;
    const round = await this.manager.getRound(roundId);
    const base = await this.registry.getVersion(this.modelId, round.baseVersion);
    // The detector reads individual raw updates: not under client-level DP, where its scores would be releases outside the accountant.
    const detect = config.detection.enabled && config.privacy.dp?.mode !== 'client';
    const declared = await this.declaredExamples(round.participants);
    const collection = this.collectionFor({
      manager: this.manager,
      channel: this.channel,
      roundId,
      round: round.number,
      participants: round.participants,
      global: base.weights,
      deadline: round.deadline,
      quorum: round.quorum,
      examples: declared,
      weightBounds: roundWeightBounds(declared, config.aggregation.maxWeightShare),
      keepUpdates: detect,
      onRefused: (participantId, code, message) => this.emit('refused', { participantId, code, message }),
    });
    const tasks = this.tasksFor(roundId, round, base, charge, collection);
    const submitted = new Set((await this.storage.rounds.listUpdates(roundId)).map((u) => u.clientId));
    // A round that was already aggregating when the previous coordinator died has all it will get.
    const collecting = round.status === 'open';
    this.current = { roundId, collection, tasks, weights: base.weights, accepted: submitted, round: round.number };
    try {
      for (const id of collecting ? round.participants : []) {
        const taskId = `${roundId}/${id}`;
        if (await this.storage.tasks.get(taskId)) continue;
        await this.scheduler.scheduleTask({ id: taskId, type: 'train', priority: 0, requirements: {}, payload: { jobId: this.jobId, roundId, clientId: id } });
        // A participant that dropped since selection keeps its task pending; it gets it when it rejoins.
        await this.scheduler.assignTask(id, taskId).catch((error: { code?: string }) => {
          if (error.code !== 'NODE_UNAVAILABLE') throw error;
        });
      }
      const sentAt = performance.now();
      for (const id of collecting ? round.participants : []) {
        if (!submitted.has(id)) this.channel.sendTask(id, tasks.get(id) as RemoteTask, base.weights);
      }
      const collected = collecting ? await collection.finish(signal) : { finalized: await this.manager.finalizeRound(roundId), bytesPerClient: 0 };
      this.current = null;
      // From the tasks going out to the round's updates being combined: the participants' training, the transfers and the protection's stages.
      const collectSeconds = (performance.now() - sentAt) / 1000 - collected.finalized.aggregateSeconds;
      const accepted = await this.storage.rounds.listUpdates(roundId);
      const evalStart = performance.now();
      evaluator.setWeights(collected.finalized.weights);
      const metrics = await evaluate(evaluator, test, { batchSize: 512 });
      const evaluateSeconds = (performance.now() - evalStart) / 1000;
      const { enabled: _enabled, ...detectorOptions } = config.detection;
      const flagged = 'updates' in collected && collected.updates && collected.updates.length > 0 ? detectPoisoning(base.weights, collected.updates, detectorOptions) : undefined;
      const flagMetrics = flagged ? Object.fromEntries([['flagged', new Set(flagged.map((f) => f.clientId)).size], ...flagged.map((f) => [`flagged:${f.clientId}:${f.reason}`, f.score])]) : {};
      const previous = (await this.storage.rounds.list({ jobId: this.jobId })).filter((r) => r.status === 'finalized' && r.number < round.number && Number.isFinite(r.metrics.accuracy)).sort((a, b) => b.number - a.number)[0]?.metrics.accuracy;
      const margin = config.validation.maxAccuracyDrop;
      const accuracyDrop = previous !== undefined && previous - metrics.accuracy > margin ? { previous, margin } : undefined;
      await this.manager.recordMetrics(roundId, { accuracy: metrics.accuracy, loss: metrics.loss, ...flagMetrics, ...(accuracyDrop ? { accuracyDrop: accuracyDrop.previous - metrics.accuracy } : {}) });
      const settlement = this.options.incentives ? await this.options.incentives.settle(round.number, roundContributions(this.jobId, round.number, accepted, flagged ?? [])) : undefined;
      const losses = accepted.filter((u) => u.metrics.loss !== undefined);
      const lossExamples = losses.reduce((s, u) => s + u.numExamples, 0);
      return {
        round: round.number,
        accuracy: metrics.accuracy,
        loss: metrics.loss,
        participants: round.participants,
        seconds: (performance.now() - roundStart) / 1000,
        trainSeconds: Math.max(0, collectSeconds),
        aggregateSeconds: collected.finalized.aggregateSeconds,
        evaluateSeconds,
        ...(lossExamples > 0 ? { trainLoss: losses.reduce((s, u) => s + (u.metrics.loss as number) * u.numExamples, 0) / lossExamples } : {}),
        modelVersion: collected.finalized.version.version,
        bytesPerClient: collected.bytesPerClient,
        ...(charge ? { epsilon: charge.epsilon, epsilonRound: charge.epsilonRound } : {}),
        ...(flagged ? { flagged } : {}),
        ...(settlement ? { settlement } : {}),
        ...(accuracyDrop ? { accuracyDrop } : {}),
      };
    } catch (error) {
      this.current = null;
      await this.manager.abandonRound(roundId, (error as Error).message).catch(() => undefined);
      throw error;
    }
  }

  private async finish(rounds: RoundReport[], started: number, stopped: JobStop | undefined, chain: IncentivesReport | undefined, evaluator: LocalModel): Promise<JobOutcome> {
    const { config } = this.job;
    const all = (await this.storage.rounds.list({ jobId: this.jobId })).filter((r) => r.status === 'finalized').sort((a, b) => a.number - b.number);
    const model = await this.registry.getModel(this.modelId);
    const latest = await this.registry.getVersion(this.modelId, model.latestVersion);
    const last = all[all.length - 1];
    const evaluation = await this.evaluateFinal(evaluator, latest.weights);
    const warnings = jobWarnings({
      config,
      rounds: all.map((r) => ({ round: r.number, accuracy: r.metrics.accuracy, loss: r.metrics.loss })),
      finalAccuracy: evaluation.accuracy,
      baseline: { accuracy: evaluation.baseline.accuracy, className: evaluation.classNames[evaluation.baseline.classIndex] },
    });
    const validation = this.validate(evaluation, latest.weights.length);
    const outcome: JobOutcome = {
      jobId: this.jobId,
      name: config.name,
      status: validation.passed ? 'completed' : 'failed',
      resumed: this.resumed,
      rounds,
      acceptedPerRound: all.map((r) => r.metrics.updates ?? 0),
      final: last ? { accuracy: last.metrics.accuracy, loss: last.metrics.loss } : null,
      evaluation,
      warnings,
      validation,
      model: { id: this.modelId, version: latest.version, sha256: latest.sha256, numParams: latest.weights.length },
      seconds: (performance.now() - started) / 1000,
      ...(this.privacy ? { epsilon: this.privacy.spent() } : {}),
      ...(stopped ? { stopped } : {}),
      ...(chain ? { chain } : {}),
      ...(this.refusedUpdates.length > 0 ? { refusedUpdates: [...this.refusedUpdates] } : {}),
    };
    await this.saveReport(outcome.status, outcome);
    this.channel.announceDone(this.jobId, outcome.status, outcome.final?.accuracy);
    return outcome;
  }

  /** The final model on the held-out set the rounds were evaluated on; the baseline comes from that set's labels. */
  private async evaluateFinal(evaluator: LocalModel, weights: Float32Array): Promise<ModelEvaluation> {
    const { spec, test } = this.job;
    evaluator.setWeights(weights);
    const { loss } = await evaluate(evaluator, test, { batchSize: 512 });
    const predicted = await predict(evaluator, test, { batchSize: 512 });
    const k = spec.numClasses;
    // ROC AUC ranks the examples by the model's probability of class 1, the second in label order.
    const positiveScores = k === 2 ? predicted.probabilities.filter((_, i) => i % 2 === 1) : undefined;
    const classNames = Array.from({ length: k }, (_, c) => this.job.classNames?.[c] ?? String(c));
    return { ...classificationMetrics(test.labels, predicted.classes, k, positiveScores), loss, classNames };
  }

  /** The job's `validation` thresholds against the final model; a job without thresholds always passes. */
  private validate(evaluation: ModelEvaluation, numParams: number): JobValidation {
    const thresholds = this.job.config.validation;
    if (Object.values(thresholds).every((v) => v === undefined)) return { passed: true, failures: [] };
    const verdict = new ModelValidator({ expectedLength: numParams, thresholds }).checkMetrics({ accuracy: evaluation.accuracy, loss: evaluation.loss, baseline: evaluation.baseline.accuracy });
    return { passed: verdict.valid, failures: verdict.reasons };
  }

  /** Stores the job's status and report (a caller with a richer report replaces the driver's own). */
  async saveReport(status: 'completed' | 'failed', report: unknown): Promise<void> {
    const { config } = this.job;
    await this.storage.jobs.upsert({ id: this.jobId, name: config.name, config, status, modelId: this.modelId, report, createdAt: this.createdAt, finishedAt: Date.now() });
  }
}

/**
 * A round's contribution score per participant is the number of examples it trained on: FedAvg
 * weights each update by exactly that (McMahan et al. 2017), so a participant's reward share equals
 * its share of the aggregate; scores from model quality would need individual updates, which secure
 * aggregation hides. A flagged participant earns nothing and is penalised, with the detector's
 * statistics as evidence.
 */
function roundContributions(jobId: string, round: number, accepted: readonly { clientId: string; numExamples: number }[], flagged: readonly FlaggedClient[]): RoundContributions {
  const reasons = new Map<string, string[]>();
  for (const f of flagged) reasons.set(f.clientId, [...(reasons.get(f.clientId) ?? []), `${f.reason} ${f.score.toPrecision(4)}`]);
  return {
    contributions: [...accepted].sort((a, b) => (a.clientId < b.clientId ? -1 : 1)).map((x) => ({ clientId: x.clientId, score: x.numExamples })),
    flagged: [...reasons].map(([clientId, why]) => ({ clientId, evidence: `job ${jobId} round ${round} ${clientId}: ${why.join(', ')}` })),
  };
}

/** A participant's shuffling seed for a round, the same after a coordinator restart and in simulation. */
export function taskSeed(jobSeed: number, round: number, participantId: string): number {
  return createHash('sha256').update(`${jobSeed}/${round}/${participantId}`).digest().readUInt32BE(0);
}
