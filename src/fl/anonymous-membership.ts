// Anonymous training (privacy.anonymous): a member proves with every update that it is in the staked member set,
// without saying which member it is. The proof's scope is the (job, round) and its signal the update's hash, so a proof
// is good for one update in one round only, and its nullifier, Poseidon(secret, scope), repeats exactly when the same
// member sends a second update in that round. Joining is proved the same way, bound to the connection's random id.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { decodeMembershipProof, encodeMembershipProof, Membership, NullifierSet, readMemberSet, SCALAR_FIELD, ZkProofRejectedError, type Identity, type MerklePath } from '../privacy/zk/index.js';

/** Where the coordinator learns which member-tree roots it accepts: the registry's root history, or a member-set file. */
export interface MemberRoots {
  /** Whether proofs against `root` are accepted now. */
  isAccepted(root: bigint): Promise<boolean>;
}

const hashToField = (...parts: (string | Uint8Array)[]): bigint => {
  const hash = createHash('sha256').update('cipher-nexus/anonymous');
  // Each part is length-prefixed so ("ab", "c") and ("a", "bc") hash apart.
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  }
  return BigInt(`0x${hash.digest('hex')}`) % SCALAR_FIELD;
};

/** The scope of a round's updates: one nullifier per member per (job, round). */
export function roundScope(jobId: string, roundId: string): bigint {
  return hashToField('round', jobId, roundId);
}

/** The scope of joining a job. */
export function joinScope(jobId: string): bigint {
  return hashToField('join', jobId);
}

/** The signal of an update: its body's SHA-256 mapped into the field, so the proof cannot be moved to other bytes. */
export function updateSignal(body: Uint8Array): bigint {
  return hashToField('update', body);
}

/** The signal of a join: the connection's random id, so a join proof cannot be replayed on another connection. */
export function joinSignal(sessionId: string): bigint {
  return hashToField('session', sessionId);
}

/** A member's side: proves its update (or its join) with its identity and its path in the member tree. */
export class AnonymousMember {
  /**
   * `path` is the member's path in the tree, or where to read it before each proof, so a member keeps proving against
   * the current root while others join or leave (the registry accepts an older root for a while only).
   */
  constructor(
    private readonly zk: Membership,
    private readonly identity: Identity,
    private readonly path: MerklePath | (() => Promise<MerklePath>),
  ) {}

  /** The 384 proof bytes that go with `body` as the update for `roundId`. */
  async proveUpdate(jobId: string, roundId: string, body: Uint8Array): Promise<Uint8Array> {
    return this.prove(roundScope(jobId, roundId), updateSignal(body));
  }

  /** The 384 proof bytes that let the connection `sessionId` join `jobId`. */
  async proveJoin(jobId: string, sessionId: string): Promise<Uint8Array> {
    return this.prove(joinScope(jobId), joinSignal(sessionId));
  }

  private async prove(scope: bigint, signalHash: bigint): Promise<Uint8Array> {
    const path = typeof this.path === 'function' ? await this.path() : this.path;
    return encodeMembershipProof(await this.zk.prove({ identity: this.identity, path, scope, signalHash }));
  }
}

/**
 * The coordinator's side: checks join and update proofs against the accepted roots and spends each update's nullifier
 * in its round. Nothing here learns or keeps which member sent what: a nullifier is random-looking and differs per round.
 */
export class AnonymousAdmission {
  // Held in memory only, which is why a coordinator restarted mid-round starts an anonymous round again (resumesAfterRestart).
  private readonly nullifiers = new NullifierSet();

  constructor(
    private readonly zk: Membership,
    private readonly roots: MemberRoots,
    readonly jobId: string,
  ) {}

  /** Starts a verifier (one worker thread) for `jobId`'s proofs against `roots`; `close()` stops it. */
  static open(roots: MemberRoots, jobId: string): AnonymousAdmission {
    return new AnonymousAdmission(Membership.open(1), roots, jobId);
  }

  /** Stops the verifier's worker. */
  close(): Promise<void> {
    return this.zk.close();
  }

  /** Admits the connection `sessionId` to the job, or throws ZK_PROOF_MALFORMED / ZK_ROOT_UNKNOWN / ZK_SCOPE_MISMATCH / ZK_SIGNAL_MISMATCH / ZK_PROOF_INVALID. */
  async checkJoin(sessionId: string, proof: Uint8Array): Promise<void> {
    await this.verify(proof, joinScope(this.jobId), joinSignal(sessionId));
  }

  /** Admits `body` as one member's update for `roundId`, spending its nullifier; throws as `checkJoin` does, or ZK_NULLIFIER_REUSED for a second update. */
  async admitUpdate(roundId: string, body: Uint8Array, proof: Uint8Array): Promise<void> {
    await this.verify(proof, roundScope(this.jobId, roundId), updateSignal(body), this.nullifiers).catch((error: unknown) => {
      // Said without the nullifier, which goes into refusal logs and the audit trail.
      if (error instanceof ZkProofRejectedError && error.code === 'ZK_NULLIFIER_REUSED') {
        throw new ZkProofRejectedError('ZK_NULLIFIER_REUSED', `a member already sent its update for round '${roundId}' (its nullifier is spent): one update per member per round`);
      }
      throw error;
    });
  }

  private async verify(proof: Uint8Array, scope: bigint, signalHash: bigint, nullifiers?: NullifierSet): Promise<void> {
    const { root } = decodeMembershipProof(proof);
    const roots = (await this.roots.isAccepted(root)) ? [root] : [];
    await this.zk.verify(proof, { roots, scope, signalHash }, nullifiers);
  }
}

/**
 * The roots of a member-set file (see `readMemberSet`), for a federation without a chain: the file is read again when it
 * changes, and the last `history` roots stay accepted, as MemberRegistry keeps a root history, so a member proving
 * against the set just before a member was added is not refused.
 */
export class MemberSetRoots implements MemberRoots {
  private readonly recent: bigint[] = [];
  private seen = '';

  constructor(
    private readonly path: string,
    private readonly history = 30,
  ) {
    this.refresh();
  }

  async isAccepted(root: bigint): Promise<boolean> {
    this.refresh();
    return this.recent.includes(root);
  }

  private refresh(): void {
    const stat = statSync(this.path);
    const stamp = `${stat.mtimeMs}:${stat.size}`;
    if (stamp === this.seen) return;
    const root = readMemberSet(this.path).root;
    this.seen = stamp;
    if (this.recent.at(-1) === root) return;
    this.recent.push(root);
    if (this.recent.length > this.history) this.recent.shift();
  }
}
