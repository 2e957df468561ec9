import { randomBytes, type KeyObject } from 'node:crypto';
import { SecAggAbortError, SecAggBelowThresholdError, SecAggError, SecAggMessageRejectedError, type SecAggStage } from './errors.js';
import { generateAgreementKeyPair, agree, signTranscript, verifyTranscript, type AgreementKeyPair } from './keys.js';
import { RoundPlan, type RoundConfig } from './config.js';
import { decodeMessage, encodeMessage, maskedInputEnvelope, SHARE_BYTES } from './messages.js';
import { applyMask, deriveMaskKey } from './prg.js';
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
  /** Registered Ed25519 public keys of the participants (learnt out of band), to check neighbours' key bundles. */
  identityKeys: ReadonlyMap<string, Uint8Array>;
}

/** The signed bytes of a key bundle (Bonawitz et al. 2017 Fig. 4 round 0: σ_u = SIG(d_u, c_u^PK || s_u^PK)). */
export function keyBundleTranscript(context: Uint8Array, id: string, encryptionKey: Uint8Array, maskKey: Uint8Array, commitment: Uint8Array): Uint8Array {
  return transcript('advertise-keys', context, id, encryptionKey, maskKey, commitment);
}

/** The signed bytes of a survivor set (Bonawitz et al. 2017 Fig. 4 round 3: σ'_u = SIG(d_u, U3)). */
export function survivorTranscript(context: Uint8Array, survivors: readonly string[]): Uint8Array {
  return transcript('consistency-check', context, ...survivors);
}

/** Commitment to the self-mask seed b_u, checked by the server after reconstruction. */
export function selfMaskCommitment(context: Uint8Array, id: string, seed: Uint8Array): Uint8Array {
  return transcriptHash('self-mask-commitment', context, id, seed);
}

interface Neighbour {
  encryptionKey: Uint8Array;
  maskKey: Uint8Array;
}

interface HeldShares {
  selfMask: Uint8Array;
  maskKey: Uint8Array;
}

type Phase = 'advertiseKeys' | 'shareKeys' | 'maskedInputCollection' | 'consistencyCheck' | 'unmasking' | 'done' | 'aborted';

