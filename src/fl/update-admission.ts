import { createHash } from 'node:crypto';
import type { RoundRecord, Storage } from '../core/storage/repository.js';
import { weightsSha256, type ModelRegistry } from './model-registry.js';
import type { ModelValidator } from './model-validator.js';
import { foldInto, type HeldRounds, type PendingUpdate, type ProtectedUpdate, type RoundBuffer } from './round-buffer.js';
import { UpdateRejectedError } from './round-errors.js';
import type { ClientUpdate } from './strategies/index.js';

/** What submitting an update did: counted it, or recognised a resubmission of the same bytes. */
export type SubmitOutcome = 'accepted' | 'duplicate';

/** What admission shares with the manager that opens and closes the rounds. */
export interface AdmissionContext {
  storage: Storage;
  registry: ModelRegistry;
  held: HeldRounds;
  validator: ModelValidator | undefined;
  /** Store every accepted update's bytes until its round is finalised. */
  durable: boolean;
  folds: () => boolean;
  now: () => number;
  /** The manager's events: 'update:accepted', 'update:duplicate', 'update:rejected'. */
  emit: (event: string, payload: unknown) => void;
}

/**
 * The rules an update passes to count in a round: from a selected participant, while the round is
 * open and before its deadline, once (the same bytes again are a duplicate, different ones refused).
 */
export class UpdateAdmission {
  constructor(private readonly ctx: AdmissionContext) {}

  /**
   * Accepts one participant's update for an open round, or throws UpdateRejectedError saying why;
   * the same bytes sent again are recognised ('duplicate') and not counted twice. `sha256` is the weights' digest when
   * the transport computed it from the bytes that carried them.
   */
  async submitUpdate(roundId: string, update: ClientUpdate, sha256: string = weightsSha256(update.weights)): Promise<SubmitOutcome> {
    return this.admit(roundId, update.clientId, update.numExamples, update.metrics ?? {}, sha256, async (round, buffer) => {
      if (buffer.sum && update.weights.length !== buffer.sum.length) {
        throw new UpdateRejectedError('UPDATE_INVALID', `update from '${update.clientId}' has ${update.weights.length} weights; the model has ${buffer.sum.length}`);
      }
      if (this.ctx.validator) {
        buffer.base ??= (await this.ctx.registry.getVersion(round.modelId, round.baseVersion)).weights;
        const verdict = this.ctx.validator.validateUpdate(buffer.base, update);
        if (!verdict.valid) {
          throw new UpdateRejectedError('UPDATE_INVALID', `update from '${update.clientId}' failed validation: ${verdict.reasons.map((r) => r.message).join('; ')}`);
        }
      }
      return { entry: update, payload: new Uint8Array(update.weights.buffer, update.weights.byteOffset, update.weights.byteLength) };
    });
  }

  /**
   * Accepts a protected update: the coordinator holds only its bytes (a CKKS ciphertext or a
   * masked vector), so its content cannot be validated here; the same admission rules apply. Its
   * bytes are not stored: a protected round open at a restart is abandoned, never resumed (its
   * keys and masks died with the round), and a CKKS contribution is megabytes.
   */
  async submitProtectedUpdate(roundId: string, update: ProtectedUpdate): Promise<SubmitOutcome> {
    const sha256 = update.sha256 ?? createHash('sha256').update(update.payload).digest('hex');
    return this.admit(roundId, update.clientId, update.numExamples, update.metrics ?? {}, sha256, async () => ({ entry: update }));
  }

  private async admit(...args: Parameters<UpdateAdmission['admitNow']>): Promise<SubmitOutcome> {
    const buffer = this.ctx.held.get(args[0]);
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
    check: (round: RoundRecord, buffer: RoundBuffer) => Promise<{ entry: PendingUpdate; payload?: Uint8Array }>,
  ): Promise<SubmitOutcome> {
    const held = this.ctx.held.get(roundId);
    const round = await this.ctx.held.current(roundId);
    try {
      const previous = await this.acceptedDigest(round, clientId);
      if (previous !== undefined) {
        if (previous === sha256) {
          this.ctx.emit('update:duplicate', { roundId, clientId });
          return 'duplicate';
        }
        throw new UpdateRejectedError('UPDATE_DUPLICATE', `'${clientId}' already submitted a different update for round ${round.number}`);
      }
      if (round.status !== 'open') {
        throw new UpdateRejectedError('UPDATE_ROUND_CLOSED', `round ${round.number} is ${round.status}; updates are accepted only while it is open`);
      }
      if (this.ctx.now() > round.deadline) {
        throw new UpdateRejectedError('UPDATE_LATE', `update from '${clientId}' arrived after round ${round.number}'s deadline`);
      }
      if (!(held ? held.participants.has(clientId) : round.participants.includes(clientId))) {
        throw new UpdateRejectedError('UPDATE_NOT_PARTICIPANT', `'${clientId}' was not selected for round ${round.number}`);
      }
      const buffer = this.ctx.held.bufferOf(round);
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
        await this.ctx.storage.rounds.insertUpdate({
          roundId,
          clientId,
          numExamples,
          sha256,
          metrics,
          receivedAt: this.ctx.now(),
          ...(this.ctx.durable && payload ? { payload } : {}),
        });
      } catch (error) {
        buffer.accepted.delete(clientId);
        throw error;
      }
      foldInto(buffer, entry, this.ctx.folds());
      this.ctx.emit('update:accepted', { roundId, clientId });
      return 'accepted';
    } catch (error) {
      this.ctx.emit('update:rejected', { roundId, clientId, error });
      throw error;
    }
  }

  /** The digest of the client's accepted update in this round, if it has one. */
  private async acceptedDigest(round: RoundRecord, clientId: string): Promise<string | undefined> {
    const buffer = this.ctx.held.get(round.id);
    if (buffer) return buffer.accepted.get(clientId);
    // The round is no longer held here (finalised, or another coordinator's): the store knows.
    return (await this.ctx.storage.rounds.listUpdates(round.id)).find((u) => u.clientId === clientId)?.sha256;
  }
}
