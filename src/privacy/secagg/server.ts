import { randomInt } from 'node:crypto';
import { blameTranscript, keyBundleTranscript, selfMaskCommitment, survivorTranscript } from './client.js';
import { RoundPlan, type RoundConfig } from './config.js';
import { SecAggAbortError, SecAggBelowThresholdError, SecAggError, SecAggMessageRejectedError, type SecAggStage } from './errors.js';
import { agree, agreementKeyPair, generateAgreementKeyPair, verifyTranscript, type AgreementKeyPair } from './keys.js';
import {
  BLAME_REASONS,
  decodeMaskedInput,
  decodeMessage,
  encodeConsistencyProof,
  encodeMessage,
  encodeSignatureEntry,
  type BlameCode,
  type Message,
} from './messages.js';
import { addWords, applyMasks, deriveMaskKey } from './prg.js';
import { dequantiseSum } from './quantise.js';
import { combineShares, sharesOffPolynomial, type Share } from './shamir.js';

/** Options of the server's side of one round. */
export interface ServerSecAggOptions {
  config: RoundConfig;
  /** Registered Ed25519 public keys of the participants, learnt out of band (Bonawitz et al. 2017 §3.6). */
  identityKeys: ReadonlyMap<string, Uint8Array>;
}

/** Who was still in at the end of each stage: U1 ⊇ U2 ⊇ confirmed ⊇ U3 ⊇ U4 ⊇ U5 (Bonawitz et al. 2017 Fig. 4, plus share confirmation). */
export interface SurvivorSets {
  advertised: string[];
  shared: string[];
  /** Confirmed their shares and kept at least t - 1 holders with good shares of their own. */
  confirmed: string[];
  masked: string[];
  signed: string[];
  unmasked: string[];
}

/** A client blamed for a bad share, and what the round did about it. */
export interface SecAggBlame {
  id: string;
  /** `confirmShares`: holders reported its shares (signed); `unmasking`: the server found its round-4 share off the polynomial. */
  stage: Extract<SecAggStage, 'confirmShares' | 'unmasking'>;
  reason: (typeof BLAME_REASONS)[BlameCode] | 'bad-unmasking-share';
  /** Holders whose signed reports name it; empty when the server checked the share itself. */
  reportedBy: string[];
  /** Whether its input is left out of the sum (dropped for lack of good holders, or dropped later). */
  inputExcluded: boolean;
  /** What happened, in a sentence. */
  message: string;
}

/** What the server learns: the sum of the masked inputs' clients (U3), nothing per client. */
export interface SecAggResult {
  /** Σ_{u ∈ U3} x_u, dequantised. */
  sum: Float64Array;
  /** The same sum in Z_(2^32), exact. */
  quantisedSum: Uint32Array;
  /** Clients whose inputs the sum holds (U3), in participant order. */
  summands: string[];
  sets: SurvivorSets;
  /** Clients blamed for bad shares, in the order found; empty in a round without misbehaviour. */
  blamed: SecAggBlame[];
}

type KeyBundle = Omit<Message<'advertiseKeys'>, 'round' | 'sender'>;
type Sealed = Message<'forwardedShares'>['shares'][number];
type ShareKind = 'selfMask' | 'maskKey';

const STAGES: SecAggStage[] = ['advertiseKeys', 'shareKeys', 'confirmShares', 'maskedInputCollection', 'consistencyCheck', 'unmasking'];
/** Random t-subsets tried when neither the first t shares nor any leave-one-out of the first t + 1 rebuild a secret. */
const RANDOM_SUBSETS = 64;

/**
 * The server's side of SecAgg+ (Bell et al. 2020 §3 over Bonawitz et al. 2017 Fig. 4). It only ever
 * receives serialised messages (`Uint8Array`): public keys, signatures, encrypted shares, blames,
 * masked vectors — which it folds into one accumulator as they arrive — and, in the last round,
 * exactly one kind of share per client. For each stage: `receive*` takes one client message (a
 * refused message throws SecAggMessageRejectedError and leaves the state unchanged), `close*` ends
 * the stage and returns the next message for each remaining client, or throws SecAggBelowThresholdError.
 */
