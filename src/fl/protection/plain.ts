import { CipherNexusError } from '../../core/errors.js';
import { decompress } from '../compression/index.js';
import type { RemoteUpdate, StageMessage, TaskProtection } from '../participant-channel.js';
import { UpdateRejectedError } from '../round-errors.js';
import type { SubmitOutcome } from '../update-admission.js';
import { boundedWeight } from '../weight-bound.js';
import { Waiter, type CollectedRound, type RoundCollection, type RoundContext, type VisibleUpdate } from './round-collection.js';

/** An update's bytes as the participant's new weights: float32 as sent, or the global weights plus a compressed delta. */
export function decodePlainUpdate(participantId: string, update: RemoteUpdate, global: Float32Array): Float32Array {
  if (update.encoding === 'float32') {
    if (update.body.byteLength !== global.length * 4) {
      throw new UpdateRejectedError('UPDATE_INVALID', `the update from '${participantId}' carries ${update.body.byteLength} bytes; ${global.length} float32 weights (${global.length * 4} bytes) were expected`);
    }
    const { body } = update;
    // Read in place when the bytes lie 4-byte aligned; a copy only where float32 cannot view them.
    if (body.byteOffset % 4 === 0) return new Float32Array(body.buffer, body.byteOffset, global.length);
    return new Float32Array(new Uint8Array(body).buffer, 0, global.length);
  }
  if (update.encoding === 'compressed') {
    let delta: Float32Array;
    try {
      delta = decompress(update.body, { expectedLength: global.length });
    } catch (error) {
      if (error instanceof CipherNexusError) throw new UpdateRejectedError('UPDATE_INVALID', `the compressed update from '${participantId}' is not readable: ${error.message}`);
      throw error;
    }
    const weights = new Float32Array(global.length);
    for (let k = 0; k < weights.length; k++) weights[k] = global[k] + delta[k];
    return weights;
  }
  throw new UpdateRejectedError('UPDATE_ENCODING_UNEXPECTED', `'${participantId}' sent a '${update.encoding}' update to a plain round; send float32 weights or a compressed delta`);
}

/** Plain rounds: the coordinator receives each participant's weights (float32 or compressed) and the strategy combines them. */
export class PlainCollection implements RoundCollection {
  readonly kind = 'none' as const;
  readonly individualUpdatesVisible = true;
  private readonly waiter = new Waiter();
  private readonly kept: VisibleUpdate[] = [];
  private readonly excused = new Set<string>();
  private bytes = 0;
  private received = 0;

  constructor(private readonly ctx: RoundContext) {}

  taskProtection(): TaskProtection {
    return { kind: 'none' };
  }

  async submit(participantId: string, update: RemoteUpdate): Promise<SubmitOutcome> {
    // The weight is checked before the bytes are read: FedAvg takes the claim at its word otherwise.
    const numExamples = boundedWeight(participantId, update.numExamples, this.ctx.examples.get(participantId), this.ctx.weightBounds.get(participantId));
    const weights = decodePlainUpdate(participantId, update, this.ctx.global);
    const outcome = await this.ctx.manager.submitUpdate(
      this.ctx.roundId,
      { clientId: participantId, weights, numExamples, metrics: { seconds: update.seconds, ...(update.loss !== undefined ? { loss: update.loss } : {}) } },
      // Float32 weights are the body's bytes, so the body's digest is theirs; a decompressed delta is not.
      update.encoding === 'float32' ? update.sha256 : undefined,
    );
    if (outcome === 'accepted') {
      this.bytes += update.body.byteLength;
      this.received++;
      if (this.ctx.keepUpdates) this.kept.push({ clientId: participantId, weights, numExamples, loss: update.loss ?? Number.NaN, seconds: update.seconds });
      this.waiter.poke();
    }
    return outcome;
  }

  async receiveStage(participantId: string, message: StageMessage): Promise<void> {
    throw new UpdateRejectedError('STAGE_UNEXPECTED', `'${participantId}' sent a '${message.protocol}' message to a plain round; this round takes only updates`);
  }

  excuse(participantId: string): void {
    this.excused.add(participantId);
    this.waiter.poke();
  }

  async finish(signal?: AbortSignal): Promise<CollectedRound> {
    const { manager, roundId, deadline } = this.ctx;
    await this.waiter.until(() => manager.isComplete(roundId, this.excused), deadline, signal);
    const finalized = await manager.finalizeRound(roundId);
    return {
      finalized,
      bytesPerClient: this.received > 0 ? this.bytes / this.received : 0,
      ...(this.ctx.keepUpdates ? { updates: [...this.kept].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0)) } : {}),
    };
  }
}
