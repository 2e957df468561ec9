import { createHash, type KeyObject } from 'node:crypto';
import { clipL2, defaultGridStep, gridL2Sensitivity, powerOfTwoAtMost, type NoiseSource } from '../../privacy/dp/index.js';
import { ClientSecAgg, SecAggError, SecAggMessageRejectedError, ServerSecAgg, createRoundConfig, parseRoundConfig, type RoundConfig } from '../../privacy/secagg/index.js';
import type { ClientResult } from '../client-training.js';
import type { RemoteUpdate, SecAggTaskProtection, StageMessage } from '../participant-channel.js';
import { noiseSourceFor } from '../privacy-plan.js';
import { UpdateRejectedError } from '../round-errors.js';
import type { SubmitOutcome } from '../update-admission.js';
import { boundedWeight } from '../weight-bound.js';
import type { CollectedRound, RoundCollection, RoundContext } from './round-collection.js';
import { StageTracker } from './stage-tracker.js';

/** Stages the coordinator sends (what the participant does next) and the stages participants answer with. */
type CoordinatorStage = 'shareKeys' | 'confirmShares' | 'maskedInput' | 'consistencyCheck' | 'unmask';
type ParticipantStage = 'advertiseKeys' | 'shareKeys' | 'confirmShares' | 'consistencyCheck' | 'unmask';

/**
 * Refusals of a stage message for its content. The others (late, duplicate, of another round, from a participant no
 * longer in the stage) say nothing about the participant's own answer, which may still come or already has.
 */
const REFUSED_FOR_CONTENT: ReadonlySet<string> = new Set(['SECAGG_BAD_SIGNATURE', 'SECAGG_BAD_MESSAGE']);

/** How the coordinator runs SecAgg+ rounds. */
export interface SecAggRoundOptions {
  /** Quantisation clip: each coordinate of a contribution is clipped to [-clip, clip]. */
  clip: number;
  /** Threat model: the fraction of participants colluding with the coordinator, and the fraction dropping out. */
  gamma: number;
  delta: number;
  /** Client-level DP under secure aggregation: the participants clip and add the noise (see the secagg README). */
  dp?: { clipNorm: number; noiseMultiplier: number; noise: 'secure' | 'seeded-insecure'; gridStep?: number };
  /** Registered Ed25519 public keys of the participants (their kits' signing keys). */
  identityKeys: ReadonlyMap<string, Uint8Array>;
  /** How long a key-exchange, consistency or unmasking stage waits for the participants, ms. */
  stageMs: number;
}

/**
 * The coordinator's half of a SecAgg+ round (Bell et al. 2020 over Bonawitz et al. 2017): it routes
 * the stages' messages between participants and folds their masked vectors, so it learns the sum of
 * the contributions and nothing about any one of them. A stage ends when every participant still in
 * has answered, or when its time is up; who did not answer is a drop-out the protocol recovers from.
 */
export class SecAggCollection implements RoundCollection {
  readonly kind = 'secagg' as const;
  readonly individualUpdatesVisible = false;
  private readonly config: RoundConfig;
  private readonly server: ServerSecAgg;
  private readonly tracker: StageTracker<ParticipantStage | 'maskedInput'>;
  private readonly masked = new Map<string, string>();
  private readonly sent = new Map<string, number>();
  private readonly totalWeight: number;

  constructor(
    private readonly ctx: RoundContext,
    private readonly options: SecAggRoundOptions,
  ) {
    const participants = [...ctx.participants].sort();
    this.config = createRoundConfig({
      participants,
      vectorLength: ctx.global.length,
      clip: options.clip,
      gamma: options.gamma,
      delta: options.delta,
      roundId: ctx.roundId,
      ...(options.dp ? { minSummands: participants.length } : {}),
    });
    this.server = new ServerSecAgg({ config: this.config, identityKeys: options.identityKeys });
    this.tracker = new StageTracker<ParticipantStage | 'maskedInput'>('advertiseKeys', participants);
    // Each participant's weight is fixed here, before anything is masked: afterwards only the sum is seen.
    this.totalWeight = participants.reduce((sum, id) => sum + this.weightOf(id), 0);
  }

