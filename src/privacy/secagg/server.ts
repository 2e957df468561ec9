import { keyBundleTranscript, selfMaskCommitment, survivorTranscript } from './client.js';
import { RoundPlan, type RoundConfig } from './config.js';
import { SecAggAbortError, SecAggBelowThresholdError, SecAggError, SecAggMessageRejectedError, type SecAggStage } from './errors.js';
import { agree, agreementKeyPair, verifyTranscript } from './keys.js';
import { decodeMaskedInput, decodeMessage, encodeConsistencyProof, encodeMessage, encodeSignatureEntry, type Message } from './messages.js';
import { addWords, applyMasks, deriveMaskKey } from './prg.js';
import { dequantiseSum } from './quantise.js';
import { combineShares, type Share } from './shamir.js';

/** Options of the server's side of one round. */
export interface ServerSecAggOptions {
  config: RoundConfig;
  /** Registered Ed25519 public keys of the participants, learnt out of band (Bonawitz et al. 2017 §3.6). */
  identityKeys: ReadonlyMap<string, Uint8Array>;
}

/** Who was still in at the end of each stage: U1 ⊇ U2 ⊇ U3 ⊇ U4 ⊇ U5 of Bonawitz et al. 2017 Fig. 4. */
export interface SurvivorSets {
  advertised: string[];
  shared: string[];
  masked: string[];
  signed: string[];
  unmasked: string[];
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
}

type KeyBundle = Omit<Message<'advertiseKeys'>, 'round' | 'sender'>;
type Sealed = Message<'forwardedShares'>['shares'][number];

const STAGES: SecAggStage[] = ['advertiseKeys', 'shareKeys', 'maskedInputCollection', 'consistencyCheck', 'unmasking'];

/**
 * The server's side of SecAgg+ (Bell et al. 2020 §3 over Bonawitz et al. 2017 Fig. 4). It only ever
 * receives serialised messages (`Uint8Array`): public keys, signatures, encrypted shares, masked
 * vectors — which it folds into one accumulator as they arrive — and, in the last round, exactly one
 * kind of share per client. For each stage: `receive*` takes one client message (a refused message
 * throws SecAggMessageRejectedError and leaves the state unchanged), `close*` ends the stage and
 * returns the next message for each remaining client, or throws SecAggBelowThresholdError.
 */
export class ServerSecAgg {
  private readonly plan: RoundPlan;
  private readonly identityKeys: ReadonlyMap<string, Uint8Array>;
  private stage = 0;
  private aborted = false;
  private readonly bundles = new Map<string, KeyBundle>();
  private readonly inbox = new Map<string, Message<'shareKeys'>['shares']>();
  private shared = new Set<string>();
  private readonly masked = new Set<string>();
  private accumulator: Uint32Array | undefined;
  private survivors: string[] = [];
  /** The signed bytes of U3, built once for all consistency signatures. */
  private survivorsSigned: Uint8Array = new Uint8Array(0);
  private readonly signatures = new Map<string, Uint8Array>();
  private readonly revealed = new Map<string, { selfMask: Map<string, Uint8Array>; maskKey: Map<string, Uint8Array> }>();

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

  /** Round 0 AdvertiseKeys: accepts a client's signed key bundle; returns the sender's id. */
  receiveAdvertiseKeys(data: Uint8Array): string {
    this.expect(0);
    const message = decodeMessage('advertiseKeys', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.plan.has(id), this.bundles.has(message.sender));
    const identityKey = this.identityKeys.get(sender)!;
    const signed = keyBundleTranscript(this.plan.context, sender, message.encryptionKey, message.maskKey, message.selfMaskCommitment);
    // Bonawitz et al. 2017 §3.6: only the registered identity can advertise keys for a client.
    if (!verifyTranscript(identityKey, signed, message.signature)) {
      throw new SecAggMessageRejectedError('SECAGG_BAD_SIGNATURE', `the key bundle of '${sender}' is not signed by its registered identity key; refused`, { sender });
    }
    const { round: _round, sender: _sender, ...bundle } = message;
    this.bundles.set(sender, bundle);
    return sender;
  }

  /** Ends round 0: U1 is who advertised; each gets its live neighbours' signed keys (Bell et al. 2020 §3). */
  closeAdvertiseKeys(): Map<string, Uint8Array> {
    this.expect(0);
    const u1 = this.inOrder(this.bundles.keys());
    this.requireCount(0, u1.length, 'the clients that advertised keys');
    this.stage = 1;
    return new Map(
      u1.map((u) => {
        const keys = this.plan.neighbours(u).flatMap((id) => {
          const bundle = this.bundles.get(id);
          return bundle ? [{ id, ...bundle }] : [];
        });
        return [u, encodeMessage('neighbourKeys', { round: this.plan.round, keys })];
      }),
    );
  }