export class ServerSecAgg {
  private readonly plan: RoundPlan;
  private readonly identityKeys: ReadonlyMap<string, Uint8Array>;
  /** A throwaway X25519 pair: an agreement with it tells a malformed or small-order public key. */
  private readonly probe: AgreementKeyPair = generateAgreementKeyPair();
  private stage = 0;
  private aborted = false;
  private readonly bundles = new Map<string, KeyBundle>();
  /** Out(v): the holders each client drew. */
  private readonly holders = new Map<string, string[]>();
  /** In(v): the advertised clients that drew v. */
  private readonly owners = new Map<string, string[]>();
  /** Out(v) ∪ In(v) in participant order, fixed once round 0 closes. */
  private readonly partners = new Map<string, string[]>();
  private readonly inbox = new Map<string, Message<'shareKeys'>['shares']>();
  private shared = new Set<string>();
  private readonly confirmed = new Set<string>();
  /** blames.get(owner).get(holder): the holder's signed report of the owner's share. */
  private readonly blames = new Map<string, Map<string, { reason: BlameCode; signature: Uint8Array }>>();
  private live = new Set<string>();
  private readonly masked = new Set<string>();
  private accumulator: Uint32Array | undefined;
  private survivors: string[] = [];
  /** The signed bytes of U3, built once for all consistency signatures. */
  private survivorsSigned: Uint8Array = new Uint8Array(0);
  private readonly signatures = new Map<string, Uint8Array>();
  private readonly revealed = new Map<string, Record<ShareKind, Map<string, Uint8Array>>>();
  private readonly badRevealers = new Map<string, string>();

  constructor(options: ServerSecAggOptions) {
    this.plan = new RoundPlan(options.config);
    this.identityKeys = options.identityKeys;
    const missing = this.plan.config.participants.filter((id) => !options.identityKeys.has(id));
    if (missing.length > 0) throw new SecAggError('SECAGG_CONFIG_INVALID', `no registered identity key for ${missing.map((id) => `'${id}'`).join(', ')}`);
  }

  /** The round's public configuration. */
  get config(): RoundConfig {
    return this.plan.config;
  }

  /** Round 0 AdvertiseKeys: accepts a client's signed key bundle and the holders its seed draws; returns the sender's id. */
  receiveAdvertiseKeys(data: Uint8Array): string {
    this.expect(0);
    const message = decodeMessage('advertiseKeys', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.plan.has(id), this.bundles.has(message.sender));
    const { round: _round, sender: _sender, ...bundle } = message;
    const signed = keyBundleTranscript(this.plan.context, sender, bundle.encryptionKey, bundle.maskKey, bundle.selfMaskCommitment, bundle.holderSeed);
    // Bonawitz et al. 2017 §3.6: only the registered identity can advertise keys for a client.
    if (!verifyTranscript(this.identityKeys.get(sender)!, signed, bundle.signature)) {
      throw new SecAggMessageRejectedError('SECAGG_BAD_SIGNATURE', `the key bundle of '${sender}' is not signed by its registered identity key; refused`, { sender });
    }
    // A malformed or small-order key would make its partners' agreements fail: refuse it here, for them.
    for (const key of [bundle.encryptionKey, bundle.maskKey]) agree(this.probe, key).fill(0);
    this.holders.set(sender, this.plan.holdersOf(sender, bundle.holderSeed));
    this.bundles.set(sender, bundle);
    return sender;
  }

  /** Ends round 0: U1 is who advertised; each gets the signed keys of its advertised partners, Out(u) ∪ In(u) (Bell et al. 2020 §3). */
  closeAdvertiseKeys(): Map<string, Uint8Array> {
    this.expect(0);
    const u1 = this.plan.inOrder(this.bundles.keys());
    this.requireCount(0, u1.length, 'the clients that advertised keys');
    for (const owner of u1) {
      for (const holder of this.holders.get(owner)!) {
        if (!this.bundles.has(holder)) continue;
        let list = this.owners.get(holder);
        if (!list) this.owners.set(holder, (list = []));
        list.push(owner);
      }
    }
    for (const u of u1) this.partners.set(u, this.plan.inOrder(new Set([...this.holders.get(u)!, ...(this.owners.get(u) ?? [])])));
    this.stage = 1;
    return new Map(
      u1.map((u) => {
        const keys = this.partnersOf(u)
          .filter((id) => this.bundles.has(id))
          .map((id) => ({ id, ...this.bundles.get(id)! }));
        return [u, encodeMessage('neighbourKeys', { round: this.plan.round, keys })];
      }),
    );
  }