  taskProtection(participantId: string): SecAggTaskProtection {
    const identityKeys: Record<string, string> = {};
    for (const id of this.config.participants) identityKeys[id] = Buffer.from(this.options.identityKeys.get(id) as Uint8Array).toString('base64');
    const dp = this.options.dp;
    const weighting: SecAggTaskProtection['weighting'] = dp ? { kind: 'dp', ...dp, minSummands: this.config.minSummands } : { kind: 'examples', weight: this.weightOf(participantId), totalWeight: this.totalWeight };
    return { kind: 'secagg', config: { ...this.config }, identityKeys, weighting };
  }

  excuse(participantId: string): void {
    this.tracker.drop(participantId);
  }

  /** The weight a participant applies before masking: its bound for this round. */
  private weightOf(participantId: string): number {
    return this.ctx.weightBounds.get(participantId) ?? 0;
  }

  async submit(participantId: string, update: RemoteUpdate): Promise<SubmitOutcome> {
    if (update.encoding !== 'secagg') {
      throw new UpdateRejectedError('UPDATE_ENCODING_UNEXPECTED', `'${participantId}' sent a '${update.encoding}' update to a SecAgg+ round; send the masked vector`);
    }
    const digest = update.sha256 ?? createHash('sha256').update(update.body).digest('hex');
    const earlier = this.masked.get(participantId);
    if (earlier !== undefined) {
      if (earlier === digest) return 'duplicate';
      throw new UpdateRejectedError('UPDATE_DUPLICATE', `'${participantId}' already sent a different masked vector for round ${this.ctx.round}`);
    }
    if (!this.tracker.due(participantId, 'maskedInput')) {
      throw new UpdateRejectedError('UPDATE_NOT_REQUESTED', `round ${this.ctx.round} is not collecting a masked vector from '${participantId}' now`);
    }
    // The signed claim is checked before the masked vector is taken in; what was masked cannot be checked (see the README).
    const numExamples = boundedWeight(participantId, update.numExamples, this.ctx.examples.get(participantId), this.ctx.weightBounds.get(participantId));
    let sender: string;
    try {
      sender = this.server.receiveMaskedInput(update.body);
    } catch (error) {
      if (!(error instanceof SecAggError)) throw error;
      // Nothing of it reached the sum, and its participant would send the same bytes again: it counts as a drop-out
      // (its partners' masks are removed at unmasking) instead of holding the round until its deadline.
      this.tracker.drop(participantId);
      throw new UpdateRejectedError(error.code, `the masked vector from '${participantId}' was refused: ${error.message}`);
    }
    if (sender !== participantId) throw new UpdateRejectedError('UPDATE_SENDER_MISMATCH', `'${participantId}' relayed the masked vector of '${sender}'`);
    this.masked.set(participantId, digest);
    const outcome = await this.ctx.manager.submitProtectedUpdate(this.ctx.roundId, { clientId: participantId, numExamples, payload: update.body, metrics: { seconds: update.seconds }, sha256: digest });
    this.count(participantId, update.body.byteLength);
    this.tracker.answer(participantId);
    return outcome;
  }

  async receiveStage(participantId: string, message: StageMessage): Promise<void> {
    if (!this.tracker.due(participantId, message.stage)) {
      this.ctx.onRefused(participantId, 'SECAGG_OUT_OF_ORDER', `a '${message.stage}' message arrived while round ${this.ctx.round} is at stage '${this.tracker.current}'`);
      return;
    }
    let sender: string;
    try {
      sender = this.receive(message.stage as ParticipantStage, message.body);
    } catch (error) {
      if (!(error instanceof SecAggMessageRejectedError)) throw error;
      // Refused for what it says (a forged signature, a malformed body), it would be sent the same again: its participant
      // leaves the stage now, a drop-out the protocol recovers from, instead of holding the stage to its deadline.
      if (REFUSED_FOR_CONTENT.has(error.code)) this.tracker.drop(participantId);
      this.ctx.onRefused(participantId, error.code, error.message);
      return;
    }
    if (sender !== participantId) this.ctx.onRefused(participantId, 'SECAGG_SENDER_MISMATCH', `'${participantId}' relayed a '${message.stage}' message of '${sender}'`);
    this.count(participantId, message.body.byteLength);
    this.tracker.answer(sender);
  }

