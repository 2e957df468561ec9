import { randomBytes, type KeyObject } from 'node:crypto';
import { SecAggAbortError, SecAggBelowThresholdError, SecAggError, SecAggMessageRejectedError, type SecAggStage } from './errors.js';
import { generateAgreementKeyPair, agree, signTranscript, verifyTranscript, type AgreementKeyPair } from './keys.js';
import { RoundPlan, type RoundConfig } from './config.js';
import { decodeMessage, encodeMessage, maskedInputEnvelope, SHARE_BYTES, type BlameCode } from './messages.js';
import { DEFAULT_CLIENT_POLICY, enforceClientPolicy, type ClientPolicy } from './policy.js';
import { addWords, applyMask, deriveMaskKey } from './prg.js';
import { quantise } from './quantise.js';
import { openShare, sealShare, shareEncryptionKey } from './share-cipher.js';
import { splitSecret } from './shamir.js';
import { transcript, transcriptHash } from './transcript.js';

/** Options of a client's side of one round. */
export interface ClientSecAggOptions {
  /** This client's id, one of `config.participants`. */
  id: string;
  config: RoundConfig;
  /** This client's long-term Ed25519 identity key. */
  identity: KeyObject;
  /** Registered Ed25519 public keys of the participants (learnt out of band), to check partners' messages. */
  identityKeys: ReadonlyMap<string, Uint8Array>;
  /** This client's own minimums (default DEFAULT_CLIENT_POLICY): a config below them is refused before anything is sent. */
  policy?: Partial<ClientPolicy>;
}

/** The signed bytes of a key bundle (Bonawitz et al. 2017 Fig. 4 round 0: σ_u = SIG(d_u, c_u^PK || s_u^PK), here with H(b_u) and the holder seed). */
export function keyBundleTranscript(
  context: Uint8Array,
  id: string,
  encryptionKey: Uint8Array,
  maskKey: Uint8Array,
  commitment: Uint8Array,
  holderSeed: Uint8Array,
): Uint8Array {
  return transcript('advertise-keys', context, id, encryptionKey, maskKey, commitment, holderSeed);
}

/** The signed bytes of a survivor set (Bonawitz et al. 2017 Fig. 4 round 3: σ'_u = SIG(d_u, U3)). */
export function survivorTranscript(context: Uint8Array, survivors: readonly string[]): Uint8Array {
  return transcript('consistency-check', context, ...survivors);
}

/** The signed bytes of a holder's blame of an owner whose share it could not use. */
export function blameTranscript(context: Uint8Array, blamer: string, owner: string, reason: BlameCode): Uint8Array {
  return transcript('blame', context, blamer, owner, String(reason));
}

/** Commitment to the self-mask seed b_u, checked by the server after reconstruction. */
export function selfMaskCommitment(context: Uint8Array, id: string, seed: Uint8Array): Uint8Array {
  return transcriptHash('self-mask-commitment', context, id, seed);
}

/** A client this one shares an edge of the masking graph with. */
interface Partner {
  encryptionKey: Uint8Array;
  maskKey: Uint8Array;
  /** Its own share holders, recomputed from its signed holder seed. */
  holders: string[];
  /** This client chose it: it holds this client's shares. */
  isHolder: boolean;
  /** It chose this client: this client holds its shares. */
  isOwner: boolean;
}

interface HeldShares {
  selfMask: Uint8Array;
  maskKey: Uint8Array;
}

/** 'masking': the mask is computed and waits for the trained input. */
type Phase = SecAggStage | 'masking' | 'done' | 'aborted';

/**
 * One client's side of SecAgg+ (Bell et al. 2020 §3 over Bonawitz et al. 2017 Fig. 4): one method per
 * stage, each taking the server's serialised message and returning the client's. A config below the
 * client's policy is refused in the constructor. Any failed check aborts this client for the round
 * and wipes its secrets; the server then treats it as dropped. A partner's undecryptable share does
 * not abort: the client blames the partner, and the two stop masking with each other.
 */
