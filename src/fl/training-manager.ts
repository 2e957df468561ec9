import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { InvalidInputError, StateError } from '../core/errors.js';
import type { RoundRecord, RoundStatus, Storage } from '../core/storage/repository.js';
import type { ModelRegistry, ModelVersionInfo } from './model-registry.js';
import type { ModelValidator } from './model-validator.js';
import { HeldRounds, emptyBuffer, foldedMean, isProtected, reloadBuffer, type PendingUpdate, type ProtectedUpdate, type RoundBuffer } from './round-buffer.js';
import { RoundError } from './round-errors.js';
import type { ClientUpdate, FitInstructions, Strategy } from './strategies/index.js';
import { UpdateAdmission, type SubmitOutcome } from './update-admission.js';

/** How the manager keeps a round's updates. */
export interface TrainingManagerOptions {
  validator?: ModelValidator;
  now?: () => number;
  /**
   * Fold plain updates into a running sample-weighted sum as they arrive, when the strategy is
   * linear, so memory grows with the model and not with the number of clients.
   */
  streaming?: boolean;
  /** Store every accepted update's bytes until its round is finalised, so a restarted coordinator can resume the round. */
  durable?: boolean;
}

/** How a round is opened. */
export interface StartRoundOptions {
  jobId: string;
  participants: string[];
  /** Accepted updates needed to aggregate. */
  quorum: number;
  /** Milliseconds from now after which updates are late. */
  deadlineMs: number;
}

/** What finalising a round produced. */
export interface RoundResult {
  round: RoundRecord;
  version: ModelVersionInfo;
  weights: Float32Array;
  aggregateSeconds: number;
}

// A round moves forward only: open -> aggregating -> finalized, or -> failed from open/aggregating.
const TRANSITIONS: Record<RoundStatus, RoundStatus[]> = {
  open: ['aggregating', 'failed'],
  aggregating: ['finalized', 'failed'],
  finalized: [],
  failed: [],
};

/**
 * Runs rounds of a training job: opens a round for chosen participants, accepts each participant's
 * update once before the deadline, and aggregates the accepted updates into the model's next version.
 */
export class TrainingManager extends EventEmitter {
  private readonly held: HeldRounds;
  private readonly admission: UpdateAdmission;

  constructor(
    private readonly storage: Storage,
    private readonly registry: ModelRegistry,
    private readonly strategy: Strategy,
    private readonly options: TrainingManagerOptions = {},
  ) {
    super();
    this.held = new HeldRounds(storage);
    this.admission = new UpdateAdmission({
      storage,
      registry,
      held: this.held,
      validator: options.validator,
      durable: options.durable === true,
      folds: () => this.folds,
      now: () => this.now(),
      emit: (event, payload) => this.emit(event, payload),
    });
  }