  /** Round 1 ShareKeys: accepts one encrypted share pair for each of the sender's advertised holders; returns the sender. */
  receiveShareKeys(data: Uint8Array): string {
    this.expect(1);
    const message = decodeMessage('shareKeys', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.bundles.has(id), this.inbox.has(message.sender));
    const expected = this.holders.get(sender)!.filter((v) => this.bundles.has(v));
    const receivers = message.shares.map((s) => s.receiver);
    if (receivers.length !== expected.length || new Set(receivers).size !== receivers.length || receivers.some((v) => !expected.includes(v))) {
      throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `'${sender}' must send exactly one share to each of its ${expected.length} advertised holders; refused`, { sender });
    }
    this.inbox.set(sender, message.shares);
    return sender;
  }

  /**
   * Ends round 1: U2 is who shared, less any client fewer than t - 1 of whose holders shared too —
   * its secrets could never be rebuilt. Each member of U2 gets the encrypted shares addressed to it.
   */
  closeShareKeys(): Map<string, Uint8Array> {
    this.expect(1);
    const shared = new Set(this.inbox.keys());
    prune(shared, (u) => this.holders.get(u)!.filter((h) => shared.has(h)).length + 1 >= this.plan.threshold);
    const u2 = this.plan.inOrder(shared);
    this.requireCount(1, u2.length, 'the clients that shared keys (with enough live holders)');
    this.shared = shared;
    this.stage = 2;
    const forwarded = new Map<string, Sealed[]>(u2.map((v) => [v, []]));
    for (const sender of u2) {
      for (const { receiver, nonce, ciphertext } of this.inbox.get(sender)!) forwarded.get(receiver)?.push({ sender, nonce, ciphertext });
    }
    return new Map(u2.map((v) => [v, encodeMessage('forwardedShares', { round: this.plan.round, shares: forwarded.get(v)! })]));
  }

  /** Share confirmation: accepts a holder's signed blames of owners whose shares it could not use; returns the sender. */
  receiveShareConfirmation(data: Uint8Array): string {
    this.expect(2);
    const message = decodeMessage('shareConfirmation', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.shared.has(id), this.confirmed.has(message.sender));
    const owners = new Set<string>();
    for (const { owner, reason, signature } of message.blames) {
      // Only a share the server forwarded to the sender can be blamed, once.
      if (owners.has(owner) || !this.shared.has(owner) || !this.holders.get(owner)!.includes(sender)) {
        throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `'${sender}' blames '${owner}', whose share it was not sent, or twice; refused`, { sender, owner });
      }
      if (!verifyTranscript(this.identityKeys.get(sender)!, blameTranscript(this.plan.context, sender, owner, reason), signature)) {
        throw new SecAggMessageRejectedError('SECAGG_BAD_SIGNATURE', `the blame of '${owner}' by '${sender}' is not signed by '${sender}'; refused`, { sender, owner });
      }
      owners.add(owner);
    }
    for (const { owner, reason, signature } of message.blames) {
      let reports = this.blames.get(owner);
      if (!reports) this.blames.set(owner, (reports = new Map()));
      reports.set(sender, { reason, signature });
    }
    this.confirmed.add(sender);
    return sender;
  }

  /**
   * Ends share confirmation. A client blamed by more of its holders than colluders could be
   * (A(k), params.ts) dealt bad shares and is dropped now, before any input is masked, so its input
   * is left out cleanly and nobody needs its secrets. A client blamed by at most A stays — the blames
   * may be false, from colluding holders — without the blamed edges. The clients still in are then
   * those that confirmed and keep at least t - 1 holders with a good share and no blame either way
   * (pruned to a fixed point, since a dropped client no longer holds anything). Each gets its live
   * partners and the signed blames of it.
   */
  closeShareConfirmation(): Map<string, Uint8Array> {
    this.expect(2);
    const live = new Set([...this.confirmed].filter((u) => (this.blames.get(u)?.size ?? 0) <= this.plan.colludingHolders));
    prune(live, (u) => this.validHolders(u, live).length + 1 >= this.plan.threshold);
    const u2 = this.plan.inOrder(live);
    this.requireCount(2, u2.length, 'the clients that confirmed shares (with enough holders of good shares)');
    this.live = live;
    this.stage = 3;
    this.accumulator = new Uint32Array(this.plan.config.vectorLength);
    return new Map(
      u2.map((u) => {
        const blames = [...(this.blames.get(u) ?? [])].map(([blamer, { reason, signature }]) => ({ blamer, reason, signature }));
        const partners = this.partnersOf(u).filter((v) => live.has(v));
        return [u, encodeMessage('confirmedPartners', { round: this.plan.round, live: partners, blames })];
      }),
    );
  }

  /** Round 2 MaskedInputCollection: folds one masked vector into the running sum (streaming; nothing per client is kept). */
  receiveMaskedInput(data: Uint8Array): string {
    this.expect(3);
    const { header, vector } = decodeMaskedInput(data);
    const sender = this.checkSender(header.round, header.sender, (id) => this.live.has(id), this.masked.has(header.sender));
    if (vector.length !== this.plan.config.vectorLength) {
      throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `the masked input of '${sender}' has ${vector.length} values, the round expects ${this.plan.config.vectorLength}; refused`, { sender });
    }
    const sum = new Int32Array(this.accumulator!.buffer);
    addWords(sum, new Int32Array(vector.buffer, vector.byteOffset, vector.length), sum.length);
    this.masked.add(sender);
    return sender;
  }

  /** Ends round 2: U3 is who sent a masked input; everyone in U3 is shown U3 to sign. */
  closeMaskedInputCollection(): Map<string, Uint8Array> {
    this.expect(3);
    this.survivors = this.plan.inOrder(this.masked);
    this.requireCount(3, this.survivors.length, 'the clients that sent masked inputs', this.plan.minSummands);
    this.requireHolders(3, this.neededSecrets(), this.masked);
    this.survivorsSigned = survivorTranscript(this.plan.context, this.survivors);
    this.stage = 4;
    const message = encodeMessage('survivors', { round: this.plan.round, survivors: this.survivors });
    return new Map(this.survivors.map((u) => [u, message]));
  }

  /** Round 3 ConsistencyCheck: accepts a client's signature of U3. */
  receiveConsistencySignature(data: Uint8Array): string {
    this.expect(4);
    const message = decodeMessage('consistencySignature', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.masked.has(id), this.signatures.has(message.sender));
    if (!verifyTranscript(this.identityKeys.get(sender)!, this.survivorsSigned, message.signature)) {
      throw new SecAggMessageRejectedError('SECAGG_BAD_SIGNATURE', `the consistency signature of '${sender}' does not verify over the survivor set; refused`, { sender });
    }
    this.signatures.set(sender, message.signature);
    return sender;
  }

  /**
   * Ends round 3: U4 is who signed. Each client gets the signatures of the holders H(o) of every
   * owner o whose shares it reveals (itself included), to check that they all saw the same U3:
   * O(k²) signatures, all of U4 once k² reaches n.
   */
  closeConsistencyCheck(): Map<string, Uint8Array> {
    this.expect(4);
    const u4 = this.plan.inOrder(this.signatures.keys());
    this.requireCount(4, u4.length, 'the clients that signed the survivor set');
    this.requireHolders(4, this.neededSecrets(), new Set(u4));
    this.stage = 5;
    // Each signature goes to many clients: lay out its entry once (by participant index), and the whole proof once when a client needs all of them.
    const participants = this.plan.config.participants;
    const entries: (Uint8Array | undefined)[] = participants.map((id) => (this.signatures.has(id) ? encodeSignatureEntry(id, this.signatures.get(id)!) : undefined));
    const relevant = new Uint8Array(participants.length);
    let everyone: Uint8Array | undefined;
    return new Map(
      u4.map((u) => {
        relevant.fill(0);
        let count = 0;
        for (const o of [u, ...this.revealOwners(u)]) {
          for (const id of [o, ...this.holders.get(o)!]) {
            const i = this.plan.indexOf(id);
            if (entries[i] && !relevant[i]) {
              relevant[i] = 1;
              count++;
            }
          }
        }
        if (count === u4.length) return [u, (everyone ??= encodeConsistencyProof(this.plan.round, entries.filter((e): e is Uint8Array => e !== undefined)))];
        return [u, encodeConsistencyProof(this.plan.round, entries.filter((e, i): e is Uint8Array => relevant[i] === 1))];
      }),
    );
  }

  /** Round 4 Unmasking: accepts a client's shares — of b_v for owners v in U3, of s_v^SK for the others it holds. */
  receiveUnmaskShares(data: Uint8Array): string {
    this.expect(5);
    const message = decodeMessage('unmaskShares', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.signatures.has(id), this.revealed.has(message.sender));
    const owners = [sender, ...this.revealOwners(sender)];
    const expectSelf = owners.filter((v) => this.masked.has(v));
    const expectKey = owners.filter((v) => !this.masked.has(v));
    const selfMask = new Map(message.selfMaskShares.map((s) => [s.owner, s.share]));
    const maskKey = new Map(message.keyShares.map((s) => [s.owner, s.share]));
    // A client may keep its own share back (a holder it blamed still holds one; see ClientSecAgg.consistencyCheck).
    const own = selfMask.has(sender) ? expectSelf : expectSelf.filter((v) => v !== sender);
    // Bonawitz et al. 2017 §4: one kind of share per owner, as fixed by U3 — never both for one client.
    if (!sameSet(selfMask, own, message.selfMaskShares.length) || !sameSet(maskKey, expectKey, message.keyShares.length)) {
      throw new SecAggMessageRejectedError(
        'SECAGG_BAD_MESSAGE',
        `'${sender}' must reveal b-shares of exactly its surviving owners and key shares of exactly its dropped ones; refused`,
        { sender },
      );
    }
    this.revealed.set(sender, { selfMask, maskKey });
    return sender;
  }

  /**
   * Ends round 4 and unmasks (Bonawitz et al. 2017 Fig. 4 round 4, server side): rebuilds b_v for v in
   * U3 and subtracts PRG(b_v); rebuilds s_v^SK for dropped v and removes the pairwise masks its
   * surviving partners added; dequantises the sum. Each secret is checked against its commitment
   * (b_v) or public key (s_v^SK); a share off the polynomial is blamed and its sender's shares set
   * aside, as if it had dropped out of round 4.
   */
  finish(): SecAggResult {
    this.expect(5);
    const u5 = this.plan.inOrder(this.revealed.keys());
    this.requireCount(5, u5.length, 'the clients that sent unmasking shares');
    const alive = new Set(u5);
    const needed = this.neededSecrets();
    this.requireHolders(5, needed, alive);
    const sum = this.accumulator!;
    // Rebuild and check every secret before the sum is touched, then remove all the masks.
    const masks: { key: Uint8Array; sign: 1 | -1 }[] = [];
    try {
      for (const v of needed) {
        if (this.masked.has(v)) {
          const seed = this.rebuild(v, 'selfMask', alive);
          masks.push({ key: deriveMaskKey(seed, this.plan.context, 'self-mask'), sign: -1 });
          seed.fill(0);
        } else {
          const secretKey = this.rebuild(v, 'maskKey', alive);
          const pair = agreementKeyPair(secretKey);
          for (const u of this.partnersOf(v)) {
            if (!this.masked.has(u) || !this.intact(u, v)) continue;
            const shared = agree(pair, this.bundles.get(u)!.maskKey);
            // u added Δ_uv PRG(s_uv); remove it.
            masks.push({ key: deriveMaskKey(shared, this.plan.context, 'pairwise-mask'), sign: this.plan.pairSign(u, v) === 1 ? -1 : 1 });
            shared.fill(0);
          }
          secretKey.fill(0);
        }
      }
      applyMasks(sum, masks);
    } finally {
      for (const { key } of masks) key.fill(0);
    }
    this.stage = 6;
    const summands = this.survivors;
    return {
      sum: dequantiseSum(sum, summands.length, this.plan.quantisation),
      quantisedSum: sum,
      summands,
      sets: {
        advertised: this.plan.inOrder(this.bundles.keys()),
        shared: this.plan.inOrder(this.shared),
        confirmed: this.plan.inOrder(this.live),
        masked: summands,
        signed: this.plan.inOrder(this.signatures.keys()),
        unmasked: u5,
      },
      blamed: this.blameReport(new Set(summands)),
    };
  }

  /** Out(u) ∪ In(u), in participant order (u advertised). */
  private partnersOf(u: string): string[] {
    return this.partners.get(u)!;
  }

  /** Whether either of u and w blamed the other's share. */
  private broken(u: string, w: string): boolean {
    return Boolean(this.blames.get(u)?.has(w) || this.blames.get(w)?.has(u));
  }

  /** Whether u and w mask with each other: both still in after share confirmation, and no blame between them. */
  private intact(u: string, w: string): boolean {
    return this.live.has(u) && this.live.has(w) && !this.broken(u, w);
  }

  /** u's holders in `alive` that hold a good share of u and mask with it. */
  private validHolders(u: string, alive: ReadonlySet<string>): string[] {
    return this.holders.get(u)!.filter((h) => alive.has(h) && !this.broken(u, h));
  }

  /** The owners whose shares `h` reveals in round 4, besides its own: those that chose it and mask with it. */
  private revealOwners(h: string): string[] {
    return (this.owners.get(h) ?? []).filter((o) => this.intact(h, o));
  }

  /** Clients whose secret must be rebuilt: b_v for v in U3, s_v^SK for still-in v outside U3 that a member of U3 masked with. */
  private neededSecrets(): string[] {
    return this.plan.inOrder(this.live).filter((v) => this.masked.has(v) || this.partnersOf(v).some((u) => this.masked.has(u) && this.intact(u, v)));
  }

  /**
   * Rebuilds one secret from the shares of its owner's good holders in `alive`, checked against the
   * owner's commitment or public key: from the first t shares; failing that, from each t of the
   * first t + 1 leaving one out (which always finds a single bad share), then from random t-subsets.
   * The shares off the polynomial of the subset that works are blamed, and their senders' other
   * shares are not used again.
   */
  private rebuild(owner: string, kind: ShareKind, alive: ReadonlySet<string>): Uint8Array {
    const t = this.plan.threshold;
    const candidates: { holder: string; share: Share }[] = [];
    for (const holder of [owner, ...this.validHolders(owner, alive)]) {
      const y = alive.has(holder) && !this.badRevealers.has(holder) ? this.revealed.get(holder)?.[kind].get(owner) : undefined;
      if (y) candidates.push({ holder, share: { x: this.plan.pointOf(holder), y } });
    }
    const what = kind === 'selfMask' ? 'self-mask seed' : 'mask key';
    if (candidates.length < t) this.abort(new SecAggBelowThresholdError('unmasking', t, candidates.length, `rebuilding the ${what} of '${owner}' (good shares)`));
    const bundle = this.bundles.get(owner)!;
    const matches = (secret: Uint8Array): boolean =>
      kind === 'selfMask'
        ? Buffer.from(selfMaskCommitment(this.plan.context, owner, secret)).equals(bundle.selfMaskCommitment)
        : Buffer.from(agreementKeyPair(secret).publicKey).equals(bundle.maskKey);
    for (const subset of subsetsToTry(candidates.length, t)) {
      const chosen = subset.map((i) => candidates[i].share);
      let secret: Uint8Array;
      try {
        secret = combineShares(chosen, t);
      } catch (error) {
        if (error instanceof SecAggError) continue;
        throw error;
      }
      if (!matches(secret)) {
        secret.fill(0);
        continue;
      }
      const inSubset = new Set(subset);
      const rest = candidates.filter((_, i) => !inSubset.has(i));
      for (const i of sharesOffPolynomial(chosen, rest.map((c) => c.share))) {
        this.badRevealers.set(rest[i].holder, `its share of the ${what} of '${owner}' is not on the polynomial of the others' shares, which rebuild the committed secret`);
      }
      return secret;
    }
    return this.fail(
      'SECAGG_RECONSTRUCTION_FAILED',
      `no ${t} of the ${candidates.length} shares of the ${what} of '${owner}' rebuild its ${kind === 'selfMask' ? 'commitment' : 'public key'}: ` +
        `'${owner}' dealt inconsistent shares or too many of its holders sent corrupt ones`,
    );
  }

  private blameReport(summands: ReadonlySet<string>): SecAggBlame[] {
    const out: SecAggBlame[] = [];
    for (const owner of this.plan.inOrder(this.blames.keys())) {
      const reports = this.blames.get(owner)!;
      for (const code of [1, 2] as const) {
        const reportedBy = this.plan.inOrder([...reports].filter(([, r]) => r.reason === code).map(([holder]) => holder));
        if (reportedBy.length === 0) continue;
        const dropped = !this.live.has(owner);
        out.push({
          id: owner,
          stage: 'confirmShares',
          reason: BLAME_REASONS[code],
          reportedBy,
          inputExcluded: !summands.has(owner),
          message: !dropped
            ? `'${owner}' and ${reportedBy.map((h) => `'${h}'`).join(', ')} do not mask with each other; '${owner}' kept enough holders with good shares`
            : reports.size > this.plan.colludingHolders
              ? `${reports.size} holders blamed '${owner}', more than the ${this.plan.colludingHolders} colluders a client may have among its holders: it was dropped before masking and its input is not in the sum`
              : !this.confirmed.has(owner)
                ? `'${owner}' dropped out before confirming shares; its input is not in the sum`
                : `'${owner}' kept fewer than ${this.plan.threshold - 1} holders with good shares and was dropped before masking; its input is not in the sum`,
        });
      }
    }
    for (const [holder, message] of this.badRevealers) {
      out.push({ id: holder, stage: 'unmasking', reason: 'bad-unmasking-share', reportedBy: [], inputExcluded: !summands.has(holder), message: `'${holder}' was set aside in unmasking: ${message}` });
    }
    return out;
  }

  /** Aborts when some needed secret has fewer than t good holders (itself and its holders) in `alive`. */
  private requireHolders(stage: number, owners: readonly string[], alive: ReadonlySet<string>): void {
    for (const v of owners) {
      const present = (alive.has(v) ? 1 : 0) + this.validHolders(v, alive).length;
      if (present < this.plan.threshold) {
        this.abort(new SecAggBelowThresholdError(STAGES[stage], this.plan.threshold, present, `rebuilding the secrets of '${v}' (share holders)`));
      }
    }
  }

  private requireCount(stage: number, present: number, what: string, needed = this.plan.threshold): void {
    if (present < needed) this.abort(new SecAggBelowThresholdError(STAGES[stage], needed, present, what));
  }

  private checkSender(round: string, sender: string, allowed: (id: string) => boolean, duplicate: boolean): string {
    if (round !== this.plan.round) {
      throw new SecAggMessageRejectedError('SECAGG_WRONG_ROUND', `the message from '${sender}' belongs to another round (replayed or misrouted); refused`, { sender });
    }
    if (!allowed(sender)) {
      throw new SecAggMessageRejectedError('SECAGG_UNEXPECTED_SENDER', `'${sender}' is not a live participant of stage '${STAGES[this.stage]}'; refused`, { sender });
    }
    if (duplicate) throw new SecAggMessageRejectedError('SECAGG_DUPLICATE', `'${sender}' already sent its '${STAGES[this.stage]}' message; the copy is refused`, { sender });
    return sender;
  }

  private expect(stage: number): void {
    if (this.aborted) throw new SecAggAbortError('SECAGG_ABORTED', 'this round was aborted; start a new one');
    if (this.stage !== stage) {
      throw new SecAggMessageRejectedError(
        'SECAGG_OUT_OF_ORDER',
        `the server is ${this.stage < STAGES.length ? `at stage '${STAGES[this.stage]}'` : 'done'}, not at '${STAGES[stage]}'; the message is late or early`,
      );
    }
  }

  private fail(code: string, message: string): never {
    this.abort(new SecAggAbortError(code, message));
  }

  private abort(error: SecAggAbortError): never {
    this.aborted = true;
    this.accumulator?.fill(0);
    for (const { selfMask, maskKey } of this.revealed.values()) for (const share of [...selfMask.values(), ...maskKey.values()]) share.fill(0);
    throw error;
  }
}

/** Removes members failing `keep` until every remaining one passes (removals can make others fail). */
function prune(set: Set<string>, keep: (id: string) => boolean): void {
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of set) {
      if (!keep(id)) {
        set.delete(id);
        changed = true;
      }
    }
  }
}

/** Index subsets of size t of 0..m-1 to try, in order: the first t, each leave-one-out of the first t + 1, then random ones. */
function* subsetsToTry(m: number, t: number): Generator<number[]> {
  const first = Array.from({ length: Math.min(m, t + 1) }, (_, i) => i);
  yield first.slice(0, t);
  if (m === t) return;
  for (let skip = t - 1; skip >= 0; skip--) yield first.filter((i) => i !== skip);
  for (let tries = 0; tries < RANDOM_SUBSETS; tries++) {
    const pool = Array.from({ length: m }, (_, i) => i);
    for (let i = 0; i < t; i++) {
      const j = i + randomInt(m - i);
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    yield pool.slice(0, t).sort((a, b) => a - b);
  }
}

function sameSet(got: ReadonlyMap<string, unknown>, expected: readonly string[], listed: number): boolean {
  return listed === expected.length && got.size === expected.length && expected.every((v) => got.has(v));
}