export class ClientSecAgg {
  readonly id: string;
  private readonly plan: RoundPlan;
  private readonly identity: KeyObject;
  private readonly identityKeys: ReadonlyMap<string, Uint8Array>;
  private phase: Phase = 'advertiseKeys';
  private encryption: AgreementKeyPair | undefined;
  private mask: AgreementKeyPair | undefined;
  private selfMaskSeed: Uint8Array | undefined;
  /** The share holders this client drew (Out(u)). */
  private holders: string[] = [];
  private readonly partners = new Map<string, Partner>();
  private ownShares: HeldShares | undefined;
  /** Shares decrypted in confirmShares, by owner. */
  private readonly received = new Map<string, HeldShares>();
  /** Owners whose share this client could not use, and why. */
  private readonly blamed = new Map<string, BlameCode>();
  /** Holders that signed a blame of this client: they hold none of its shares. */
  private readonly blamedBy = new Set<string>();
  /** Partners the server lists as still in after share confirmation. */
  private live = new Set<string>();
  /** Partners this client masks with: live, and no blame between them. */
  private readonly maskPartners = new Set<string>();
  /** Shares this client reveals in round 4, by owner (itself included): those of its mask partners. */
  private readonly held = new Map<string, HeldShares>();
  private survivors: string[] = [];
  /** Set in round 3 when a surviving holder may still hold its share without masking with it: it then keeps its own share back. */
  private withholdOwnShare = false;
  /** Round 2's envelope holding PRG(b_u) + Σ Δ_uv PRG(s_uv), before the input is added. */
  private pendingMask: { bytes: Uint8Array; vector: Uint32Array } | undefined;

  constructor(options: ClientSecAggOptions) {
    this.plan = new RoundPlan(options.config);
    if (!this.plan.has(options.id)) {
      throw new SecAggError('SECAGG_CONFIG_INVALID', `'${options.id}' is not a participant of round '${options.config.roundId}'`);
    }
    const policy = options.policy ?? {};
    enforceClientPolicy(this.plan.config, {
      gamma: policy.gamma ?? DEFAULT_CLIENT_POLICY.gamma,
      minDegree: policy.minDegree ?? DEFAULT_CLIENT_POLICY.minDegree,
      minSummands: policy.minSummands ?? DEFAULT_CLIENT_POLICY.minSummands,
    });
    this.id = options.id;
    this.identity = options.identity;
    this.identityKeys = options.identityKeys;
  }

  /**
   * Round 0 AdvertiseKeys (Bonawitz et al. 2017 Fig. 4): fresh c_u, s_u key pairs and seed b_u, and a
   * fresh holder seed that picks this client's k share holders (graph.ts); all signed.
   */
  advertiseKeys(): Uint8Array {
    return this.step('advertiseKeys', 'shareKeys', () => {
      this.encryption = generateAgreementKeyPair();
      this.mask = generateAgreementKeyPair();
      this.selfMaskSeed = new Uint8Array(randomBytes(32));
      const holderSeed = new Uint8Array(randomBytes(32));
      this.holders = this.plan.holdersOf(this.id, holderSeed);
      const context = this.plan.context;
      const commitment = selfMaskCommitment(context, this.id, this.selfMaskSeed);
      const signed = keyBundleTranscript(context, this.id, this.encryption.publicKey, this.mask.publicKey, commitment, holderSeed);
      return encodeMessage('advertiseKeys', {
        round: this.plan.round,
        sender: this.id,
        encryptionKey: this.encryption.publicKey,
        maskKey: this.mask.publicKey,
        selfMaskCommitment: commitment,
        holderSeed,
        signature: signTranscript(this.identity, signed),
      });
    });
  }

