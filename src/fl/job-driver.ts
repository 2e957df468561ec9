import { EventEmitter } from 'node:events';
import { CipherNexusError, NotFoundError, StateError } from '../core/errors.js';
import type { NodeManager, ResourceMetrics, Storage, TaskScheduler } from '../core/index.js';
import { LocalModel, type Dataset, type ModelSpec } from '../ml/index.js';
import type { AdmissionRefusal, RoundIncentives } from './incentives.js';
import type { JobConfig } from './job-config.js';
import { PauseControl, type ControlState } from './job-control.js';
import { JobMembership } from './job-membership.js';
import { jobOutcome, type JobOutcome } from './job-outcome.js';
import { startJob } from './job-start.js';
import type { ModelRegistry } from './model-registry.js';
import type { CoordinatorEndpoint, ParticipantChannel, RemoteTask, RemoteUpdate, StageMessage } from './participant-channel.js';
import type { JobPrivacy, RoundCharge } from './privacy-plan.js';
import type { RoundCollection } from './protection/round-collection.js';
import type { AggregationEnclave } from './protection/tee-enclave.js';
import type { EnclaveResources, EnclaveUsage } from '../tee/index.js';
import type { IncentivesReport, JobStop, RefusedUpdate, RoundReport } from './report.js';
import { UpdateRejectedError } from './round-errors.js';
import { closeRound } from './round-closing.js';
import { collectionFor, resumesAfterRestart, selectParticipants, tasksFor } from './round-opening.js';
import type { TrainingManager } from './training-manager.js';
import type { SubmitOutcome } from './update-admission.js';
import { WEIGHT_OVER_BOUND, roundWeightBounds } from './weight-bound.js';

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
  /**
   * An edge aggregator's tier above: awaited once a round's participants are selected, it resolves the weights the
   * round starts from (the upstream coordinator's global model for its round), or undefined when the upstream job ended.
   */
  roundBase?: RoundBase;
}

