import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CipherNexusError, InvalidInputError, NotFoundError, StateError } from '../core/errors.js';
import type { RoundRecord, RoundStatus, Storage } from '../core/storage/repository.js';
import { ModelRegistry, weightsSha256, type ModelVersionInfo } from './model-registry.js';
import type { ModelValidator } from './model-validator.js';
import type { ClientUpdate, Strategy } from './strategies/index.js';

/** An update the round refused, with the rule it broke. */
export class UpdateRejectedError extends CipherNexusError {}

/** A round that cannot be finalised (quorum not met, wrong state). */
export class RoundError extends CipherNexusError {}

/** An update whose content the coordinator cannot read: ciphertext or masked bytes. */
export interface ProtectedUpdate {
  clientId: string;
  numExamples: number;
  payload: Uint8Array;
  metrics?: Record<string, number>;
}

type PendingUpdate = ClientUpdate | ProtectedUpdate;

function isProtected(update: PendingUpdate): update is ProtectedUpdate {
  return 'payload' in update;
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
  private readonly pending = new Map<string, PendingUpdate[]>();

  constructor(
    private readonly storage: Storage,
    private readonly registry: ModelRegistry,
    private readonly strategy: Strategy,
    private readonly options: { validator?: ModelValidator; now?: () => number } = {},
  ) {
    super();
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
        deadline: startedAt + options.deadlineMs,
        baseVersion: model.latestVersion,
        resultVersion: null,
        metrics: {},
        startedAt,
        finishedAt: null,
        error: null,
      };
      await this.storage.rounds.upsert(round);
      this.pending.set(round.id, []);
      this.emit('round:started', round);
      return round.id;
    });
  }

  /** Accepts one participant's update for an open round, or throws UpdateRejectedError saying why. */
  async submitUpdate(roundId: string, update: ClientUpdate): Promise<void> {
    await this.admit(roundId, update.clientId, update.numExamples, update.metrics ?? {}, async (round) => {
      if (this.options.validator) {
        const base = await this.registry.getVersion(round.modelId, round.baseVersion);
        const verdict = this.options.validator.validateUpdate(base.weights, update);
        if (!verdict.valid) {
          throw new UpdateRejectedError('UPDATE_INVALID', `update from '${update.clientId}' failed validation: ${verdict.reasons.map((r) => r.message).join('; ')}`);
        }
      }
      return { sha256: weightsSha256(update.weights), entry: update };
    });
  }

  /**
   * Accepts a protected update: the coordinator holds only its bytes (a CKKS ciphertext or a
   * masked vector), so its content cannot be validated here; the same admission rules apply.
   */
  async submitProtectedUpdate(roundId: string, update: ProtectedUpdate): Promise<void> {
    await this.admit(roundId, update.clientId, update.numExamples, update.metrics ?? {}, async () => ({
      sha256: createHash('sha256').update(update.payload).digest('hex'),
      entry: update,
    }));
  }

  private async admit(
    roundId: string,
    clientId: string,
    numExamples: number,
    metrics: Record<string, number>,
    check: (round: RoundRecord) => Promise<{ sha256: string; entry: PendingUpdate }>,
  ): Promise<void> {
    const round = await this.requireRound(roundId);
    try {
      if (round.status !== 'open') {
        throw new UpdateRejectedError('UPDATE_ROUND_CLOSED', `round ${round.number} is ${round.status}; updates are accepted only while it is open`);
      }
      if (this.now() > round.deadline) {
        throw new UpdateRejectedError('UPDATE_LATE', `update from '${clientId}' arrived after round ${round.number}'s deadline`);
      }
      if (!round.participants.includes(clientId)) {
        throw new UpdateRejectedError('UPDATE_NOT_PARTICIPANT', `'${clientId}' was not selected for round ${round.number}`);
      }
      const buffered = this.pendingOf(round);
      if (buffered.some((u) => u.clientId === clientId)) {
        throw new UpdateRejectedError('UPDATE_DUPLICATE', `'${clientId}' already submitted an update for round ${round.number}`);
      }
      if (!(numExamples > 0) || !Number.isInteger(numExamples)) {
        throw new UpdateRejectedError('UPDATE_INVALID', `update from '${clientId}' must report a positive integer number of examples, got ${numExamples}`);
      }
      const { sha256, entry } = await check(round);
      await this.storage.rounds.insertUpdate({ roundId, clientId, numExamples, sha256, metrics, receivedAt: this.now() });
      buffered.push(entry);
      this.emit('update:accepted', { roundId, clientId });
    } catch (error) {
      this.emit('update:rejected', { roundId, clientId, error });
      throw error;
    }
  }

  /** True when every participant of the round has submitted. */
  async isComplete(roundId: string): Promise<boolean> {
    const round = await this.requireRound(roundId);
    return this.pendingOf(round).length === round.participants.length;
  }

  /** Aggregates the accepted updates into the model's next version and closes the round. */
  async finalizeRound(roundId: string, metrics: Record<string, number> = {}): Promise<RoundResult> {
    return this.finalize(roundId, metrics, async (global, updates, round) => {
      if (updates.some(isProtected)) {
        throw new RoundError('ROUND_PROTECTED', `round ${round} holds protected updates; finalise it with finalizeProtectedRound`);
      }
      return this.strategy.aggregate(global, updates as ClientUpdate[], round);
    });
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
  ): Promise<RoundResult> {
    const round = await this.requireRound(roundId);
    const updates = this.pendingOf(round);
    if (updates.length < round.quorum) {
      const failed = await this.transition(round, 'failed', {
        error: `quorum not met: ${updates.length} of ${round.quorum} required updates`,
        finishedAt: this.now(),
      });
      this.pending.delete(roundId);
      this.emit('round:failed', failed);
      throw new RoundError('ROUND_QUORUM_NOT_MET', `round ${round.number} received ${updates.length} updates, ${round.quorum} are required`);
    }
    const aggregating = await this.transition(round, 'aggregating', {});
    const started = performance.now();
    const base = await this.registry.getVersion(round.modelId, round.baseVersion);
    // Aggregate in client-id order so the result does not depend on arrival order.
    const ordered = [...updates].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    let weights: Float32Array;
    try {
      weights = await aggregate(base.weights, ordered, round.number);
    } catch (error) {
      await this.transition(aggregating, 'failed', { error: String((error as Error).message), finishedAt: this.now() });
      this.pending.delete(roundId);
      throw error;
    }
    const aggregateSeconds = (performance.now() - started) / 1000;
    const result = await this.storage.transaction(async () => {
      const version = await this.registry.updateModel(round.modelId, weights, { roundId, metrics });
      const finalized = await this.transition(aggregating, 'finalized', {
        resultVersion: version.version,
        metrics: { ...metrics, updates: ordered.length },
        finishedAt: this.now(),
      });
      return { round: finalized, version, weights, aggregateSeconds };
    });
    this.pending.delete(roundId);
    this.emit('round:finalized', result.round);
    return result;
  }

  /** Records metrics measured after aggregation (e.g. held-out accuracy) on a finalised round. */
  async recordMetrics(roundId: string, metrics: Record<string, number>): Promise<RoundRecord> {
    const round = await this.requireRound(roundId);
    const updated = { ...round, metrics: { ...round.metrics, ...metrics } };
    await this.storage.rounds.upsert(updated);
    return updated;
  }

  /** A round's record. */
  async getRound(roundId: string): Promise<RoundRecord> {
    return this.requireRound(roundId);
  }

  private pendingOf(round: RoundRecord): PendingUpdate[] {
    const buffered = this.pending.get(round.id);
    if (!buffered) {
      throw new StateError('ROUND_NOT_ACTIVE', `round ${round.number} (${round.id}) is not active in this coordinator`);
    }
    return buffered;
  }

  private async transition(round: RoundRecord, to: RoundStatus, changes: Partial<RoundRecord>): Promise<RoundRecord> {
    if (!TRANSITIONS[round.status].includes(to)) {
      throw new StateError('ROUND_TRANSITION_INVALID', `round ${round.number} cannot go from ${round.status} to ${to}`);
    }
    const next: RoundRecord = { ...round, ...changes, status: to };
    await this.storage.rounds.upsert(next);
    return next;
  }

  private async requireRound(roundId: string): Promise<RoundRecord> {
    const round = await this.storage.rounds.get(roundId);
    if (!round) throw new NotFoundError('round', roundId);
    return round;
  }
}