  /**
   * Round 1 ShareKeys (Bonawitz et al. 2017 Fig. 4; Bell et al. 2020 §3 restricts it to the graph):
   * checks each partner's signed keys and that it is a holder this client chose or chose this
   * client, Shamir-shares b_u and s_u^SK t-of-(k+1) among itself and its live holders and encrypts
   * each holder's pair of shares under HKDF(X25519(c_u^SK, c_v^PK)).
   */
  shareKeys(neighbourKeys: Uint8Array): Uint8Array {
    return this.step('shareKeys', 'confirmShares', () => {
      const message = decodeMessage('neighbourKeys', neighbourKeys);
      this.checkRound(message.round);
      const mine = new Set(this.holders);
      const encryption = this.secret(this.encryption);
      const mask = this.secret(this.mask);
      const seenKeys = new Set([encryption.publicKey, mask.publicKey].map((key) => Buffer.from(key).toString('hex')));
      for (const bundle of message.keys) {
        if (!this.plan.has(bundle.id) || bundle.id === this.id || this.partners.has(bundle.id)) {
          throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `the server sent keys of '${bundle.id}', a stranger, this client, or twice`);
        }
        const identityKey = this.identityKeys.get(bundle.id);
        const signed = keyBundleTranscript(this.plan.context, bundle.id, bundle.encryptionKey, bundle.maskKey, bundle.selfMaskCommitment, bundle.holderSeed);
        if (!identityKey || !verifyTranscript(identityKey, signed, bundle.signature)) {
          throw new SecAggMessageRejectedError('SECAGG_BAD_SIGNATURE', `the keys of '${bundle.id}' are not signed by its registered identity key`, { id: bundle.id });
        }
        const holders = this.plan.holdersOf(bundle.id, bundle.holderSeed);
        const partner: Partner = { encryptionKey: bundle.encryptionKey, maskKey: bundle.maskKey, holders, isHolder: mine.has(bundle.id), isOwner: holders.includes(this.id) };
        if (!partner.isHolder && !partner.isOwner) {
          throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `the server sent keys of '${bundle.id}', which neither chose this client nor was chosen by it`);
        }
        // Bonawitz et al. 2017 Fig. 4 round 1: all advertised public keys must be different.
        for (const key of [bundle.encryptionKey, bundle.maskKey]) {
          const hex = Buffer.from(key).toString('hex');
          if (seenKeys.has(hex)) throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `'${bundle.id}' reuses a public key`);
          seenKeys.add(hex);
        }
        this.partners.set(bundle.id, partner);
      }
      const owners = [...this.partners.values()].filter((p) => p.isOwner).length;
      if (owners > this.plan.maxInDegree) {
        // Honest draws exceed this with probability below 2^-40 (params.ts): colluders are flooding this client.
        throw new SecAggAbortError(
          'SECAGG_FLOODED',
          `${owners} clients chose '${this.id}' as a share holder, more than the ${this.plan.maxInDegree} random draws allow; this client leaves the round`,
          { owners, maxInDegree: this.plan.maxInDegree },
        );
      }
      const live = this.holders.filter((h) => this.partners.has(h));
      this.requireHolders('shareKeys', live.length + 1, 'itself and its holders that advertised keys');
      const points = [this.id, ...live].map((id) => this.plan.pointOf(id));
      const seedShares = splitSecret(this.secret(this.selfMaskSeed), this.plan.threshold, points);
      const keyShares = splitSecret(mask.secretKey, this.plan.threshold, points);
      this.ownShares = { selfMask: seedShares[0].y, maskKey: keyShares[0].y };
      const shares = live.map((receiver, i) => {
        const plaintext = concat(seedShares[i + 1].y, keyShares[i + 1].y);
        const key = shareEncryptionKey(encryption, this.partners.get(receiver)!.encryptionKey, this.plan.context);
        const sealed = sealShare(key, plaintext, this.plan.context, this.id, receiver);
        wipe(plaintext, key, seedShares[i + 1].y, keyShares[i + 1].y);
        return { receiver, ...sealed };
      });
      return encodeMessage('shareKeys', { round: this.plan.round, sender: this.id, shares });
    });
  }

  /**
   * Share confirmation: decrypts the shares it holds for the clients that chose it. A share that does
   * not authenticate (AES-GCM) or has the wrong length does not abort this client: it signs a blame
   * of the owner, keeps nothing of it and will not mask with it, so the server can drop the owner
   * before any input is summed, or keep it if enough of its other holders hold good shares.
   */
  confirmShares(forwardedShares: Uint8Array): Uint8Array {
    return this.step('confirmShares', 'maskedInputCollection', () => {
      const message = decodeMessage('forwardedShares', forwardedShares);
      this.checkRound(message.round);
      const encryption = this.secret(this.encryption);
      for (const sealed of message.shares) {
        const owner = this.partners.get(sealed.sender);
        if (!owner?.isOwner || this.received.has(sealed.sender) || this.blamed.has(sealed.sender)) {
          throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `the server forwarded shares from '${sealed.sender}', which did not choose this client or is listed twice`);
        }
        let plaintext: Uint8Array;
        const key = shareEncryptionKey(encryption, owner.encryptionKey, this.plan.context);
        try {
          plaintext = openShare(key, sealed, this.plan.context, sealed.sender, this.id);
        } catch (error) {
          if (!(error instanceof SecAggMessageRejectedError) || error.code !== 'SECAGG_DECRYPTION_FAILED') throw error;
          this.blamed.set(sealed.sender, 1);
          continue;
        } finally {
          key.fill(0);
        }
        if (plaintext.length !== 2 * SHARE_BYTES) {
          this.blamed.set(sealed.sender, 2);
        } else {
          this.received.set(sealed.sender, { selfMask: plaintext.slice(0, SHARE_BYTES), maskKey: plaintext.slice(SHARE_BYTES) });
        }
        plaintext.fill(0);
      }
      // c_u^SK has done its job (share encryption): wipe it.
      encryption.secretKey.fill(0);
      this.encryption = undefined;
      const blames = [...this.blamed].map(([owner, reason]) => ({
        owner,
        reason,
        signature: signTranscript(this.identity, blameTranscript(this.plan.context, this.id, owner, reason)),
      }));
      return encodeMessage('shareConfirmation', { round: this.plan.round, sender: this.id, blames });
    });
  }

  /**
   * Round 2 MaskedInputCollection (Bonawitz et al. 2017 Fig. 4 and §4 double masking): learns which
   * partners are still in and which holders blamed it (signed), then sends
   * y_u = x_u + PRG(b_u) + Σ_{v ∈ M(u)} Δ_uv PRG(s_uv) in Z_(2^32), where M(u) are the live partners
   * with no blame between them. At least t - 1 of its own holders must be in M(u) (Bonawitz et al.
   * 2017 round 2 asserts |U2| >= t): that is what keeps a coordinator that hides partners from
   * isolating it. A Float32Array input is quantised here (after any client-side DP clipping and
   * noise); a Uint32Array is taken as already quantised.
   */
  maskedInput(confirmedPartners: Uint8Array, input: Float32Array | Uint32Array): Uint8Array {
    this.prepareMask(confirmedPartners);
    return this.maskInput(input);
  }

  /**
   * Round 2's first half: every check of `maskedInput` and the mask itself, which does not depend on
   * the input, so a participant can compute it while it still trains. `maskInput` then adds the input.
   */
  prepareMask(confirmedPartners: Uint8Array): void {
    this.step('maskedInputCollection', 'masking', () => {
      const message = decodeMessage('confirmedPartners', confirmedPartners);
      this.checkRound(message.round);
      this.live = new Set(message.live);
      if (this.live.size !== message.live.length || message.live.some((v) => !this.partners.has(v))) {
        throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', 'the server listed a client that is not a partner of this client, or one twice, as still in');
      }
      for (const { blamer, reason, signature } of message.blames) {
        const identityKey = this.identityKeys.get(blamer);
        if (!this.partners.get(blamer)?.isHolder || this.blamedBy.has(blamer) || !identityKey || !verifyTranscript(identityKey, blameTranscript(this.plan.context, blamer, this.id, reason), signature)) {
          throw new SecAggMessageRejectedError('SECAGG_BAD_SIGNATURE', `the blame of this client by '${blamer}' is not a signed report of one of its holders`, { blamer });
        }
        this.blamedBy.add(blamer);
      }
      for (const [id, partner] of this.partners) {
        if (!this.live.has(id) || this.blamed.has(id) || this.blamedBy.has(id)) continue;
        if (partner.isOwner && !this.received.has(id)) {
          throw new SecAggAbortError('SECAGG_INCONSISTENT_VIEW', `the server lists '${id}' as still in but never forwarded its shares to this client`);
        }
        this.maskPartners.add(id);
      }
      const intact = this.holders.filter((h) => this.maskPartners.has(h)).length;
      this.requireHolders('maskedInputCollection', intact + 1, 'itself and its holders it masks with');
      this.held.set(this.id, this.secret(this.ownShares));
      for (const [owner, shares] of this.received) {
        if (this.maskPartners.has(owner)) this.held.set(owner, shares);
        else wipe(shares.selfMask, shares.maskKey);
      }
      this.received.clear();

      const envelope = maskedInputEnvelope({ round: this.plan.round, sender: this.id, length: this.plan.config.vectorLength });
      const seed = this.secret(this.selfMaskSeed);
      const selfKey = deriveMaskKey(seed, this.plan.context, 'self-mask');
      applyMask(envelope.vector, selfKey, 1);
      wipe(selfKey, seed);
      const mask = this.secret(this.mask);
      for (const v of this.maskPartners) {
        const shared = agree(mask, this.partners.get(v)!.maskKey);
        const pairKey = deriveMaskKey(shared, this.plan.context, 'pairwise-mask');
        applyMask(envelope.vector, pairKey, this.plan.pairSign(this.id, v));
        wipe(shared, pairKey);
      }
      // s_u^SK and b_u now live only as shares and in the mask: wipe them.
      mask.secretKey.fill(0);
      this.mask = undefined;
      this.selfMaskSeed = undefined;
      this.pendingMask = envelope;
    });
  }

  /** Round 2's second half: y_u = x_u + the prepared mask, quantising a Float32Array input first. */
  maskInput(input: Float32Array | Uint32Array): Uint8Array {
    return this.step('masking', 'consistencyCheck', () => {
      if (input.length !== this.plan.config.vectorLength) {
        throw new SecAggError('SECAGG_BAD_INPUT', `the input has ${input.length} values, the round expects ${this.plan.config.vectorLength}`);
      }
      const { bytes, vector } = this.secret(this.pendingMask);
      this.pendingMask = undefined;
      const quantised = input instanceof Uint32Array ? input : quantise(input, this.plan.quantisation);
      addWords(new Int32Array(vector.buffer, vector.byteOffset, vector.length), new Int32Array(quantised.buffer, quantised.byteOffset, quantised.length), vector.length);
      if (quantised !== input) quantised.fill(0);
      return bytes;
    });
  }

  /**
   * Round 3 ConsistencyCheck (Bonawitz et al. 2017 Fig. 4): checks the survivor set U3 and signs it.
   * A partner in U3 that this client does not mask with must have been blamed: one the coordinator
   * said had left but lists as a survivor means the coordinator is lying, and the client aborts. A
   * holder that this client blamed still holds a good share of it without masking with it, so the
   * client keeps its own share back in round 4: then such holders plus colluders must reach t on
   * their own, which 2t > k + 1 + c forbids (params.ts), and a coordinator that withheld the blame
   * from an honest holder gains nothing.
   */
  consistencyCheck(survivors: Uint8Array): Uint8Array {
    return this.step('consistencyCheck', 'unmasking', () => {
      const message = decodeMessage('survivors', survivors);
      this.checkRound(message.round);
      const set = new Set(message.survivors);
      if (set.size !== message.survivors.length || !set.has(this.id) || message.survivors.some((v) => !this.plan.has(v))) {
        throw new SecAggAbortError('SECAGG_INCONSISTENT_VIEW', 'the survivor set repeats a client, names a stranger or leaves out this client; the server is misbehaving');
      }
      for (const v of message.survivors) {
        const partner = this.partners.get(v);
        if (!partner || this.maskPartners.has(v)) continue;
        if (!this.live.has(v)) {
          throw new SecAggAbortError('SECAGG_INCONSISTENT_VIEW', `the server lists '${v}' as a survivor after telling this client it had dropped out`);
        }
        if (partner.isHolder && !this.blamedBy.has(v)) this.withholdOwnShare = true;
      }
      // Signing U3 lets the sum be released: refuse below the floor, which the DP noise calibration relies on.
      if (set.size < this.plan.minSummands) throw new SecAggBelowThresholdError('consistencyCheck', this.plan.minSummands, set.size, 'the survivor set');
      this.survivors = this.plan.inOrder(message.survivors);
      const signature = signTranscript(this.identity, survivorTranscript(this.plan.context, this.survivors));
      return encodeMessage('consistencySignature', { round: this.plan.round, sender: this.id, signature });
    });
  }

  /**
   * Round 4 Unmasking (Bonawitz et al. 2017 Fig. 4). First the consistency check, localised to the
   * SecAgg+ graph: for each owner v of held shares at least t of v's share holders H(v) = {v} ∪ Out(v)
   * must have signed this client's survivor set (a signature shown over another set aborts it). Honest
   * clients sign one set only and 2t > k + 1 + (colluding holders) (params.ts), so no two sets can
   * both gather t signatures in H(v): all honest holders of v agree on whether v survived. Then, for
   * each owner v, it reveals the share of b_v if v survived or of s_v^SK if v dropped — never both —
   * and wipes everything.
   */
  unmask(consistencyProof: Uint8Array): Uint8Array {
    return this.step('unmasking', 'done', () => {
      const message = decodeMessage('consistencyProof', consistencyProof);
      this.checkRound(message.round);
      const survivors = new Set(this.survivors);
      const signed = survivorTranscript(this.plan.context, this.survivors);
      const shown = new Map<string, Uint8Array>();
      for (const { id, signature } of message.signatures) {
        if (shown.has(id)) throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `the consistency proof lists '${id}' twice`);
        shown.set(id, signature);
      }
      // Each owner needs t verified signers among its holders, not every signature shown (with drawn
      // holders the owners' holder sets cover up to all n clients): verify lazily, signers that count
      // for the most owners first.
      const groups = [...this.held.keys()].map((owner) => [owner, ...(owner === this.id ? this.holders : this.partners.get(owner)!.holders)]);
      const weight = new Map<string, number>();
      for (const group of groups) for (const h of group) weight.set(h, (weight.get(h) ?? 0) + 1);
      const verified = new Set<string>();
      for (const group of groups) {
        let present = group.filter((h) => verified.has(h)).length;
        const candidates = group.filter((h) => !verified.has(h) && shown.has(h)).sort((a, b) => weight.get(b)! - weight.get(a)!);
        for (const id of candidates) {
          if (present >= this.plan.threshold) break;
          const identityKey = this.identityKeys.get(id);
          if (!survivors.has(id) || !identityKey || !verifyTranscript(identityKey, signed, shown.get(id)!)) {
            // Bonawitz et al. 2017 §6: a server showing different survivor sets is caught here.
            throw new SecAggAbortError(
              'SECAGG_INCONSISTENT_VIEW',
              `the signature of '${id}' does not cover the survivor set this client was shown; the server showed clients different sets`,
              { id },
            );
          }
          verified.add(id);
          present++;
        }
        if (present < this.plan.threshold) {
          throw new SecAggBelowThresholdError('unmasking', this.plan.threshold, present, `consistency signatures from the share holders of '${group[0]}'`);
        }
      }
      const selfMaskShares = [];
      const keyShares = [];
      for (const [owner, shares] of this.held) {
        if (owner === this.id && this.withholdOwnShare) continue;
        if (survivors.has(owner)) selfMaskShares.push({ owner, share: shares.selfMask });
        else keyShares.push({ owner, share: shares.maskKey });
      }
      const reply = encodeMessage('unmaskShares', { round: this.plan.round, sender: this.id, selfMaskShares, keyShares });
      this.wipeAll();
      return reply;
    });
  }

  /** Whether this client has finished (or aborted) the round. */
  get finished(): boolean {
    return this.phase === 'done' || this.phase === 'aborted';
  }

  private step<T>(expected: Phase, next: Phase, body: () => T): T {
    if (this.phase !== expected) {
      throw new SecAggError('SECAGG_OUT_OF_ORDER', `client '${this.id}' is at stage '${this.phase}', not '${expected}'`);
    }
    try {
      const out = body();
      this.phase = next;
      return out;
    } catch (error) {
      this.phase = 'aborted';
      this.wipeAll();
      throw error;
    }
  }

  private checkRound(round: string): void {
    if (round !== this.plan.round) {
      throw new SecAggMessageRejectedError('SECAGG_WRONG_ROUND', 'the message belongs to another round (replayed or misrouted)');
    }
  }

  private requireHolders(stage: SecAggStage, present: number, what: string): void {
    if (present < this.plan.threshold) throw new SecAggBelowThresholdError(stage, this.plan.threshold, present, `client '${this.id}' (${what})`);
  }

  private secret<T>(value: T | undefined): T {
    if (value === undefined) throw new SecAggError('SECAGG_OUT_OF_ORDER', `client '${this.id}' has no secret for this stage`);
    return value;
  }

  private wipeAll(): void {
    wipe(this.encryption?.secretKey, this.mask?.secretKey, this.selfMaskSeed, this.ownShares?.selfMask, this.ownShares?.maskKey, this.pendingMask?.bytes);
    this.pendingMask = undefined;
    for (const shares of [...this.held.values(), ...this.received.values()]) wipe(shares.selfMask, shares.maskKey);
    this.held.clear();
    this.received.clear();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const buffer of buffers) buffer?.fill(0);
}