  async finish(signal?: AbortSignal): Promise<CollectedRound> {
    const { manager, roundId, deadline } = this.ctx;
    const stageDeadline = (): number => Math.min(Date.now() + this.options.stageMs, Math.max(deadline, Date.now()));
    await this.collect(stageDeadline(), signal);
    this.forward('shareKeys', 'shareKeys', this.server.closeAdvertiseKeys());
    await this.collect(stageDeadline(), signal);
    // Holders confirm the shares they could decrypt and blame the ones they could not: a bad dealer is dropped before anyone masks with it.
    this.forward('confirmShares', 'confirmShares', this.server.closeShareKeys());
    await this.collect(stageDeadline(), signal);
    this.forward('maskedInput', 'maskedInput', this.server.closeShareConfirmation());
    // Training happens before the masked vector: this stage waits until the round's deadline.
    await this.collect(deadline, signal);
    const finalized = await manager.finalizeProtectedRound(roundId, async (updates) => {
      this.forward('consistencyCheck', 'consistencyCheck', this.server.closeMaskedInputCollection());
      await this.collect(stageDeadline(), signal);
      this.forward('unmask', 'unmask', this.server.closeConsistencyCheck());
      await this.collect(stageDeadline(), signal);
      const { sum, summands } = this.server.finish();
      // A participant that dropped after masking is not in the sum: rescale to the examples (or participants) that are.
      const counted = this.options.dp
        ? this.config.minSummands / summands.length
        : this.totalWeight / updates.filter((u) => summands.includes(u.clientId)).reduce((s, u) => s + this.weightOf(u.clientId), 0);
      const weights = new Float32Array(this.ctx.global.length);
      for (let k = 0; k < weights.length; k++) weights[k] = this.ctx.global[k] + sum[k] * counted;
      return weights;
    });
    const bytes = [...this.sent.values()];
    return { finalized, bytesPerClient: bytes.reduce((a, b) => a + b, 0) / Math.max(1, bytes.length) };
  }

  private receive(stage: ParticipantStage, body: Uint8Array): string {
    switch (stage) {
      case 'advertiseKeys':
        return this.server.receiveAdvertiseKeys(body);
      case 'shareKeys':
        return this.server.receiveShareKeys(body);
      case 'confirmShares':
        return this.server.receiveShareConfirmation(body);
      case 'consistencyCheck':
        return this.server.receiveConsistencySignature(body);
      case 'unmask':
        return this.server.receiveUnmaskShares(body);
    }
  }

  /** Moves to the next stage (answers of the one before no longer count) and sends each remaining participant its message. */
  private forward(stage: CoordinatorStage, answer: ParticipantStage | 'maskedInput', messages: ReadonlyMap<string, Uint8Array>): void {
    this.tracker.next(answer, messages.keys());
    for (const [id, body] of messages) this.ctx.channel.sendStage(id, { roundId: this.ctx.roundId, protocol: 'secagg', stage, body });
  }

  /** Waits until everyone expected at this stage has answered, or until `until`. */
  private collect(until: number, signal?: AbortSignal): Promise<void> {
    return this.tracker.wait(until, signal);
  }

  private count(participantId: string, bytes: number): void {
    this.sent.set(participantId, (this.sent.get(participantId) ?? 0) + bytes);
  }
}

/**
 * A participant's half of a SecAgg+ round: it advertises its keys as soon as the task arrives (while
 * it trains), answers each stage, computes its mask as soon as it knows its partners, and adds its
 * contribution once training is done. The update is weighted (or clipped and noised for client-level
 * DP) before masking, because nothing can be done to it after.
 */
export class SecAggParticipant {
  private readonly client: ClientSecAgg;

  constructor(
    private readonly id: string,
    private readonly protection: SecAggTaskProtection,
    identity: KeyObject,
    /** The examples this participant declared when it joined: the weight the coordinator assigns may not exceed them. */
    examples: number,
    private readonly seed: number,
  ) {
    const weighting = protection.weighting;
    if (weighting.kind === 'examples' && (weighting.weight > examples || weighting.weight > weighting.totalWeight)) {
      throw new SecAggMessageRejectedError('SECAGG_WEIGHT_INVALID', `the round asks '${id}' to weigh its update by ${weighting.weight} of ${weighting.totalWeight}; it declared ${examples} examples`);
    }
    const identityKeys = new Map(Object.entries(protection.identityKeys).map(([peer, key]) => [peer, new Uint8Array(Buffer.from(key, 'base64'))]));
    this.client = new ClientSecAgg({ id, config: parseRoundConfig(protection.config), identity, identityKeys });
  }

