import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { CipherNexusError } from '../../core/errors.js';
import {
  combinePublicKey,
  contributionCheck,
  decryptionShares,
  encryptContribution,
  generateHolderIdentity,
  generateKeyShare,
  generateParticipantIdentity,
  openAggregate,
  sumContributions,
  zeroiseKeyShare,
  type AggregateExpectation,
  type ContributionCheck,
  type HolderIdentity,
  type HolderInfo,
  type KeyShare,
  type MultipartySetup,
  type ParticipantIdentity,
  type ParticipantInfo,
  type PresetName,
} from '../../privacy/he/index.js';
import type { ClientResult } from '../client-training.js';
import type { CkksTaskProtection, RemoteUpdate, StageMessage } from '../participant-channel.js';
import { RoundError, UpdateRejectedError } from '../round-errors.js';
import type { SubmitOutcome } from '../update-admission.js';
import { boundedWeight } from '../weight-bound.js';
import { packParts, packedParts, partText, textPart, unpackParts } from './parts.js';
import type { CollectedRound, RoundCollection, RoundContext } from './round-collection.js';
import { StageTracker } from './stage-tracker.js';

/**
 * Multi-party CKKS as a round mode (Mouchet et al. 2021, on `privacy/he`'s multi-party scheme). Each
 * round, a committee of K participants makes a fresh joint key: nobody holds its secret, and
 * decrypting anything takes all K decryption shares. Every participant encrypts its weighted delta
 * under the joint key; the coordinator only adds ciphertexts. Each holder checks the aggregate
 * before it gives its share (verified mode: it is the sum of the contributions, each MAC-ed for that
 * holder by its participant), combines the K shares itself, checks what it decrypted (one contributor
 * block of at least the minimum, the weights, keyed round tags) and only then releases the weighted
 * mean. A coordinator that relays one participant's ciphertext as "the aggregate" gets nothing.
 */

type CoordinatorStage = 'identities' | 'commitments' | 'publicShares' | 'contribution' | 'decrypt' | 'openShares';
type ParticipantStage = 'identity' | 'commitment' | 'publicShare' | 'decryptionShares' | 'opened';

/** How the coordinator runs CKKS rounds. */
export interface CkksRoundOptions {
  preset: 'n8192' | 'n16384';
  /** Key holders of each round: the first K participants by id (K = `committee`). */
  committee: number;
  /** Registered Ed25519 public keys of the participants (their kits' signing keys): they sign their round keys. */
  identityKeys: ReadonlyMap<string, Uint8Array>;
  stageMs: number;
}

const IDENTITY_DOMAIN = 'cipher-nexus/fl/ckks-round-keys/v1\0';
const KEY_BYTES = 32;

/** The bytes a participant signs to vouch for its round keys (and, as a holder, its committee keys). */
function identityTranscript(roundContext: string, id: string, keys: readonly Uint8Array[]): Buffer {
  const hash = createHash('sha256').update(IDENTITY_DOMAIN).update(`${roundContext}\0${id}\0`);
  for (const key of keys) hash.update(key);
  return hash.digest();
}