  private get folds(): boolean {
    return this.options.streaming === true && this.strategy.linear === true;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Opens the next round of `modelId` for the given participants; returns the round id. */
  async startRound(modelId: string, options: StartRoundOptions): Promise<string> {
    const participants = [...new Set(options.participants)];
    if (participants.length === 0) {
      throw new InvalidInputError('ROUND_NO_PARTICIPANTS', 'a round needs at least one participant');
    }
    if (!Number.isInteger(options.quorum) || options.quorum < 1 || options.quorum > participants.length) {
      throw new InvalidInputError(
        'ROUND_QUORUM_INVALID',
        `quorum must be an integer between 1 and the ${participants.length} participants, got ${options.quorum}`,
      );
    }
    if (!(options.deadlineMs > 0)) {
      throw new InvalidInputError('ROUND_DEADLINE_INVALID', `deadline must be a positive number of milliseconds, got ${options.deadlineMs}`);
    }
    const model = await this.registry.getModel(modelId);
    return this.storage.transaction(async () => {
      const previous = await this.storage.rounds.list({ jobId: options.jobId });
      const unfinished = previous.find((r) => r.status === 'open' || r.status === 'aggregating');
      if (unfinished) {
        throw new StateError('ROUND_IN_PROGRESS', `round ${unfinished.number} of job '${options.jobId}' is still ${unfinished.status}; finalise it first`);
      }
      const startedAt = this.now();
      const round: RoundRecord = {
        id: `round-${randomUUID()}`,
        jobId: options.jobId,
        modelId,
        number: previous.length + 1,
        status: 'open',
        participants,
        quorum: options.quorum,
        deadline: Math.round(startedAt + options.deadlineMs),
        baseVersion: model.latestVersion,
        resultVersion: null,
        metrics: {},
        startedAt,
        finishedAt: null,
        error: null,
      };
      await this.storage.rounds.upsert(round);
      this.held.set(round.id, emptyBuffer(round));
      this.emit('round:started', round);
      return round.id;
    });
  }

  /**
   * Accepts one participant's update for an open round, or throws UpdateRejectedError saying why;
   * the same bytes sent again are recognised ('duplicate') and not counted twice.
   */
  submitUpdate(roundId: string, update: ClientUpdate, sha256?: string): Promise<SubmitOutcome> {
    return this.admission.submitUpdate(roundId, update, sha256);
  }

  /**
   * Accepts a protected update: the coordinator holds only its bytes (a CKKS ciphertext or a
   * masked vector), so its content cannot be validated here; the same admission rules apply.
   */
  submitProtectedUpdate(roundId: string, update: ProtectedUpdate): Promise<SubmitOutcome> {
    return this.admission.submitProtectedUpdate(roundId, update);
  }

  /**
   * Takes up a plain round that a previous coordinator process left open (or mid-aggregation): reloads
   * its accepted updates from storage, so none is lost and none counted twice. Needs `durable` updates.
   */
  async resumeRound(roundId: string): Promise<RoundRecord> {
    const round = await this.held.require(roundId);
    if (round.status !== 'open' && round.status !== 'aggregating') {
      throw new StateError('ROUND_NOT_RESUMABLE', `round ${round.number} is ${round.status}; only an open or aggregating round can be resumed`);
    }
    const buffer = await reloadBuffer(this.storage, round, this.folds);
    this.held.set(roundId, buffer);
    this.emit('round:resumed', round);
    return round;
  }

  /** True when every participant of the round has submitted, apart from those `excused` (refused for good). */
  async isComplete(roundId: string, excused: ReadonlySet<string> = new Set()): Promise<boolean> {
    const round = await this.held.current(roundId);
    const accepted = this.held.bufferOf(round).accepted;
    return round.participants.every((id) => accepted.has(id) || excused.has(id));
  }

  /** Aggregates the accepted updates into the model's next version and closes the round. */
  async finalizeRound(roundId: string, metrics: Record<string, number> = {}): Promise<RoundResult> {
    return this.finalize(roundId, metrics, async (global, updates, round) => {
      if (updates.some(isProtected)) {
        throw new RoundError('ROUND_PROTECTED', `round ${round} holds protected updates; finalise it with finalizeProtectedRound`);
      }
      return this.strategy.aggregate(global, updates as ClientUpdate[], round);
    }, (global, buffer, round) => this.strategy.aggregate(global, [{ clientId: 'aggregate', weights: foldedMean(buffer), numExamples: buffer.total }], round));
  }

  /**
   * Closes a round of protected updates: `combine` turns their bytes into the sample-weighted mean
   * of the clients' weights (by secure aggregation, or by decryption at a participant), and the
   * strategy applies that mean as one update, so server optimisers still work.
   */
  async finalizeProtectedRound(
    roundId: string,
    combine: (updates: readonly ProtectedUpdate[]) => Promise<Float32Array>,
    metrics: Record<string, number> = {},
  ): Promise<RoundResult> {
    return this.finalize(roundId, metrics, async (global, updates, round) => {
      if (!updates.every(isProtected)) {
        throw new RoundError('ROUND_NOT_PROTECTED', `round ${round} holds plain updates; finalise it with finalizeRound`);
      }
      const mean = await combine(updates);
      const total = updates.reduce((sum, u) => sum + u.numExamples, 0);
      return this.strategy.aggregate(global, [{ clientId: 'aggregate', weights: mean, numExamples: total }], round);
    });
  }

  private async finalize(
    roundId: string,
    metrics: Record<string, number>,
    aggregate: (global: Float32Array, ordered: PendingUpdate[], round: number) => Promise<Float32Array>,
    aggregateFolded?: (global: Float32Array, buffer: RoundBuffer, round: number) => Float32Array,
  ): Promise<RoundResult> {
    const round = await this.held.require(roundId);
    const buffer = this.held.bufferOf(round);
    buffer.closing = true;
    await Promise.allSettled([...buffer.inflight]);
    const count = buffer.accepted.size;
    if (count < round.quorum) {
      const failed = await this.transition(round, 'failed', {
        error: `quorum not met: ${count} of ${round.quorum} required updates`,
        finishedAt: this.now(),
      });
      this.held.delete(roundId);
      this.emit('round:failed', failed);
      throw new RoundError('ROUND_QUORUM_NOT_MET', `round ${round.number} received ${count} updates, ${round.quorum} are required`);
    }
    // A resumed round may already be aggregating: its previous coordinator died before storing the result.
    const aggregating = round.status === 'aggregating' ? round : await this.transition(round, 'aggregating', {});
    const started = performance.now();
    const base = await this.registry.getVersion(round.modelId, round.baseVersion);
    // Aggregate in client-id order so the result does not depend on arrival order.
    const ordered = [...buffer.entries].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    let weights: Float32Array;
    try {
      if (buffer.sum && ordered.length > 0) {
        throw new RoundError('ROUND_MIXED', `round ${round.number} mixes folded plain updates with protected ones; a round carries one kind`);
      }
      weights = buffer.sum && aggregateFolded ? aggregateFolded(base.weights, buffer, round.number) : await aggregate(base.weights, ordered, round.number);
    } catch (error) {
      await this.transition(aggregating, 'failed', { error: String((error as Error).message), finishedAt: this.now() });
      this.held.delete(roundId);
      throw error;
    }
    const aggregateSeconds = (performance.now() - started) / 1000;
    const result = await this.storage.transaction(async () => {
      const version = await this.registry.updateModel(round.modelId, weights, { roundId, metrics });
      // Saved with the version it produced, so a restarted coordinator continues from exactly here.
      const state = this.strategy.saveState?.();
      if (state) await this.storage.models.putStrategyState({ modelId: round.modelId, strategy: this.strategy.name, version: version.version, state, updatedAt: this.now() });
      const finalized = await this.transition(aggregating, 'finalized', {
        resultVersion: version.version,
        metrics: { ...metrics, updates: count },
        finishedAt: this.now(),
      });
      if (this.options.durable) await this.storage.rounds.clearUpdatePayloads(roundId);
      return { round: finalized, version, weights, aggregateSeconds };
    });
    this.held.delete(roundId);
    this.emit('round:finalized', result.round);
    return result;
  }

  /**
   * Closes an open or aggregating round as failed without aggregating it (its protection could not
   * finish, or a restarted coordinator cannot carry it over); the job goes on with a new round.
   */
  async abandonRound(roundId: string, reason: string): Promise<RoundRecord> {
    const round = await this.held.require(roundId);
    this.held.delete(roundId);
    if (round.status === 'failed') return round;
    const failed = await this.transition(round, 'failed', { error: reason, finishedAt: this.now() });
    if (this.options.durable) await this.storage.rounds.clearUpdatePayloads(roundId);
    this.emit('round:failed', failed);
    return failed;
  }

  /** Records metrics measured after aggregation (e.g. held-out accuracy) on a finalised round. */
  async recordMetrics(roundId: string, metrics: Record<string, number>): Promise<RoundRecord> {
    const round = await this.held.require(roundId);
    const updated = { ...round, metrics: { ...round.metrics, ...metrics } };
    await this.storage.rounds.upsert(updated);
    return updated;
  }

  /**
   * Continues the strategy from the state saved with the model's newest version (a coordinator that
   * took over a running job). False when there is none, or it belongs to another strategy.
   */
  async restoreStrategyState(modelId: string): Promise<boolean> {
    const saved = await this.storage.models.getStrategyState(modelId);
    if (!saved || saved.strategy !== this.strategy.name || !this.strategy.loadState) return false;
    this.strategy.loadState(saved.state);
    return true;
  }

  /** What the strategy asks participants to do in this round (e.g. FedProx's proximal term). */
  fitInstructions(round: number): FitInstructions {
    return this.strategy.configureFit(round);
  }

  /** A round's record. */
  async getRound(roundId: string): Promise<RoundRecord> {
    return this.held.require(roundId);
  }

  private async transition(round: RoundRecord, to: RoundStatus, changes: Partial<RoundRecord>): Promise<RoundRecord> {
    if (!TRANSITIONS[round.status].includes(to)) {
      throw new StateError('ROUND_TRANSITION_INVALID', `round ${round.number} cannot go from ${round.status} to ${to}`);
    }
    const next: RoundRecord = { ...round, ...changes, status: to };
    await this.storage.rounds.upsert(next);
    return next;
  }
}
