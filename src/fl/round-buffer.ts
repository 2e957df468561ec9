import { NotFoundError, StateError } from '../core/errors.js';
import type { RoundRecord, Storage } from '../core/storage/repository.js';
import type { ClientUpdate } from './strategies/index.js';

/** An update whose content the coordinator cannot read: ciphertext or masked bytes. */
export interface ProtectedUpdate {
  clientId: string;
  numExamples: number;
  payload: Uint8Array;
  metrics?: Record<string, number>;
  /** sha256 of `payload` in hex, when the protection already computed it (a masked vector is 400 KB to hash again). */
  sha256?: string;
}

/** An accepted update as the round holds it until it is aggregated. */
export type PendingUpdate = ClientUpdate | ProtectedUpdate;

/** True for an update whose content the coordinator holds only as bytes. */
export function isProtected(update: PendingUpdate): update is ProtectedUpdate {
  return 'payload' in update;
}

/** An open round's accepted updates: kept one by one, or folded into a running sum. */
export interface RoundBuffer {
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

/** An empty buffer for a round just opened or being resumed. */
export function emptyBuffer(round: RoundRecord): RoundBuffer {
  // A copy: whoever holds the record that was emitted or returned cannot change admission through it.
  return { round: structuredClone(round), participants: new Set(round.participants), accepted: new Map(), entries: [], sum: null, total: 0, base: null, closing: false, inflight: new Set() };
}

/** Keeps an accepted update, or with `folds` (a linear strategy, streaming) adds a plain one into the running sample-weighted sum. */
export function foldInto(buffer: RoundBuffer, entry: PendingUpdate, folds: boolean): void {
  if (!folds || isProtected(entry)) {
    buffer.entries.push(entry);
    return;
  }
  const sum = (buffer.sum ??= new Float64Array(entry.weights.length));
  const n = entry.numExamples;
  const w = entry.weights;
  for (let i = 0; i < sum.length; i++) sum[i] += n * w[i];
  buffer.total += n;
}

/** The sample-weighted mean of the updates folded into the buffer. */
export function foldedMean(buffer: RoundBuffer): Float32Array {
  const sum = buffer.sum as Float64Array;
  const mean = new Float32Array(sum.length);
  for (let i = 0; i < mean.length; i++) mean[i] = sum[i] / buffer.total;
  return mean;
}

/**
 * A plain round left open (or mid-aggregation) by a previous coordinator process, its accepted updates
 * reloaded from storage so none is lost and none counted twice. Needs `durable` updates.
 */
export async function reloadBuffer(storage: Storage, round: RoundRecord, folds: boolean): Promise<RoundBuffer> {
  const buffer = emptyBuffer(round);
  for (const update of await storage.rounds.listUpdates(round.id)) {
    const bytes = await storage.rounds.getUpdatePayload(round.id, update.clientId);
    if (!bytes) {
      throw new StateError('ROUND_NOT_RESUMABLE', `round ${round.number} has no stored bytes for '${update.clientId}'s update; it was run without durable updates`);
    }
    buffer.accepted.set(update.clientId, update.sha256);
    foldInto(buffer, { clientId: update.clientId, numExamples: update.numExamples, weights: floatsOf(bytes), metrics: update.metrics }, folds);
  }
  return buffer;
}

/** A stored update's bytes as float32 weights (copied: the store's buffer may not be 4-byte aligned). */
function floatsOf(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new StateError('ROUND_NOT_RESUMABLE', `a stored update has ${bytes.byteLength} bytes, not a whole number of float32 weights`);
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

/** The rounds this coordinator holds open, by id; a round held here changes only through its manager. */
export class HeldRounds {
  private readonly buffers = new Map<string, RoundBuffer>();

  constructor(private readonly storage: Storage) {}

  /** The round's buffer, or undefined when it is not held here. */
  get(roundId: string): RoundBuffer | undefined {
    return this.buffers.get(roundId);
  }

  /** Holds the round with this buffer. */
  set(roundId: string, buffer: RoundBuffer): void {
    this.buffers.set(roundId, buffer);
  }

  /** Lets the round go (finalised, failed or abandoned). */
  delete(roundId: string): void {
    this.buffers.delete(roundId);
  }

  /** The round's buffer; throws ROUND_NOT_ACTIVE when it is not held here. */
  bufferOf(round: RoundRecord): RoundBuffer {
    const buffered = this.buffers.get(round.id);
    if (!buffered) {
      throw new StateError('ROUND_NOT_ACTIVE', `round ${round.number} (${round.id}) is not active in this coordinator`);
    }
    return buffered;
  }

  /** The round's record: a round held here changes only through its manager, so its held copy is read instead of the store (per update, at 1,000 participants). */
  current(roundId: string): Promise<RoundRecord> {
    const held = this.buffers.get(roundId);
    return held ? Promise.resolve(held.round) : this.require(roundId);
  }

  /** The round's record in the store; throws NOT_FOUND when there is none. */
  async require(roundId: string): Promise<RoundRecord> {
    const round = await this.storage.rounds.get(roundId);
    if (!round) throw new NotFoundError('round', roundId);
    return round;
  }
}