  /** The round's first message: this participant's signed key bundle. */
  advertiseKeys(): Uint8Array {
    return this.client.advertiseKeys();
  }

  /** Answers a coordinator stage: key shares, the masked contribution (once trained), a consistency signature, unmasking shares. */
  async answer(stage: string, body: Uint8Array, trained: () => Promise<{ result: ClientResult; global: Float32Array }>): Promise<{ stage: 'masked'; body: Uint8Array } | { stage: ParticipantStage; body: Uint8Array }> {
    switch (stage) {
      case 'shareKeys':
        return { stage: 'shareKeys', body: this.client.shareKeys(body) };
      case 'confirmShares':
        return { stage: 'confirmShares', body: this.client.confirmShares(body) };
      case 'maskedInput': {
        // The mask does not depend on the update: it is ready before training ends, off the round's critical path.
        this.client.prepareMask(body);
        const { result, global } = await trained();
        const input = this.contribution(result, global);
        try {
          return { stage: 'masked', body: this.client.maskInput(input) };
        } finally {
          input.fill(0);
        }
      }
      case 'consistencyCheck':
        return { stage: 'consistencyCheck', body: this.client.consistencyCheck(body) };
      case 'unmask':
        return { stage: 'unmask', body: this.client.unmask(body) };
      default:
        throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `'${this.id}' got an unknown SecAgg+ stage '${stage.slice(0, 40)}'`);
    }
  }

  private contribution(result: ClientResult, global: Float32Array): Float32Array {
    const delta = new Float64Array(global.length);
    for (let k = 0; k < delta.length; k++) delta[k] = result.weights[k] - global[k];
    const out = new Float32Array(global.length);
    const weighting = this.protection.weighting;
    if (weighting.kind === 'dp') {
      // DP-FedAvg weighs participants equally so one of them moves the sum by at most S (McMahan et al. 2018).
      // Each of the n = minSummands participants adds the discrete Gaussian with variance 1/n of the
      // central noise on the grid, so the sum carries the distributed discrete Gaussian (Kairouz, Liu &
      // Steinke 2021 Thm 1), whose extra term tau <= 10 n exp(-pi^2 sigma_i^2) vanishes for sigma_i >= 10 steps.
      const clipped = clipL2(delta, weighting.clipNorm);
      const noisy = distributedGaussianShare(clipped, weighting, noiseSourceFor(weighting.noise, this.seed));
      for (let k = 0; k < out.length; k++) out[k] = noisy[k] / weighting.minSummands;
      clipped.fill(0);
      noisy.fill(0);
    } else {
      const share = weighting.weight / weighting.totalWeight;
      for (let k = 0; k < out.length; k++) out[k] = delta[k] * share;
    }
    delta.fill(0);
    return out;
  }
}

/** Smallest per-participant sigma, in grid steps, at which the distributed discrete Gaussian's tau term is below 10 n e^-987. */
const MIN_SHARE_SIGMA = 10;

/** One participant's share of the distributed discrete Gaussian: its clipped delta on the grid plus N_Z(0, (z Delta)^2 / n) in grid steps. */
export function distributedGaussianShare(
  clipped: ArrayLike<number>,
  weighting: { clipNorm: number; noiseMultiplier: number; minSummands: number; gridStep?: number },
  noise: NoiseSource,
): Float64Array {
  const d = clipped.length;
  let step = weighting.gridStep === undefined ? defaultGridStep(weighting.clipNorm, d) : powerOfTwoAtMost(weighting.gridStep);
  // A finer grid only adds precision: halve it until each share is wide enough for KLS 2021's bound.
  const shareSigma = (s: number): number => (weighting.noiseMultiplier * gridL2Sensitivity(weighting.clipNorm, s, d)) / Math.sqrt(weighting.minSummands);
  while (shareSigma(step) < MIN_SHARE_SIGMA) step /= 2;
  const draws = noise.discreteGaussian(d, shareSigma(step));
  for (let k = 0; k < d; k++) draws[k] = (Math.round(clipped[k] / step) + draws[k]) * step;
  return draws;
}