function ed25519(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** A participant's signed round keys: its X25519 key, and as a holder its committee's Ed25519 and X25519 keys. */
interface RoundIdentity {
  participant: ParticipantInfo;
  holder?: HolderInfo;
}

/** Checks and reads one participant's `identity` message against its registered signing key. */
function readIdentity(roundContext: string, id: string, body: Uint8Array, holder: boolean, signingKey: Uint8Array | undefined): RoundIdentity {
  const parts = unpackParts(body, `round keys of '${id}'`, { min: holder ? 4 : 2, max: holder ? 4 : 2 });
  const keys = parts.slice(0, -1);
  const signature = parts[parts.length - 1];
  if (keys.some((key) => key.byteLength !== KEY_BYTES)) throw new UpdateRejectedError('CKKS_IDENTITY_INVALID', `the round keys of '${id}' are not 32-byte keys`);
  if (!signingKey || signingKey.byteLength !== KEY_BYTES || !verify(null, identityTranscript(roundContext, id, keys), ed25519(signingKey), signature)) {
    throw new UpdateRejectedError('CKKS_IDENTITY_FORGED', `the round keys of '${id}' are not signed by its registered signing key`);
  }
  return {
    participant: { id, transportPublicKey: keys[0] },
    ...(holder ? { holder: { id, signingPublicKey: keys[1], transportPublicKey: keys[2] } } : {}),
  };
}

/** The round's multi-party setup, the same at the coordinator and every participant; the common random seed comes from the holders' signed keys, not from the coordinator. */
export function roundSetup(jobId: string, roundContext: string, preset: PresetName, holders: readonly HolderInfo[], minContributors: number): MultipartySetup {
  const crs = createHash('sha256').update('cipher-nexus/fl/ckks-crs/v1\0').update(`${jobId}\0${roundContext}\0`);
  for (const holder of [...holders].sort((a, b) => (a.id < b.id ? -1 : 1))) crs.update(holder.id).update(holder.signingPublicKey).update(holder.transportPublicKey);
  return { jobId, preset, crs: new Uint8Array(crs.digest()), holders, minContributors };
}

/** `[id, body]` pairs as parts. */
export function byId(entries: Iterable<[string, Uint8Array]>): Uint8Array {
  return packParts([...entries].flatMap(([id, body]) => [textPart(id), body]));
}

function pairs(body: Uint8Array, what: string): [string, Uint8Array][] {
  const parts = unpackParts(body, what);
  if (parts.length % 2 !== 0) throw new UpdateRejectedError('PROTOCOL_PARTS_MALFORMED', `the ${what} message is malformed: ids and values do not pair up`);
  const out: [string, Uint8Array][] = [];
  for (let i = 0; i < parts.length; i += 2) out.push([partText(parts[i]), parts[i + 1]]);
  return out;
}

/** The coordinator's half of a multi-party CKKS round: it routes the committee's key setup and decryption, and adds ciphertexts. */
export class CkksCollection implements RoundCollection {
  readonly kind = 'ckks' as const;
  readonly individualUpdatesVisible = false;
  private readonly committee: string[];
  private readonly minContributors: number;
  private readonly tracker: StageTracker<ParticipantStage | 'contribution'>;
  private readonly identities = new Map<string, Uint8Array>();
  private readonly answers = new Map<string, Uint8Array>();
  private readonly contributions = new Map<string, Uint8Array>();
  private readonly sent = new Map<string, number>();
  /** The check an arriving contribution takes, made from the round's setup and participants once every identity is in. */
  private admission: ContributionCheck | null = null;

  constructor(
    private readonly ctx: RoundContext,
    private readonly jobId: string,
    private readonly options: CkksRoundOptions,
  ) {
    const participants = [...ctx.participants].sort();
    this.committee = participants.slice(0, Math.min(options.committee, participants.length));
    this.minContributors = Math.min(participants.length, Math.max(2, ctx.quorum));
    this.tracker = new StageTracker<ParticipantStage | 'contribution'>('identity', participants);
  }

  taskProtection(): CkksTaskProtection {
    const identityKeys: Record<string, string> = {};
    for (const id of this.ctx.participants) identityKeys[id] = Buffer.from(this.options.identityKeys.get(id) ?? new Uint8Array(0)).toString('base64');
    // The weights are fixed here, before anything is encrypted: each holder checks the aggregate's weight slot against them.
    const weights = Object.fromEntries(this.ctx.participants.map((id) => [id, this.ctx.weightBounds.get(id) ?? 0]));
    return { kind: 'ckks', preset: this.options.preset, committee: this.committee, minContributors: this.minContributors, weights, identityKeys };
  }

  excuse(participantId: string): void {
    this.tracker.drop(participantId);
  }

  async receiveStage(participantId: string, message: StageMessage): Promise<void> {
    if (!this.tracker.due(participantId, message.stage)) {
      this.ctx.onRefused(participantId, 'CKKS_OUT_OF_ORDER', `a '${message.stage}' message arrived while round ${this.ctx.round} is at stage '${this.tracker.current}'`);
      return;
    }
    if (message.stage === 'identity') {
      try {
        readIdentity(this.ctx.roundId, participantId, message.body, this.committee.includes(participantId), this.options.identityKeys.get(participantId));
      } catch (error) {
        if (!(error instanceof CipherNexusError)) throw error;
        // Refused for what it says, it would be sent the same again: the round stops waiting for this participant now
        // (a key holder's absence then ends the stage, and the round restarts with a new committee).
        this.tracker.drop(participantId);
        this.ctx.onRefused(participantId, error.code, error.message);
        return;
      }
      this.identities.set(participantId, message.body);
    } else {
      this.answers.set(participantId, message.body);
    }
    this.count(participantId, message.body.byteLength);
    this.tracker.answer(participantId);
  }

  async submit(participantId: string, update: RemoteUpdate): Promise<SubmitOutcome> {
    if (update.encoding !== 'ckks') {
      throw new UpdateRejectedError('UPDATE_ENCODING_UNEXPECTED', `'${participantId}' sent a '${update.encoding}' update to a CKKS round; send its ciphertexts`);
    }
    const earlier = this.contributions.get(participantId);
    if (earlier) return Buffer.from(earlier).equals(Buffer.from(update.body)) ? 'duplicate' : Promise.reject(new UpdateRejectedError('UPDATE_DUPLICATE', `'${participantId}' already sent different ciphertexts for round ${this.ctx.round}`));
    if (!this.tracker.due(participantId, 'contribution')) {
      throw new UpdateRejectedError('UPDATE_NOT_REQUESTED', `round ${this.ctx.round} is not collecting ciphertexts from '${participantId}' now`);
    }
    // One malformed contribution is refused alone; left in, it would fail the round's sum for everyone.
    if (this.admission) {
      try {
        this.admission(participantId, update.body, this.ctx.global.length);
      } catch (error) {
        if (!(error instanceof CipherNexusError)) throw error;
        // Its participant would send the same bytes again: the round stops waiting for it instead of running into its deadline.
        this.tracker.drop(participantId);
        throw new UpdateRejectedError(error.code, `the ciphertexts from '${participantId}' were refused: ${error.message}`);
      }
    }
    // The signed claim is checked before the ciphertexts are taken in; the weight inside them is checked, in sum, by every key holder.
    const numExamples = boundedWeight(participantId, update.numExamples, this.ctx.examples.get(participantId), this.ctx.weightBounds.get(participantId));
    const outcome = await this.ctx.manager.submitProtectedUpdate(this.ctx.roundId, { clientId: participantId, numExamples, payload: update.body, metrics: { seconds: update.seconds }, ...(update.sha256 ? { sha256: update.sha256 } : {}) });
    this.contributions.set(participantId, update.body);
    this.count(participantId, update.body.byteLength);
    this.tracker.answer(participantId);
    return outcome;
  }

  async finish(signal?: AbortSignal): Promise<CollectedRound> {
    const { manager, roundId, deadline, channel } = this.ctx;
    const stageDeadline = (): number => Math.min(Date.now() + this.options.stageMs, Math.max(deadline, Date.now()));
    const all = (stage: string): void => {
      const missing = this.committee.filter((id) => !this.tracker.answers.has(id));
      if (missing.length > 0) throw new RoundError('CKKS_COMMITTEE_INCOMPLETE', `round ${this.ctx.round}: key holder(s) ${missing.join(', ')} did not answer the '${stage}' stage in time; a new round starts with a new committee`);
    };
    const send = (ids: Iterable<string>, stage: CoordinatorStage, body: Uint8Array | readonly Uint8Array[]): void => {
      for (const id of ids) channel.sendStage(id, { roundId, protocol: 'ckks', stage, body });
    };

    await this.tracker.wait(stageDeadline(), signal);
    all('identity');
    const participants = [...this.identities.keys()].sort();
    const identities = participants.map((id) => readIdentity(roundId, id, this.identities.get(id) as Uint8Array, this.committee.includes(id), this.options.identityKeys.get(id)));
    const holders = identities.flatMap((i) => (i.holder ? [i.holder] : []));
    const setup = roundSetup(this.jobId, roundId, this.options.preset, holders, this.minContributors);
    this.admission = await contributionCheck(setup, { roundContext: roundId, participants: identities.map((i) => i.participant) });
    send(participants, 'identities', byId(participants.map((id) => [id, this.identities.get(id) as Uint8Array])));

    this.tracker.next('commitment', this.committee);
    await this.tracker.wait(stageDeadline(), signal);
    all('commitment');
    const commitments = byId(this.committee.map((id) => [id, this.answers.get(id) as Uint8Array]));
    send(this.committee, 'commitments', commitments);

    this.tracker.next('publicShare', this.committee);
    await this.tracker.wait(stageDeadline(), signal);
    all('publicShare');
    send(participants, 'publicShares', packParts([commitments, byId(this.committee.map((id) => [id, this.answers.get(id) as Uint8Array]))]));

    // Training happens before the ciphertexts: this stage waits until the round's deadline.
    this.tracker.next('contribution', participants);
    await this.tracker.wait(deadline, signal);
    const finalized = await manager.finalizeProtectedRound(roundId, async (updates) => {
      const contributors = updates.map((u) => u.clientId).sort();
      const aggregate = await sumContributions(setup, contributors.map((id) => this.contributions.get(id) as Uint8Array));
      const claim = JSON.stringify(contributors.map((id) => ({ id, weight: this.ctx.weightBounds.get(id) ?? 0 })));
      // Each holder checks the aggregate is exactly the sum of these, each MAC-ed for it by its participant.
      // Sent from where each arrived: a copy per contribution cost the coordinator a fifth of its CPU (page faults of fresh MBs, then GC).
      for (const id of contributors) send(this.committee, 'contribution', packedParts([textPart(id), this.contributions.get(id) as Uint8Array]));
      send(this.committee, 'decrypt', packParts([aggregate, textPart(claim)]));

      this.tracker.next('decryptionShares', this.committee);
      await this.tracker.wait(stageDeadline(), signal);
      all('decryptionShares');
      const inbox = new Map(this.committee.map((id) => [id, [] as Uint8Array[]]));
      for (const holder of this.committee) {
        for (const [recipient, share] of pairs(this.answers.get(holder) as Uint8Array, `decryption shares of '${holder}'`)) inbox.get(recipient)?.push(share);
      }
      for (const [recipient, shares] of inbox) send([recipient], 'openShares', packParts(shares));

      this.tracker.next('opened', this.committee);
      await this.tracker.wait(stageDeadline(), signal);
      const opened = this.committee.filter((id) => this.tracker.answers.has(id)).map((id) => this.answers.get(id) as Uint8Array);
      if (opened.length === 0) throw new RoundError('CKKS_COMMITTEE_INCOMPLETE', `round ${this.ctx.round}: no key holder released the aggregate (each refuses one it cannot check)`);
      if (opened.some((bytes) => !Buffer.from(bytes).equals(Buffer.from(opened[0])))) throw new RoundError('CKKS_HOLDERS_DISAGREE', `round ${this.ctx.round}: the key holders released different aggregates`);
      if (opened[0].byteLength !== this.ctx.global.length * 4) throw new RoundError('CKKS_HOLDERS_DISAGREE', `round ${this.ctx.round}: a released aggregate has ${opened[0].byteLength} bytes, not ${this.ctx.global.length} float32 values`);
      const mean = new Float32Array(new Uint8Array(opened[0]).buffer);
      const weights = new Float32Array(this.ctx.global.length);
      for (let k = 0; k < weights.length; k++) weights[k] = this.ctx.global[k] + mean[k];
      return weights;
    });
    const bytes = [...this.sent.values()];
    return { finalized, bytesPerClient: bytes.reduce((a, b) => a + b, 0) / Math.max(1, bytes.length) };
  }

  private count(participantId: string, bytes: number): void {
    this.sent.set(participantId, (this.sent.get(participantId) ?? 0) + bytes);
  }
}

/** What a participant answers to a stage: a protocol message, its contribution (an update), or nothing yet. */
export type CkksAnswer = { stage: ParticipantStage; body: Uint8Array } | { stage: 'contribution'; body: Uint8Array } | null;

/**
 * A participant's half of a CKKS round: it signs fresh round keys with its kit's key, checks everyone
 * else's, recomputes the joint public key from the holders' signed shares (never taking the
 * coordinator's word for it), encrypts its weighted delta, and as a key holder takes part in the key
 * setup and in decryption, releasing only an aggregate that passes every check.
 */
export class CkksParticipant {
  private readonly self: { identity: ParticipantIdentity; info: ParticipantInfo };
  private readonly holder: { identity: HolderIdentity; info: HolderInfo } | undefined;
  private setup: MultipartySetup | undefined;
  private participants: ParticipantInfo[] = [];
  private share: KeyShare | undefined;
  private readonly contributions: Uint8Array[] = [];
  private pending: { aggregate: Uint8Array; expectation: AggregateExpectation } | undefined;
  private readonly weight: number;

  constructor(
    private readonly id: string,
    private readonly jobId: string,
    private readonly roundContext: string,
    private readonly protection: CkksTaskProtection,
    private readonly signingKey: KeyObject,
    examples: number,
  ) {
    const weight = protection.weights[id];
    if (weight === undefined || weight > examples) {
      throw new UpdateRejectedError('CKKS_WEIGHT_INVALID', `the round asks '${id}' to weigh its update by ${weight ?? 'nothing'}; it declared ${examples} examples`);
    }
    this.weight = weight;
    this.self = generateParticipantIdentity(id);
    if (protection.committee.includes(id)) this.holder = generateHolderIdentity(id);
  }

  /** The round's first message: this participant's round keys, signed with its kit's key. */
  identity(): Uint8Array {
    const keys = [this.self.info.transportPublicKey, ...(this.holder ? [this.holder.info.signingPublicKey, this.holder.info.transportPublicKey] : [])];
    return packParts([...keys, new Uint8Array(sign(null, identityTranscript(this.roundContext, this.id, keys), this.signingKey))]);
  }

  /** Answers one coordinator stage. */
  async answer(stage: string, body: Uint8Array, trained: () => Promise<{ result: ClientResult; global: Float32Array }>): Promise<CkksAnswer> {
    switch (stage) {
      case 'identities':
        return this.onIdentities(body);
      case 'commitments':
        return { stage: 'publicShare', body: this.requireShare().publicShare };
      case 'publicShares':
        return this.onPublicShares(body, trained);
      case 'contribution':
        this.requireHolder();
        this.contributions.push(...pairs(body, 'contribution').map(([, bytes]) => bytes));
        return null;
      case 'decrypt':
        return this.onDecrypt(body);
      case 'openShares':
        return this.onOpenShares(body);
      default:
        throw new UpdateRejectedError('CKKS_STAGE_UNKNOWN', `'${this.id}' got an unknown CKKS stage '${stage.slice(0, 40)}'`);
    }
  }

  /** Forgets the round's secrets. */
  dispose(): void {
    if (this.share) zeroiseKeyShare(this.share.secret);
  }

  private async onIdentities(body: Uint8Array): Promise<CkksAnswer> {
    const identities = pairs(body, 'round identities').map(([id, bytes]) => {
      const key = this.protection.identityKeys[id];
      return readIdentity(this.roundContext, id, bytes, this.protection.committee.includes(id), key ? new Uint8Array(Buffer.from(key, 'base64')) : undefined);
    });
    const mine = identities.find((i) => i.participant.id === this.id);
    if (!mine || !Buffer.from(mine.participant.transportPublicKey).equals(Buffer.from(this.self.info.transportPublicKey))) {
      throw new UpdateRejectedError('CKKS_IDENTITY_MISSING', `the coordinator's list of round keys does not carry '${this.id}'s own`);
    }
    const holders = identities.flatMap((i) => (i.holder ? [i.holder] : []));
    if (holders.length !== this.protection.committee.length) throw new UpdateRejectedError('CKKS_COMMITTEE_INCOMPLETE', 'not every key holder of the round sent its keys');
    this.participants = identities.map((i) => i.participant);
    this.setup = roundSetup(this.jobId, this.roundContext, this.protection.preset, holders, this.protection.minContributors);
    if (!this.holder) return null;
    this.share = await generateKeyShare(this.setup, this.holder.identity);
    return { stage: 'commitment', body: this.share.commitment };
  }

  private async onPublicShares(body: Uint8Array, trained: () => Promise<{ result: ClientResult; global: Float32Array }>): Promise<CkksAnswer> {
    const setup = this.requireSetup();
    const [commitmentsPart, sharesPart] = unpackParts(body, 'public key shares', { min: 2, max: 2 });
    const publicKey = await combinePublicKey(
      setup,
      pairs(sharesPart, 'public key shares').map(([, share]) => share),
      pairs(commitmentsPart, 'public key share commitments').map(([, commitment]) => commitment),
    );
    const { result, global } = await trained();
    const delta = new Float64Array(global.length);
    for (let k = 0; k < delta.length; k++) delta[k] = result.weights[k] - global[k];
    try {
      const contribution = await encryptContribution(setup, publicKey, { roundContext: this.roundContext, participants: this.participants, self: this.self.identity, weights: delta, weight: this.weight });
      return { stage: 'contribution', body: contribution };
    } finally {
      delta.fill(0);
    }
  }

  private async onDecrypt(body: Uint8Array): Promise<CkksAnswer> {
    const setup = this.requireSetup();
    const [aggregate, claim] = unpackParts(body, 'decryption request', { min: 2, max: 2 });
    const expectation: AggregateExpectation = { roundContext: this.roundContext, participants: this.participants, contributors: JSON.parse(partText(claim)) as AggregateExpectation['contributors'] };
    // The coordinator may not claim other weights than the task fixed before encryption.
    const claimed: unknown = expectation.contributors;
    const inflated = Array.isArray(claimed) ? (claimed as ({ id?: unknown; weight?: unknown } | null)[]).find((c) => c?.weight !== this.protection.weights[String(c?.id)]) : undefined;
    if (inflated !== undefined) {
      throw new UpdateRejectedError('CKKS_WEIGHT_INVALID', `the decryption request claims weight ${String(inflated?.weight)} for '${String(inflated?.id)}'; the round fixed ${this.protection.weights[String(inflated?.id)] ?? 'none'}`);
    }
    // Verified mode always: the aggregate must be the sum of exactly these contributions, each MAC-ed for this holder.
    const contributions = this.contributions.splice(0);
    const shares = await decryptionShares(this.requireShare().secret, setup, aggregate, expectation, { contributions });
    this.pending = { aggregate, expectation };
    return { stage: 'decryptionShares', body: byId(shares.map((s) => [s.recipient, s.share])) };
  }

  private async onOpenShares(body: Uint8Array): Promise<CkksAnswer> {
    const pending = this.pending;
    if (!pending) throw new UpdateRejectedError('CKKS_OUT_OF_ORDER', `'${this.id}' got decryption shares before a decryption request`);
    const opened = await openAggregate(this.requireShare().secret, this.requireSetup(), pending.aggregate, unpackParts(body, 'decryption shares'), pending.expectation);
    this.dispose();
    return { stage: 'opened', body: new Uint8Array(opened.mean.buffer, opened.mean.byteOffset, opened.mean.byteLength) };
  }

  private requireSetup(): MultipartySetup {
    if (!this.setup) throw new UpdateRejectedError('CKKS_OUT_OF_ORDER', `'${this.id}' got a CKKS stage before the round's keys`);
    return this.setup;
  }

  private requireHolder(): HolderIdentity {
    if (!this.holder) throw new UpdateRejectedError('CKKS_NOT_A_HOLDER', `'${this.id}' is not a key holder of this round`);
    return this.holder.identity;
  }

  private requireShare(): KeyShare {
    this.requireHolder();
    if (!this.share) throw new UpdateRejectedError('CKKS_OUT_OF_ORDER', `'${this.id}' has no key share for this round yet`);
    return this.share;
  }
}
