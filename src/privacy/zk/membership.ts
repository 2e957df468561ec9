// Proving and verifying membership with nullifier (circuits/membership.circom) with snarkjs Groth16 in worker processes.
import { loadVerificationKey, MEMBERSHIP_ARTEFACTS } from './artefacts.js';
import { ZkInputError, ZkProofMalformedError, ZkProofRejectedError } from './errors.js';
import { fieldElement } from './field.js';
import type { Identity } from './identity.js';
import { decodeMembershipProof, fromSnarkjs, publicSignalsOf, toSnarkjs, type MembershipProof } from './membership-proof.js';
import { rootOf, TREE_DEPTH, type MerklePath } from './merkle-tree.js';
import type { NullifierSet } from './nullifier-set.js';
import { ZkWorkerPool } from './worker-pool.js';

/** What a member proves: its identity sits at `path` in the tree, and it speaks `signalHash` in `scope`. */
export type ProveParameters = { readonly identity: Identity; readonly path: MerklePath; readonly scope: bigint; readonly signalHash: bigint };

/** What the verifier accepts: roots it still trusts, the scope it is collecting in, the signal it was sent. */
export type MembershipExpectation = { readonly roots: Iterable<bigint>; readonly scope: bigint; readonly signalHash: bigint };

/** Proves and verifies membership proofs on a pool of worker processes; `close()` stops them. */
export class Membership {
  private constructor(private readonly pool: ZkWorkerPool) {}

  /** Checks the pinned verification key (each worker prepares it once) and starts `workers` worker processes. */
  static open(workers = 1): Membership {
    loadVerificationKey();
    return new Membership(ZkWorkerPool.open(workers));
  }

  /** Generates the witness and a Groth16 proof that the identity is a member, with its nullifier for `scope`. */
  async prove({ identity, path, scope, signalHash }: ProveParameters): Promise<MembershipProof> {
    if (path.pathElements.length !== TREE_DEPTH) throw new ZkInputError(`the circuit takes a depth-${TREE_DEPTH} path, got ${path.pathElements.length}`, { depth: path.pathElements.length });
    // Checked here because the witness generator's own failure ("Assert Failed") does not say which input was wrong.
    if (path.leaf !== identity.commitment || rootOf(path) !== path.root) {
      throw new ZkInputError("the path does not lead from this identity's commitment to its root; take a fresh path from the tree after inserting the commitment", { index: path.index });
    }
    const input = {
      secret: String(fieldElement(identity.secret, 'secret')),
      pathElements: path.pathElements.map(String),
      pathIndices: path.pathIndices.map(String),
      root: String(path.root),
      scope: String(fieldElement(scope, 'scope')),
      signalHash: String(fieldElement(signalHash, 'signalHash')),
    };
    const { proof, publicSignals } = await this.pool.run({ op: 'prove', input, wasm: MEMBERSHIP_ARTEFACTS.wasm, zkey: MEMBERSHIP_ARTEFACTS.zkey });
    return fromSnarkjs(proof, publicSignals);
  }

  /**
   * Verifies a proof (or its 384 encoded bytes) against what the verifier expects and returns its nullifier; with
   * `nullifiers`, also spends it. Throws `ZkProofMalformedError` or `ZkProofRejectedError` naming the reason.
   */
  async verify(proof: MembershipProof | Uint8Array, expected: MembershipExpectation, nullifiers?: NullifierSet): Promise<bigint> {
    const decoded = proof instanceof Uint8Array ? decodeMembershipProof(proof) : proof;
    // The cheap comparisons come first so a stale or misdirected proof costs no pairing.
    if (![...expected.roots].includes(decoded.root)) {
      throw new ZkProofRejectedError('ZK_ROOT_UNKNOWN', `the proof is against root ${decoded.root}, which is not an accepted root; prove again against the current tree`, { root: String(decoded.root) });
    }
    if (decoded.scope !== expected.scope) {
      throw new ZkProofRejectedError('ZK_SCOPE_MISMATCH', `the proof is for scope ${decoded.scope}, not ${expected.scope}`, { scope: String(decoded.scope), expected: String(expected.scope) });
    }
    if (decoded.signalHash !== expected.signalHash) {
      throw new ZkProofRejectedError('ZK_SIGNAL_MISMATCH', `the proof is for signal ${decoded.signalHash}, not the ${expected.signalHash} that came with it`, {
        signalHash: String(decoded.signalHash),
        expected: String(expected.signalHash),
      });
    }
    // A spent nullifier is refused before the pairing too (consume throws ZK_NULLIFIER_REUSED), as it is cheap to check.
    if (nullifiers?.has(decoded.scope, decoded.nullifier)) nullifiers.consume(decoded.scope, decoded.nullifier);
    const { valid, wellFormed } = await this.pool.run({ op: 'verify', verificationKey: MEMBERSHIP_ARTEFACTS.verificationKey, publicSignals: publicSignalsOf(decoded), proof: toSnarkjs(decoded) });
    if (!wellFormed) throw new ZkProofMalformedError('the proof points are not on BN254 (damaged bytes?)');
    if (!valid) throw new ZkProofRejectedError('ZK_PROOF_INVALID', 'the proof does not verify for these public signals');
    // Spent only now, so a forged proof cannot burn an honest member's nullifier.
    nullifiers?.consume(decoded.scope, decoded.nullifier);
    return decoded.nullifier;
  }

  /** Stops the worker processes. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