/**
 * One client's side of SecAgg+ (Bell et al. 2020 §3 over Bonawitz et al. 2017 Fig. 4): one method per
 * round, each taking the server's serialised message and returning the client's. Any failed check
 * aborts this client for the round and wipes its secrets; the server then treats it as dropped.
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
  private neighbours = new Map<string, Neighbour>();
  /** Shares this client holds, by owner (itself included); filled in round 2. */
  private held = new Map<string, HeldShares>();
  private ownShares: HeldShares | undefined;
  private survivors: string[] = [];

  constructor(options: ClientSecAggOptions) {
    this.plan = new RoundPlan(options.config);
    if (!this.plan.has(options.id)) {
      throw new SecAggError('SECAGG_CONFIG_INVALID', `'${options.id}' is not a participant of round '${options.config.roundId}'`);
    }
    this.id = options.id;
    this.identity = options.identity;
    this.identityKeys = options.identityKeys;
  }

  /** Round 0 AdvertiseKeys (Bonawitz et al. 2017 Fig. 4): fresh c_u, s_u key pairs and seed b_u; signed public keys. */
  advertiseKeys(): Uint8Array {
    return this.step('advertiseKeys', 'shareKeys', () => {
      this.encryption = generateAgreementKeyPair();
      this.mask = generateAgreementKeyPair();
      this.selfMaskSeed = new Uint8Array(randomBytes(32));
      const context = this.plan.context;
      const commitment = selfMaskCommitment(context, this.id, this.selfMaskSeed);
      const signature = signTranscript(this.identity, keyBundleTranscript(context, this.id, this.encryption.publicKey, this.mask.publicKey, commitment));
      return encodeMessage('advertiseKeys', {
        round: this.plan.round,
        sender: this.id,
        encryptionKey: this.encryption.publicKey,
        maskKey: this.mask.publicKey,
        selfMaskCommitment: commitment,
        signature,
      });
    });
  }

  /**
   * Round 1 ShareKeys (Bonawitz et al. 2017 Fig. 4; Bell et al. 2020 §3 restricts it to neighbours):
   * checks each neighbour's signed keys, Shamir-shares b_u and s_u^SK t-of-(k+1) and encrypts each
   * neighbour's pair of shares under HKDF(X25519(c_u^SK, c_v^PK)).
   */
  shareKeys(neighbourKeys: Uint8Array): Uint8Array {
    return this.step('shareKeys', 'maskedInputCollection', () => {
      const message = decodeMessage('neighbourKeys', neighbourKeys);
      this.checkRound(message.round);
      const expected = new Set(this.plan.neighbours(this.id));
      const seenKeys = new Set<string>();
      for (const bundle of message.keys) {
        if (!expected.has(bundle.id) || this.neighbours.has(bundle.id)) {
          throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `the server sent keys of '${bundle.id}', who is not a neighbour or is listed twice`);
        }
        const identityKey = this.identityKeys.get(bundle.id);
        const signed = keyBundleTranscript(this.plan.context, bundle.id, bundle.encryptionKey, bundle.maskKey, bundle.selfMaskCommitment);
        if (!identityKey || !verifyTranscript(identityKey, signed, bundle.signature)) {
          throw new SecAggMessageRejectedError('SECAGG_BAD_SIGNATURE', `the keys of '${bundle.id}' are not signed by its registered identity key`, { id: bundle.id });
        }
        // Bonawitz et al. 2017 Fig. 4 round 1: all advertised public keys must be different.
        for (const key of [bundle.encryptionKey, bundle.maskKey]) {
          const hex = Buffer.from(key).toString('hex');
          if (seenKeys.has(hex)) throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `'${bundle.id}' reuses a public key`);
          seenKeys.add(hex);
        }
        this.neighbours.set(bundle.id, { encryptionKey: bundle.encryptionKey, maskKey: bundle.maskKey });
      }
      this.requireHolders('shareKeys', this.neighbours.size + 1);
      const holders = [this.id, ...this.neighbours.keys()];
      const points = holders.map((id) => this.plan.pointOf(id));
      const seedShares = splitSecret(this.secret(this.selfMaskSeed), this.plan.threshold, points);
      const keyShares = splitSecret(this.secret(this.mask).secretKey, this.plan.threshold, points);
      this.ownShares = { selfMask: seedShares[0].y, maskKey: keyShares[0].y };
      const shares = holders.slice(1).map((receiver, i) => {
        const plaintext = concat(seedShares[i + 1].y, keyShares[i + 1].y);
        const key = shareEncryptionKey(this.secret(this.encryption), this.neighbours.get(receiver)!.encryptionKey, this.plan.context);
        const sealed = sealShare(key, plaintext, this.plan.context, this.id, receiver);
        wipe(plaintext, key, seedShares[i + 1].y, keyShares[i + 1].y);
        return { receiver, ...sealed };
      });
      return encodeMessage('shareKeys', { round: this.plan.round, sender: this.id, shares });
    });
  }

  /**
   * Round 2 MaskedInputCollection (Bonawitz et al. 2017 Fig. 4 and §4 double masking): decrypts the
   * shares it was sent, then sends y_u = x_u + PRG(b_u) + Σ_{v ∈ U2 ∩ N(u)} Δ_uv PRG(s_uv) in Z_(2^32).
   * A Float32Array input is quantised here (after any client-side DP clipping and noise); a Uint32Array
   * is taken as already quantised.
   */
  maskedInput(forwardedShares: Uint8Array, input: Float32Array | Uint32Array): Uint8Array {
    return this.step('maskedInputCollection', 'consistencyCheck', () => {
      const message = decodeMessage('forwardedShares', forwardedShares);
      this.checkRound(message.round);
      if (input.length !== this.plan.config.vectorLength) {
        throw new SecAggError('SECAGG_BAD_INPUT', `the input has ${input.length} values, the round expects ${this.plan.config.vectorLength}`);
      }
      const encryption = this.secret(this.encryption);
      for (const sealed of message.shares) {
        const sender = this.neighbours.get(sealed.sender);
        if (!sender || this.held.has(sealed.sender)) {
          throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `the server forwarded shares from '${sealed.sender}', who did not advertise keys to this client or is listed twice`);
        }
        const key = shareEncryptionKey(encryption, sender.encryptionKey, this.plan.context);
        const plaintext = openShare(key, sealed, this.plan.context, sealed.sender, this.id);
        key.fill(0);
        if (plaintext.length !== 2 * SHARE_BYTES) throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `the shares from '${sealed.sender}' have the wrong length`);
        this.held.set(sealed.sender, { selfMask: plaintext.slice(0, SHARE_BYTES), maskKey: plaintext.slice(SHARE_BYTES) });
        plaintext.fill(0);
      }
      this.requireHolders('maskedInputCollection', this.held.size + 1);
      this.held.set(this.id, this.secret(this.ownShares));
      // c_u^SK has done its job (share encryption): wipe it.
      encryption.secretKey.fill(0);
      this.encryption = undefined;

      const { bytes, vector: masked } = maskedInputEnvelope({ round: this.plan.round, sender: this.id, length: input.length });
      if (input instanceof Uint32Array) masked.set(input);
      else quantise(input, this.plan.quantisation, masked);
      const seed = this.secret(this.selfMaskSeed);
      const selfKey = deriveMaskKey(seed, this.plan.context, 'self-mask');
      applyMask(masked, selfKey, 1);
      wipe(selfKey, seed);
      const mask = this.secret(this.mask);
      for (const v of this.held.keys()) {
        if (v === this.id) continue;
        const shared = agree(mask, this.neighbours.get(v)!.maskKey);
        const pairKey = deriveMaskKey(shared, this.plan.context, 'pairwise-mask');
        applyMask(masked, pairKey, this.plan.pairSign(this.id, v));
        wipe(shared, pairKey);
      }
      // s_u^SK and b_u now live only as shares: wipe them.
      mask.secretKey.fill(0);
      this.mask = undefined;
      this.selfMaskSeed = undefined;
      return bytes;
    });
  }

  /** Round 3 ConsistencyCheck (Bonawitz et al. 2017 Fig. 4): checks the survivor set U3 and signs it. */
  consistencyCheck(survivors: Uint8Array): Uint8Array {
    return this.step('consistencyCheck', 'unmasking', () => {
      const message = decodeMessage('survivors', survivors);
      this.checkRound(message.round);
      const set = new Set(message.survivors);
      if (set.size !== message.survivors.length || !set.has(this.id) || message.survivors.some((v) => !this.plan.has(v))) {
        throw new SecAggAbortError('SECAGG_INCONSISTENT_VIEW', 'the survivor set repeats a client, names a stranger or leaves out this client; the server is misbehaving');
      }
      // A neighbour that sent a masked input must have sent this client its shares first.
      for (const v of message.survivors) {
        if (v !== this.id && this.plan.adjacent(this.id, v) && !this.held.has(v)) {
          throw new SecAggAbortError('SECAGG_INCONSISTENT_VIEW', `the server lists '${v}' as a survivor but never forwarded its shares`);
        }
      }
      // Signing U3 lets the sum be released: refuse below the floor, which the DP noise calibration relies on.
      if (set.size < this.plan.minSummands) throw new SecAggBelowThresholdError('consistencyCheck', this.plan.minSummands, set.size, 'the survivor set');
      this.survivors = [...message.survivors].sort((a, b) => this.plan.indexOf(a) - this.plan.indexOf(b));
      const signature = signTranscript(this.identity, survivorTranscript(this.plan.context, this.survivors));
      return encodeMessage('consistencySignature', { round: this.plan.round, sender: this.id, signature });
    });
  }

  /**
   * Round 4 Unmasking (Bonawitz et al. 2017 Fig. 4). First the consistency check, localised to the
   * SecAgg+ graph: every signature shown must cover this client's survivor set, and for each owner v
   * of held shares at least t of v's share holders H(v) must have signed it. Honest clients sign one
   * set only and t > |H(v)| / 2, so no two sets can both gather t signatures in H(v): all honest
   * holders of v agree on whether v survived. Then, for each owner v, it reveals the share of b_v if
   * v survived or of s_v^SK if v dropped — never both — and wipes everything.
   */
  unmask(consistencyProof: Uint8Array): Uint8Array {
    return this.step('unmasking', 'done', () => {
      const message = decodeMessage('consistencyProof', consistencyProof);
      this.checkRound(message.round);
      const survivors = new Set(this.survivors);
      const signed = survivorTranscript(this.plan.context, this.survivors);
      const signers = new Set<string>();
      for (const { id, signature } of message.signatures) {
        const identityKey = this.identityKeys.get(id);
        if (!survivors.has(id) || signers.has(id) || !identityKey || !verifyTranscript(identityKey, signed, signature)) {
          // Bonawitz et al. 2017 §6: a server showing different survivor sets is caught here.
          throw new SecAggAbortError(
            'SECAGG_INCONSISTENT_VIEW',
            `the signature of '${id}' does not cover the survivor set this client was shown; the server showed clients different sets`,
            { id },
          );
        }
        signers.add(id);
      }
      for (const owner of this.held.keys()) {
        const present = this.plan.holders(owner).filter((h) => signers.has(h)).length;
        if (present < this.plan.threshold) {
          throw new SecAggBelowThresholdError('unmasking', this.plan.threshold, present, `consistency signatures from the share holders of '${owner}'`);
        }
      }
      const selfMaskShares = [];
      const keyShares = [];
      for (const [owner, shares] of this.held) {
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

  private step(expected: SecAggStage, next: Phase, body: () => Uint8Array): Uint8Array {
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

  private requireHolders(stage: SecAggStage, present: number): void {
    if (present < this.plan.threshold) throw new SecAggBelowThresholdError(stage, this.plan.threshold, present, `client '${this.id}' (itself and its live neighbours)`);
  }

  private secret<T>(value: T | undefined): T {
    if (value === undefined) throw new SecAggError('SECAGG_OUT_OF_ORDER', `client '${this.id}' has no secret for this stage`);
    return value;
  }

  private wipeAll(): void {
    wipe(this.encryption?.secretKey, this.mask?.secretKey, this.selfMaskSeed, this.ownShares?.selfMask, this.ownShares?.maskKey);
    for (const shares of this.held.values()) wipe(shares.selfMask, shares.maskKey);
    this.held.clear();
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
