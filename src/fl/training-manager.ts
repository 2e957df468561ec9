import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CipherNexusError, InvalidInputError, NotFoundError, StateError } from '../core/errors.js';
import type { RoundRecord, RoundStatus, Storage } from '../core/storage/repository.js';
import { ModelRegistry, weightsSha256, type ModelVersionInfo } from './model-registry.js';
import type { ModelValidator } from './model-validator.js';
import type { ClientUpdate, FitInstructions, Strategy } from './strategies/index.js';

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

/** What submitting an update did: counted it, or recognised a resubmission of the same bytes. */
export type SubmitOutcome = 'accepted' | 'duplicate';

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

/** An open round's accepted updates: kept one by one, or folded into a running sum. */
interface RoundBuffer {
  /** The round as it was opened (or resumed) here; admission reads it instead of the store. */
  readonly round: RoundRecord;
  readonly participants: ReadonlySet<string>;
  /** Each accepted client's update digest, so a resubmission of the same bytes is recognised. */
  readonly accepted: Map<string, string>;
  readonly entries: PendingUpdate[];
  sum: Float64Array | null;
  total: number;
  base: Float32Array | null;
  /** Set when finalisation begins: admissions still under way finish first, later ones are refused. */
  closing: boolean;
  readonly inflight: Set<Promise<unknown>>;
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
  private readonly pending = new Map<string, RoundBuffer>();