/** Where an edge's rounds get their starting weights: told the selected participants and their declared examples. */
export type RoundBase = (round: { participants: string[]; declared: Map<string, number> }, signal: AbortSignal) => Promise<Float32Array | undefined>;

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
  private readonly membership: JobMembership;
  private current: { roundId: string; collection: RoundCollection; tasks: Map<string, RemoteTask>; weights: Float32Array; accepted: Set<string>; round: number } | null = null;
  /** Updates refused for claiming more weight than declared, over the whole job. */
  private readonly refusedUpdates: RefusedUpdate[] = [];
  private failure: Error | null = null;
  private readonly failed = new AbortController();
  private readonly control = new PauseControl((state) => this.emit('control', state));

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
    private readonly aggregationEnclave: AggregationEnclave | undefined,
  ) {
    super();
    this.membership = new JobMembership(storage, jobId);
  }

  /** Takes over the store's running job of this name (with `resume`), or creates a new job with a fresh model. */
  static async open(job: CoordinatorJob, storage: Storage, channel: ParticipantChannel, options: JobDriverOptions): Promise<JobDriver> {
    const s = await startJob(job, storage, options);
    return new JobDriver(s.jobId, s.resumed, job, storage, channel, s.modelId, s.createdAt, s.manager, s.registry, s.nodes, s.scheduler, s.federation, s.privacy, options, s.enclave);
  }

  /** The job's aggregation enclave under `privacy.tee` (its kind, measurement and resources), or undefined. */
  get enclave(): { kind: string; measurement: string; resources: EnclaveResources; usage: () => Promise<EnclaveUsage | null> } | undefined {
    const enclave = this.aggregationEnclave;
    return enclave ? { kind: enclave.kind, measurement: enclave.measurement, resources: enclave.resources, usage: () => enclave.usage() } : undefined;
  }

  /** Ends the job with `error` (a simulated participant that cannot train is a broken setup, not a drop-out). */
  fail(error: Error): void {
    this.failure ??= error;
    this.failed.abort();
  }

  /** Where the job stands: running, asked to pause (the round in progress finishes first), or holding before a round. */
  get controlState(): ControlState {
    return this.control.state;
  }

  /** Holds the job before its next round, leaving the round in progress to finish; false when it is already paused. Not persisted: a restarted coordinator runs. */
  pause(): boolean {
    return this.control.pause();
  }

  /** Lets a paused job go on; false when it was not paused. */
  resume(): boolean {
    return this.control.resume();
  }

  /** A participant connected (again): registers it as an online node and hands it the open round's task if it owes one. */
  async join(participantId: string, numExamples: number, resources: ResourceMetrics, identityKey: Uint8Array = new Uint8Array(0)): Promise<void> {
    await this.membership.checkDeclared(participantId, numExamples);
    await this.nodes.registerNode({ id: participantId, status: 'online', resources, labels: { job: this.jobId, examples: String(numExamples) } });
    this.membership.add(participantId, { numExamples, identityKey });
    this.federation.set(participantId, numExamples);
    await this.privacy?.admit(participantId);
    this.membership.wakeWaiters();
    const open = this.current;
    const task = open?.tasks.get(participantId);
    // The task is sent again: an agent that still works on it ignores it; one that lost it starts over (under SecAgg+ it
    // can take part only while the round is still at its first stage, otherwise it is a drop-out the protocol recovers from).
    if (open && task && !open.accepted.has(participantId)) this.channel.sendTask(participantId, task, open.weights);
  }

  /** A participant's connection closed; it stays a node but is no longer offered tasks. */
  async leave(participantId: string): Promise<void> {
    this.membership.remove(participantId);
    const node = await this.storage.nodes.get(participantId);
    // A quick reconnect may have joined again meanwhile: it stays online.
    if (node && !this.membership.has(participantId)) await this.storage.nodes.upsert({ ...node, status: 'offline' });
  }

  /** Fresh resource metrics from a participant's heartbeat. */
  async heartbeat(participantId: string, resources: ResourceMetrics): Promise<void> {
    if (this.membership.has(participantId)) await this.nodes.heartbeat(participantId, resources);
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
    if (this.membership.isExcluded(participantId)) throw new UpdateRejectedError('UPDATE_NOT_PARTICIPANT', `'${participantId}' takes no further part in this job`);
    const outcome = await open.collection.submit(participantId, update).catch((error: unknown) => {
      // A claim over the declared count is a lie in a signed message: the participant is out of the round and the job.
      if (error instanceof CipherNexusError && error.code === WEIGHT_OVER_BOUND) {
        this.refusedUpdates.push({ round: open.round, clientId: participantId, code: error.code, reason: error.message });
        this.membership.exclude(participantId);
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

  /** Lets the open round stop waiting for a participant whose update it will not take (an anonymous member that already sent one over another connection). */
  excuse(participantId: string, roundId: string): void {
    const open = this.current;
    if (open?.roundId === roundId && open.tasks.has(participantId)) open.collection.excuse(participantId);
  }

  /** A message of the open round's protection protocol. */
  async receiveStage(participantId: string, message: StageMessage): Promise<void> {
    const open = this.current;
    if (open?.roundId !== message.roundId || !open.tasks.has(participantId)) {
      throw new UpdateRejectedError('STAGE_ROUND_CLOSED', `round '${message.roundId}' is not open for '${participantId}'; its messages are refused`);
    }
    await open.collection.receiveStage(participantId, message);
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
        if (this.control.pauseRequested) {
          await this.control.hold(abort);
          // The rounds are listed again: nothing may have changed, but an abort while paused ends the job above.
          continue;
        }
        const open = existing.find((r) => r.status === 'open' || r.status === 'aggregating');
        if (open && !resumesAfterRestart(config.privacy)) {
          // Nothing of a protected or anonymous round can be carried over: it starts again under a new round context.
          await this.manager.abandonRound(open.id, `the coordinator restarted during this ${config.privacy.anonymous ? 'anonymous' : 'protected'} round; it was started again as a new round`);
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
          await this.membership.waitFor(Math.max(config.selection.minClients, 1), this.options.openMembership, abort);
          roundStart = performance.now();
          const participants = await selectParticipants({
            config,
            jobId: this.jobId,
            nodes: this.nodes,
            membership: this.membership,
            incentives: this.options.incentives,
            openMembership: this.options.openMembership,
            previousRounds: existing.length,
            refused,
            signal: abort,
          });
          if (!participants) continue;
          if (this.options.roundBase) {
            const weights = await this.options.roundBase({ participants, declared: await this.membership.declaredExamples(participants) }, abort);
            if (!weights) break;
            await this.registry.updateModel(this.modelId, weights);
          }
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
      await this.aggregationEnclave?.destroy();
    }
  }

  private async runRound(roundId: string, charge: RoundCharge | undefined, roundStart: number, evaluator: LocalModel, signal: AbortSignal): Promise<RoundReport> {
    const { config } = this.job;
    const round = await this.manager.getRound(roundId);
    const base = await this.registry.getVersion(this.modelId, round.baseVersion);
    // The detector reads individual raw updates: not under client-level DP, where its scores would be releases outside the accountant.
    const detect = config.detection.enabled && config.privacy.dp?.mode !== 'client';
    const declared = await this.membership.declaredExamples(round.participants);
    const collection = collectionFor({
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
    }, config, this.jobId, this.membership.identityKeys(), this.aggregationEnclave);
    await collection.prepare?.();
    const tasks = tasksFor({ config, jobId: this.jobId, roundId, round, base, charge, collection, manager: this.manager });
    const submitted = new Set((await this.storage.rounds.listUpdates(roundId)).map((u) => u.clientId));
    // A round that was already aggregating when the previous coordinator died has all it will get.
    const collecting = round.status === 'open';
    this.current = { roundId, collection, tasks, weights: base.weights, accepted: submitted, round: round.number };
    try {
      // One commit for the round's tasks. A participant that dropped since selection keeps its task
      // pending; it gets it when it rejoins. A resumed round's tasks are kept as they are.
      await this.scheduler.scheduleOnNodes(
        (collecting ? round.participants : []).map((id) => ({ spec: { id: `${roundId}/${id}`, type: 'train', priority: 0, requirements: {}, payload: { jobId: this.jobId, roundId, clientId: id } }, nodeId: id })),
      );
      const sentAt = performance.now();
      for (const id of collecting ? round.participants : []) {
        if (!submitted.has(id)) this.channel.sendTask(id, tasks.get(id) as RemoteTask, base.weights);
      }
      const collected = collecting ? await collection.finish(signal) : { finalized: await this.manager.finalizeRound(roundId), bytesPerClient: 0 };
      this.current = null;
      return await closeRound({
        job: this.job,
        jobId: this.jobId,
        storage: this.storage,
        manager: this.manager,
        incentives: this.options.incentives,
        evaluator,
        round,
        base: base.weights,
        collected,
        charge,
        roundStart,
        sentAt,
      });
    } catch (error) {
      this.current = null;
      await this.manager.abandonRound(roundId, (error as Error).message).catch(() => undefined);
      throw error;
    }
  }

  private async finish(rounds: RoundReport[], started: number, stopped: JobStop | undefined, chain: IncentivesReport | undefined, evaluator: LocalModel): Promise<JobOutcome> {
    const outcome = await jobOutcome({
      job: this.job,
      jobId: this.jobId,
      resumed: this.resumed,
      storage: this.storage,
      registry: this.registry,
      modelId: this.modelId,
      evaluator,
      rounds,
      started,
      privacy: this.privacy,
      stopped,
      chain,
      refusedUpdates: this.refusedUpdates,
    });
    await this.saveReport(outcome.status, outcome);
    this.channel.announceDone(this.jobId, outcome.status, outcome.final?.accuracy);
    return outcome;
  }

  /** Stores the job's status and report (a caller with a richer report replaces the driver's own). */
  async saveReport(status: 'completed' | 'failed', report: unknown): Promise<void> {
    const { config } = this.job;
    await this.storage.jobs.upsert({ id: this.jobId, name: config.name, config, status, modelId: this.modelId, report, createdAt: this.createdAt, finishedAt: Date.now() });
  }
}
