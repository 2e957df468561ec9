import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { CipherNexusError } from '../../core/errors.js';
import { applyPolicy, encryptToEnclave, ioKeyReportData, verifySimulatedEvidence } from '../../tee/index.js';
import type { RemoteUpdate, StageMessage, TeeTaskProtection } from '../participant-channel.js';
import { UpdateRejectedError } from '../round-errors.js';
import type { ClientUpdate, FitInstructions, Strategy } from '../strategies/index.js';
import type { SubmitOutcome } from '../update-admission.js';
import { boundedWeight } from '../weight-bound.js';
import { contributionContext } from './enclave-aggregation.js';
import { Waiter, type CollectedRound, type RoundCollection, type RoundContext } from './round-collection.js';
import { roundNonce, teeRoundContext, type AggregationEnclave, type OpenedRound } from './tee-enclave.js';

/**
 * An attested enclave as a round mode (`privacy.tee`). The coordinator opens each round in its
 * aggregation enclave and sends every participant the enclave's evidence and I/O key with its task.
 * A participant verifies the evidence and applies its own policy (the measurements it allows, the
 * round's nonce, the key bound as report data) before it trains, refuses an enclave its policy does
 * not admit (and says why), and otherwise encrypts its trained weights to the enclave. The
 * coordinator holds the ciphertexts and hands them to the enclave, which returns the next model.
 */

/** A participant's enclave policy: which code it lets see its update, and the platform whose evidence it trusts. */
export interface EnclavePolicy {
  /** Measurements allowed, hex (a simulated enclave's: the SHA-384 of its bundle). */
  allowedMeasurements: readonly string[];
  /** The simulated platform's public key (read when first needed). */
  platformKey: () => KeyObject;
}

/** A participant would not send its update to the round's enclave; the message says which check failed. */
export class EnclaveRefusedError extends CipherNexusError {}

const RefusalSchema = z.object({ code: z.string().regex(/^[A-Z0-9_]{1,64}$/), message: z.string().max(1000) }).strict();

/**
 * Checks a round's enclave before anything is trained or sent: the evidence verifies under the trusted
 * platform key, its measurement is allowed, it carries this round's nonce, and its report data binds
 * the I/O key the task names. Returns that key; throws EnclaveRefusedError naming the failed check.
 */
export function admitEnclave(protection: TeeTaskProtection, round: { jobId: string; roundId: string }, policy: EnclavePolicy | undefined, at: Date): Uint8Array {
  if (!policy || policy.allowedMeasurements.length === 0) {
    throw new EnclaveRefusedError('TEE_POLICY_MISSING', 'this participant allows no enclave measurement, so it sends nothing to an enclave; start it with --tee-allow <measurement> (the coordinator prints its enclave\'s)');
  }
  const publicKey = new Uint8Array(Buffer.from(protection.publicKey, 'base64'));
  const verification = applyPolicy(verifySimulatedEvidence(new Uint8Array(Buffer.from(protection.evidence, 'base64')), { at, platformKey: policy.platformKey() }), {
    allowedMeasurements: policy.allowedMeasurements,
    // A simulated platform has no TCB to report: admitting it at all is this participant's choice of `simulated`.
    acceptedTcb: ['unknown'],
    nonce: Buffer.from(roundNonce(round.jobId, round.roundId)).toString('hex'),
    reportData: ioKeyReportData(publicKey),
  });
  if (!verification.ok) {
    const failed = verification.checks.find((check) => !check.ok);
    throw new EnclaveRefusedError('TEE_ENCLAVE_REFUSED', `refused the ${verification.kind} enclave at check '${verification.failed}': ${failed?.detail ?? 'failed'}`);
  }
  return publicKey;
}

/** A participant's trained weights encrypted to the round's enclave; the plaintext copy is wiped. */
export function encryptUpdate(publicKey: Uint8Array, round: { jobId: string; roundId: string }, participantId: string, weights: Float32Array): Uint8Array {
  const plain = new Uint8Array(weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength));
  try {
    return encryptToEnclave(publicKey, plain, contributionContext(teeRoundContext(round.jobId, round.roundId), participantId));
  } finally {
    plain.fill(0);
  }
}

/** A participant's refusal of the round's enclave, as the body of a `tee`/`refuse` stage message. */
export function refusalBody(error: unknown): Uint8Array {
  const code = error instanceof CipherNexusError ? error.code : 'TEE_ENCLAVE_REFUSED';
  return new Uint8Array(Buffer.from(JSON.stringify({ code, message: ((error as Error).message ?? String(error)).slice(0, 1000) })));
}