  constructor(
    private readonly storage: Storage,
    private readonly registry: ModelRegistry,
    private readonly strategy: Strategy,
    private readonly options: TrainingManagerOptions = {},
  ) {
    super();
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
      this.pending.set(round.id, emptyBuffer(round));
      this.emit('round:started', round);
      return round.id;
    });
  }

  /**
   * Accepts one participant's update for an open round, or throws UpdateRejectedError saying why;
   * the same bytes sent again are recognised ('duplicate') and not counted twice.
   */
  async submitUpdate(roundId: string, update: ClientUpdate): Promise<SubmitOutcome> {
    return this.admit(roundId, update.clientId, update.numExamples, update.metrics ?? {}, weightsSha256(update.weights), async (round, buffer) => {
      if (buffer.sum && update.weights.length !== buffer.sum.length) {
        throw new UpdateRejectedError('UPDATE_INVALID', `update from '${update.clientId}' has ${update.weights.length} weights; the model has ${buffer.sum.length}`);
      }
      if (this.options.validator) {
        buffer.base ??= (await this.registry.getVersion(round.modelId, round.baseVersion)).weights;
        const verdict = this.options.validator.validateUpdate(buffer.base, update);
        if (!verdict.valid) {
          throw new UpdateRejectedError('UPDATE_INVALID', `update from '${update.clientId}' failed validation: ${verdict.reasons.map((r) => r.message).join('; ')}`);
        }
      }
      return { entry: update, payload: new Uint8Array(update.weights.buffer, update.weights.byteOffset, update.weights.byteLength) };
    });
  }

  /**
   * Accepts a protected update: the coordinator holds only its bytes (a CKKS ciphertext or a
   * masked vector), so its content cannot be validated here; the same admission rules apply.
   */
  async submitProtectedUpdate(roundId: string, update: ProtectedUpdate): Promise<SubmitOutcome> {
    const sha256 = createHash('sha256').update(update.payload).digest('hex');
    return this.admit(roundId, update.clientId, update.numExamples, update.metrics ?? {}, sha256, async () => ({ entry: update, payload: update.payload }));
  }

  private async admit(...args: Parameters<TrainingManager['admitNow']>): Promise<SubmitOutcome> {
    const buffer = this.pending.get(args[0]);
    const work = this.admitNow(...args);
    buffer?.inflight.add(work);
    try {
      return await work;
    } finally {
      buffer?.inflight.delete(work);
    }
  }

  private async admitNow(
    roundId: string,
    clientId: string,
    numExamples: number,
    metrics: Record<string, number>,
    sha256: string,
    check: (round: RoundRecord, buffer: RoundBuffer) => Promise<{ entry: PendingUpdate; payload: Uint8Array }>,
  ): Promise<SubmitOutcome> {
    const held = this.pending.get(roundId);
    const round = await this.currentRound(roundId);
    try {
      const previous = await this.acceptedDigest(round, clientId);
      if (previous !== undefined) {
        if (previous === sha256) {
          this.emit('update:duplicate', { roundId, clientId });
          return 'duplicate';
        }
        throw new UpdateRejectedError('UPDATE_DUPLICATE', `'${clientId}' already submitted a different update for round ${round.number}`);
      }
      if (round.status !== 'open') {
        throw new UpdateRejectedError('UPDATE_ROUND_CLOSED', `round ${round.number} is ${round.status}; updates are accepted only while it is open`);
      }
      if (this.now() > round.deadline) {
        throw new UpdateRejectedError('UPDATE_LATE', `update from '${clientId}' arrived after round ${round.number}'s deadline`);
      }
      if (!(held ? held.participants.has(clientId) : round.participants.includes(clientId))) {
        throw new UpdateRejectedError('UPDATE_NOT_PARTICIPANT', `'${clientId}' was not selected for round ${round.number}`);
      }
      const buffer = this.pendingOf(round);
      if (buffer.closing) throw new UpdateRejectedError('UPDATE_ROUND_CLOSED', `round ${round.number} is being aggregated; it takes no more updates`);
      if (!(numExamples > 0) || !Number.isInteger(numExamples)) {
        throw new UpdateRejectedError('UPDATE_INVALID', `update from '${clientId}' must report a positive integer number of examples, got ${numExamples}`);
      }
      const { entry, payload } = await check(round, buffer);
      if (buffer.closing) throw new UpdateRejectedError('UPDATE_ROUND_CLOSED', `round ${round.number} closed while the update from '${clientId}' was being checked`);
      // Validation awaited: the same client may have been accepted meanwhile, so decide again.
      if (buffer.accepted.has(clientId)) return this.admitNow(roundId, clientId, numExamples, metrics, sha256, check);
      buffer.accepted.set(clientId, sha256);
      try {
        await this.storage.rounds.insertUpdate({
          roundId,
          clientId,
          numExamples,
          sha256,
          metrics,
          receivedAt: this.now(),
          ...(this.options.durable ? { payload } : {}),
        });
      } catch (error) {
        buffer.accepted.delete(clientId);
        throw error;
      }
      this.fold(buffer, entry);
      this.emit('update:accepted', { roundId, clientId });
      return 'accepted';
    } catch (error) {
      this.emit('update:rejected', { roundId, clientId, error });
      throw error;
    }
  }

  /** The digest of the client's accepted update in this round, if it has one. */
  private async acceptedDigest(round: RoundRecord, clientId: string): Promise<string | undefined> {
    const buffer = this.pending.get(round.id);
    if (buffer) return buffer.accepted.get(clientId);
    // The round is no longer held here (finalised, or another coordinator's): the store knows.
    return (await this.storage.rounds.listUpdates(round.id)).find((u) => u.clientId === clientId)?.sha256;
  }

  private fold(buffer: RoundBuffer, entry: PendingUpdate): void {
    if (!this.folds || isProtected(entry)) {
      buffer.entries.push(entry);
      return;
    }
    const sum = (buffer.sum ??= new Float64Array(entry.weights.length));
    const n = entry.numExamples;
    const w = entry.weights;
    for (let i = 0; i < sum.length; i++) sum[i] += n * w[i];
    buffer.total += n;
  }

  /**
   * Takes up a round that a previous coordinator process left open (or mid-aggregation): reloads its
   * accepted updates from storage, so none is lost and none counted twice. Needs `durable` updates.
   */
  async resumeRound(roundId: string, kind: 'plain' | 'protected' = 'plain'): Promise<RoundRecord> {
    const round = await this.requireRound(roundId);
    if (round.status !== 'open' && round.status !== 'aggregating') {
      throw new StateError('ROUND_NOT_RESUMABLE', `round ${round.number} is ${round.status}; only an open or aggregating round can be resumed`);
    }
    const buffer = emptyBuffer(round);
    for (const update of await this.storage.rounds.listUpdates(roundId)) {
      const bytes = await this.storage.rounds.getUpdatePayload(roundId, update.clientId);
      if (!bytes) {
        throw new StateError('ROUND_NOT_RESUMABLE', `round ${round.number} has no stored bytes for '${update.clientId}'s update; it was run without durable updates`);
      }
      buffer.accepted.set(update.clientId, update.sha256);
      const entry: PendingUpdate =
        kind === 'protected'
          ? { clientId: update.clientId, numExamples: update.numExamples, payload: bytes, metrics: update.metrics }
          : { clientId: update.clientId, numExamples: update.numExamples, weights: floatsOf(bytes), metrics: update.metrics };
      this.fold(buffer, entry);
    }
    this.pending.set(roundId, buffer);
    this.emit('round:resumed', round);
    return round;
  }

  /** True when every participant of the round has submitted, apart from those `excused` (refused for good). */
  async isComplete(roundId: string, excused: ReadonlySet<string> = new Set()): Promise<boolean> {
    const round = await this.currentRound(roundId);
    const accepted = this.pendingOf(round).accepted;
    return round.participants.every((id) => accepted.has(id) || excused.has(id));
  }

  /** Aggregates the accepted updates into the model's next version and closes the round. */
  async finalizeRound(roundId: string, metrics: Record<string, number> = {}): Promise<RoundResult> {
    return this.finalize(roundId, metrics, async (global, updates, round) => {
      if (updates.some(isProtected)) {
        throw new RoundError('ROUND_PROTECTED', `round ${round} holds protected updates; finalise it with finalizeProtectedRound`);
      }
      return this.strategy.aggregate(global, updates as ClientUpdate[], round);
    }, (global, buffer, round) => {
      const sum = buffer.sum as Float64Array;
      const mean = new Float32Array(sum.length);
      for (let i = 0; i < mean.length; i++) mean[i] = sum[i] / buffer.total;
      return this.strategy.aggregate(global, [{ clientId: 'aggregate', weights: mean, numExamples: buffer.total }], round);
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
    aggregateFolded?: (global: Float32Array, buffer: RoundBuffer, round: number) => Float32Array,
  ): Promise<RoundResult> {
    const round = await this.requireRound(roundId);
    const buffer = this.pendingOf(round);
    buffer.closing = true;
    await Promise.allSettled([...buffer.inflight]);
    const count = buffer.accepted.size;
    if (count < round.quorum) {
      const failed = await this.transition(round, 'failed', {
        error: `quorum not met: ${count} of ${round.quorum} required updates`,
        finishedAt: this.now(),
      });
      this.pending.delete(roundId);
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
      this.pending.delete(roundId);
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
    this.pending.delete(roundId);
    this.emit('round:finalized', result.round);
    return result;
  }

  /**
   * Closes an open or aggregating round as failed without aggregating it (its protection could not
   * finish, or a restarted coordinator cannot carry it over); the job goes on with a new round.
   */
  async abandonRound(roundId: string, reason: string): Promise<RoundRecord> {
    const round = await this.requireRound(roundId);
    this.pending.delete(roundId);
    if (round.status === 'failed') return round;
    const failed = await this.transition(round, 'failed', { error: reason, finishedAt: this.now() });
    if (this.options.durable) await this.storage.rounds.clearUpdatePayloads(roundId);
    this.emit('round:failed', failed);
    return failed;
  }

  /** Records metrics measured after aggregation (e.g. held-out accuracy) on a finalised round. */
  async recordMetrics(roundId: string, metrics: Record<string, number>): Promise<RoundRecord> {
    const round = await this.requireRound(roundId);
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
    return this.requireRound(roundId);
  }

  private pendingOf(round: RoundRecord): RoundBuffer {
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

  /** A round held here changes only through this manager, so its held copy is read instead of the store (per update, at 1,000 participants). */
  private currentRound(roundId: string): Promise<RoundRecord> {
    const held = this.pending.get(roundId);
    return held ? Promise.resolve(held.round) : this.requireRound(roundId);
  }

  private async requireRound(roundId: string): Promise<RoundRecord> {
    const round = await this.storage.rounds.get(roundId);
    if (!round) throw new NotFoundError('round', roundId);
    return round;
  }
}

function emptyBuffer(round: RoundRecord): RoundBuffer {
  // A copy: whoever holds the record that was emitted or returned cannot change admission through it.
  return { round: structuredClone(round), participants: new Set(round.participants), accepted: new Map(), entries: [], sum: null, total: 0, base: null, closing: false, inflight: new Set() };
}

/** A stored update's bytes as float32 weights (copied: the store's buffer may not be 4-byte aligned). */
function floatsOf(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new StateError('ROUND_NOT_RESUMABLE', `a stored update has ${bytes.byteLength} bytes, not a whole number of float32 weights`);
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}