  /** Round 1 ShareKeys: accepts one encrypted share pair for each of the sender's live neighbours; returns the sender. */
  receiveShareKeys(data: Uint8Array): string {
    this.expect(1);
    const message = decodeMessage('shareKeys', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.bundles.has(id), this.inbox.has(message.sender));
    const expected = this.plan.neighbours(sender).filter((v) => this.bundles.has(v));
    const receivers = message.shares.map((s) => s.receiver);
    if (receivers.length !== expected.length || new Set(receivers).size !== receivers.length || receivers.some((v) => !expected.includes(v))) {
      throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `'${sender}' must send exactly one share to each of its ${expected.length} live neighbours; refused`, { sender });
    }
    this.inbox.set(sender, message.shares);
    return sender;
  }

  /**
   * Ends round 1: U2 is who shared, less any client fewer than t of whose share holders shared too —
   * its secrets could never be rebuilt, so it is treated as dropped now, before anyone masks with it.
   * Each member of U2 gets the encrypted shares addressed to it from the other members.
   */
  closeShareKeys(): Map<string, Uint8Array> {
    this.expect(1);
    const shared = new Set(this.inbox.keys());
    for (let changed = true; changed; ) {
      changed = false;
      for (const u of shared) {
        if (this.holders(u, shared) < this.plan.threshold) {
          shared.delete(u);
          changed = true;
        }
      }
    }
    const u2 = this.inOrder(shared);
    this.requireCount(1, u2.length, 'the clients that shared keys (with enough live share holders)');
    this.shared = shared;
    this.stage = 2;
    this.accumulator = new Uint32Array(this.plan.config.vectorLength);
    const forwarded = new Map<string, Sealed[]>(u2.map((v) => [v, []]));
    for (const sender of u2) {
      for (const { receiver, nonce, ciphertext } of this.inbox.get(sender)!) forwarded.get(receiver)?.push({ sender, nonce, ciphertext });
    }
    return new Map(u2.map((v) => [v, encodeMessage('forwardedShares', { round: this.plan.round, shares: forwarded.get(v)! })]));
  }

  /** Round 2 MaskedInputCollection: folds one masked vector into the running sum (streaming; nothing per client is kept). */
  receiveMaskedInput(data: Uint8Array): string {
    this.expect(2);
    const { header, vector } = decodeMaskedInput(data);
    const sender = this.checkSender(header.round, header.sender, (id) => this.shared.has(id), this.masked.has(header.sender));
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
    this.expect(2);
    this.survivors = this.inOrder(this.masked);
    this.requireCount(2, this.survivors.length, 'the clients that sent masked inputs', this.plan.minSummands);
    this.requireHolders(2, this.neededSecrets(), this.masked);
    this.survivorsSigned = survivorTranscript(this.plan.context, this.survivors);
    this.stage = 3;
    const message = encodeMessage('survivors', { round: this.plan.round, survivors: this.survivors });
    return new Map(this.survivors.map((u) => [u, message]));
  }

  /** Round 3 ConsistencyCheck: accepts a client's signature of U3. */
  receiveConsistencySignature(data: Uint8Array): string {
    this.expect(3);
    const message = decodeMessage('consistencySignature', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.masked.has(id), this.signatures.has(message.sender));
    if (!verifyTranscript(this.identityKeys.get(sender)!, this.survivorsSigned, message.signature)) {
      throw new SecAggMessageRejectedError('SECAGG_BAD_SIGNATURE', `the consistency signature of '${sender}' does not verify over the survivor set; refused`, { sender });
    }
    this.signatures.set(sender, message.signature);
    return sender;
  }

  /**
   * Ends round 3: U4 is who signed. Each client gets the signatures of the share holders of every
   * owner whose shares it holds (its two-hop neighbourhood: O(k^2) signatures, not O(n) — Bell et
   * al. 2020 keep per-client cost polylogarithmic), to check that they all saw the same U3.
   */
  closeConsistencyCheck(): Map<string, Uint8Array> {
    this.expect(3);
    const u4 = this.inOrder(this.signatures.keys());
    this.requireCount(3, u4.length, 'the clients that signed the survivor set');
    this.requireHolders(3, this.neededSecrets(), new Set(u4));
    this.stage = 4;
    // Each signature goes to some k^2 clients: lay out its entry once.
    const entries = new Map(u4.map((id) => [id, encodeSignatureEntry(id, this.signatures.get(id)!)]));
    const holders = new Map<string, string[]>();
    const holdersOf = (v: string): string[] => {
      let list = holders.get(v);
      if (!list) holders.set(v, (list = this.plan.holders(v)));
      return list;
    };
    return new Map(
      u4.map((u) => {
        const relevant = new Set<string>();
        for (const v of holdersOf(u)) {
          if (!this.shared.has(v)) continue;
          for (const id of holdersOf(v)) if (entries.has(id)) relevant.add(id);
        }
        return [u, encodeConsistencyProof(this.plan.round, this.inOrder(relevant).map((id) => entries.get(id)!))];
      }),
    );
  }

  /** Round 4 Unmasking: accepts a client's shares — of b_v for v in U3, of s_v^SK for v in U2 \ U3. */
  receiveUnmaskShares(data: Uint8Array): string {
    this.expect(4);
    const message = decodeMessage('unmaskShares', data);
    const sender = this.checkSender(message.round, message.sender, (id) => this.signatures.has(id), this.revealed.has(message.sender));
    const owners = [sender, ...this.plan.neighbours(sender).filter((v) => this.shared.has(v))];
    const expectSelf = owners.filter((v) => this.masked.has(v));
    const expectKey = owners.filter((v) => !this.masked.has(v));
    const selfMask = new Map(message.selfMaskShares.map((s) => [s.owner, s.share]));
    const maskKey = new Map(message.keyShares.map((s) => [s.owner, s.share]));
    // Bonawitz et al. 2017 §4: one kind of share per owner, as fixed by U3 — never both for one client.
    if (!sameSet(selfMask, expectSelf, message.selfMaskShares.length) || !sameSet(maskKey, expectKey, message.keyShares.length)) {
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
   * U3 and subtracts PRG(b_v); rebuilds s_v^SK for v in U2 \ U3 and removes the pairwise masks its
   * surviving neighbours added; dequantises the sum.
   */
  finish(): SecAggResult {
    this.expect(4);
    const u5 = this.inOrder(this.revealed.keys());
    this.requireCount(4, u5.length, 'the clients that sent unmasking shares');
    const alive = new Set(u5);
    const needed = this.neededSecrets();
    this.requireHolders(4, needed, alive);
    const sum = this.accumulator!;
    // Rebuild and check every secret before the sum is touched, then remove all the masks.
    const masks: { key: Uint8Array; sign: 1 | -1 }[] = [];
    try {
      for (const v of needed) {
        if (this.masked.has(v)) {
          const seed = this.reconstruct(v, alive, 'selfMask');
          const matches = Buffer.from(selfMaskCommitment(this.plan.context, v, seed)).equals(this.bundles.get(v)!.selfMaskCommitment);
          if (!matches) {
            seed.fill(0);
            this.fail('SECAGG_RECONSTRUCTION_FAILED', `the rebuilt self-mask seed of '${v}' does not match its commitment: a share was corrupt`);
          }
          masks.push({ key: deriveMaskKey(seed, this.plan.context, 'self-mask'), sign: -1 });
          seed.fill(0);
        } else {
          const secretKey = this.reconstruct(v, alive, 'maskKey');
          const pair = agreementKeyPair(secretKey);
          if (!Buffer.from(pair.publicKey).equals(this.bundles.get(v)!.maskKey)) {
            secretKey.fill(0);
            this.fail('SECAGG_RECONSTRUCTION_FAILED', `the rebuilt mask key of '${v}' does not match its public key: a share was corrupt`);
          }
          for (const u of this.plan.neighbours(v)) {
            if (!this.masked.has(u)) continue;
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
    this.stage = 5;
    const summands = this.survivors;
    return {
      sum: dequantiseSum(sum, summands.length, this.plan.quantisation),
      quantisedSum: sum,
      summands,
      sets: {
        advertised: this.inOrder(this.bundles.keys()),
        shared: this.inOrder(this.shared),
        masked: summands,
        signed: this.inOrder(this.signatures.keys()),
        unmasked: u5,
      },
    };
  }

  /** Clients whose secret must be rebuilt: b_v for v in U3, s_v^SK for v in U2 \ U3 with a neighbour in U3. */
  private neededSecrets(): string[] {
    return this.inOrder(this.shared).filter((v) => this.masked.has(v) || this.plan.neighbours(v).some((u) => this.masked.has(u)));
  }

  /** How many of `owner`'s share holders (itself and its neighbours) are in `alive`. */
  private holders(owner: string, alive: ReadonlySet<string>): number {
    return this.plan.holders(owner).filter((h) => alive.has(h)).length;
  }

  private reconstruct(owner: string, live: ReadonlySet<string>, kind: 'selfMask' | 'maskKey'): Uint8Array {
    // Only owner's share holders (k + 1 of them) can have its shares: walk those, in participant order, not all of U5.
    const shares: Share[] = [];
    for (const holder of this.inOrder(this.plan.holders(owner))) {
      const share = live.has(holder) ? this.revealed.get(holder)?.[kind].get(owner) : undefined;
      if (share) shares.push({ x: this.plan.pointOf(holder), y: share });
    }
    try {
      return combineShares(shares, this.plan.threshold);
    } catch (error) {
      if (error instanceof SecAggError) this.fail('SECAGG_RECONSTRUCTION_FAILED', `the shares of '${owner}' do not rebuild its secret: ${error.message}`);
      throw error;
    }
  }

  /** Aborts when some needed secret has fewer than t live holders (itself and its neighbours) in `alive`. */
  private requireHolders(stage: number, owners: readonly string[], alive: ReadonlySet<string>): void {
    for (const v of owners) {
      const present = this.holders(v, alive);
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

  private inOrder(ids: Iterable<string>): string[] {
    return [...ids].sort((a, b) => this.plan.indexOf(a) - this.plan.indexOf(b));
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

function sameSet(got: ReadonlyMap<string, unknown>, expected: readonly string[], listed: number): boolean {
  return listed === expected.length && got.size === expected.length && expected.every((v) => got.has(v));
}