/**
 * The coordinator's strategy when an enclave aggregates: the enclave ran the job's rule, so its result
 * is the next model as it is; local-training instructions (FedProx's mu) still come from the job's rule.
 */
export class EnclaveAggregated implements Strategy {
  readonly name: string;

  constructor(private readonly inner: Strategy) {
    this.name = `enclave(${inner.name})`;
  }

  configureFit(round: number): FitInstructions {
    return this.inner.configureFit(round);
  }

  aggregate(_global: Float32Array, updates: readonly ClientUpdate[]): Float32Array {
    return updates[0].weights;
  }
}

/** The coordinator's half of an enclave round: it relays the enclave's evidence and key, keeps ciphertexts, and asks the enclave for the result. */
export class TeeCollection implements RoundCollection {
  readonly kind = 'tee' as const;
  readonly individualUpdatesVisible = false;
  private opened: OpenedRound | null = null;
  private readonly waiter = new Waiter();
  private readonly excused = new Set<string>();
  private bytes = 0;
  private received = 0;

  constructor(
    private readonly ctx: RoundContext,
    private readonly enclave: AggregationEnclave,
    private readonly jobId: string,
  ) {}

  /** Opens the round in the enclave, before any task goes out. */
  async prepare(): Promise<void> {
    this.opened = await this.enclave.openRound({ jobId: this.jobId, roundId: this.ctx.roundId, round: this.ctx.round, global: this.ctx.global });
  }

  taskProtection(): TeeTaskProtection {
    const opened = this.opened;
    if (!opened) throw new UpdateRejectedError('TEE_ROUND_NOT_OPEN', `round ${this.ctx.round} was not opened in the enclave before its tasks`);
    return { kind: 'tee', platform: 'simulated', evidence: Buffer.from(opened.evidence).toString('base64'), publicKey: Buffer.from(opened.publicKey).toString('base64') };
  }

  async submit(participantId: string, update: RemoteUpdate): Promise<SubmitOutcome> {
    if (update.encoding !== 'tee') throw new UpdateRejectedError('UPDATE_ENCODING_UNEXPECTED', `'${participantId}' sent a '${update.encoding}' update to an enclave round; encrypt its weights to the enclave`);
    const numExamples = boundedWeight(participantId, update.numExamples, this.ctx.examples.get(participantId), this.ctx.weightBounds.get(participantId));
    const outcome = await this.ctx.manager.submitProtectedUpdate(this.ctx.roundId, { clientId: participantId, numExamples, payload: update.body, metrics: { seconds: update.seconds }, ...(update.sha256 ? { sha256: update.sha256 } : {}) });
    if (outcome === 'accepted') {
      this.bytes += update.body.byteLength;
      this.received++;
      this.waiter.poke();
    }
    return outcome;
  }

  async receiveStage(participantId: string, message: StageMessage): Promise<void> {
    if (message.protocol !== 'tee' || message.stage !== 'refuse') {
      throw new UpdateRejectedError('STAGE_UNEXPECTED', `'${participantId}' sent a '${message.protocol}/${message.stage}' message to an enclave round; it takes an encrypted update or a refusal`);
    }
    let refusal: z.output<typeof RefusalSchema>;
    try {
      refusal = RefusalSchema.parse(JSON.parse(Buffer.from(message.body).toString('utf8')));
    } catch {
      throw new UpdateRejectedError('STAGE_INVALID', `'${participantId}' sent an unreadable refusal of the enclave`);
    }
    // The participant takes no part in this round: the round does not wait for it.
    this.ctx.onRefused(participantId, refusal.code, `'${participantId}' refused round ${this.ctx.round}'s enclave: ${refusal.message}`);
    this.excuse(participantId);
  }

  excuse(participantId: string): void {
    this.excused.add(participantId);
    this.waiter.poke();
  }

  async finish(signal?: AbortSignal): Promise<CollectedRound> {
    const { manager, roundId, deadline } = this.ctx;
    await this.waiter.until(() => manager.isComplete(roundId, this.excused), deadline, signal);
    const finalized = await manager.finalizeProtectedRound(roundId, (updates) =>
      this.enclave.aggregate({ jobId: this.jobId, roundId, contributions: updates.map((u) => ({ id: u.clientId, numExamples: u.numExamples, envelope: u.payload })) }),
    );
    return { finalized, bytesPerClient: this.received > 0 ? this.bytes / this.received : 0 };
  }
}
