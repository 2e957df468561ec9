// The anonymous member set on chain (contracts/MemberRegistry.sol): stakers add identity commitments to a Poseidon
// Merkle tree the contract computes, and membership proofs are checked by the Groth16 verifier with their nullifiers
// spent per scope. The tree a member proves against is rebuilt here from the registry's events.
import { type Address, type LocalAccount, parseEventLogs } from 'viem';
import { InvalidInputError, StateError } from '../core/errors.js';
import { MerkleTree, type MembershipProof } from '../privacy/zk/index.js';
import { memberRegistryAbi } from './artifacts.js';
import type { ChainConnection } from './connection.js';
import type { NexusDeployment } from './deploy.js';
import { read, write, type TxResult } from './transact.js';

/** The proof's eight curve coordinates as the verifier's `uint256[8]`. */
export type ProofWords = readonly [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];

/** The proof points of a membership proof in the contracts' argument shape. */
export function proofWords(proof: Pick<MembershipProof, 'points'>): ProofWords {
  if (proof.points.length !== 8) throw new InvalidInputError('ZK_PROOF_MALFORMED', `a Groth16 proof has 8 coordinates, got ${proof.points.length}`);
  return proof.points as unknown as ProofWords;
}

/** The arguments of MembershipVerifier.verifyProof (a, b, c and the public signals) for a membership proof. */
export function groth16Args(proof: MembershipProof) {
  const p = proofWords(proof);
  return [[p[0], p[1]], [[p[2], p[3]], [p[4], p[5]]], [p[6], p[7]], [proof.nullifier, proof.root, proof.scope, proof.signalHash]] as const;
}

/** One change to the member tree, in chain order. */
export interface MemberEvent {
  kind: 'added' | 'removed';
  account: Address;
  commitment: bigint;
  index: number;
  /** The root after the change. */
  root: bigint;
  blockNumber: bigint;
  logIndex: number;
}

/** A registered member: its commitment and leaf index. */
export interface MemberRecord {
  commitment: bigint;
  index: number;
}

/** The member registry, read and written as one account. */
export class MemberRegistryClient {
  constructor(
    private readonly conn: ChainConnection,
    private readonly deployment: NexusDeployment,
    private readonly signer: LocalAccount = conn.accounts[0],
  ) {}

  private get contract() {
    return { address: this.deployment.members, abi: memberRegistryAbi } as const;
  }

  /** Adds the signer's identity commitment (the signer needs the minimum active stake); returns its leaf index. */
  async register(commitment: bigint): Promise<TxResult & { index: number }> {
    const tx = await write(this.conn, this.signer, { ...this.contract, action: 'registering an identity commitment', functionName: 'register', args: [commitment] });
    const [added] = parseEventLogs({ abi: memberRegistryAbi, logs: tx.receipt.logs, eventName: 'MemberAdded' });
    return { ...tx, index: Number(added.args.index) };
  }

  /** Removes `account`'s commitment because its active stake fell below the minimum; anyone may do it. */
  removeUnstaked(account: Address): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.contract, action: 'removing an unstaked member', functionName: 'removeUnstaked', args: [account] });
  }

  /**
   * Verifies a membership proof on chain and spends its nullifier in its scope; a refusal is a ChainRevertError named
   * UnknownRoot, NullifierAlreadyUsed or InvalidProof.
   */
  verifyMembership(proof: MembershipProof): Promise<TxResult> {
    return write(this.conn, this.signer, {
      ...this.contract,
      action: 'verifying a membership proof',
      functionName: 'verifyMembership',
      args: [proof.root, proof.nullifier, proof.signalHash, proof.scope, proofWords(proof)],
    });
  }

  /** The current root of the member tree. */
  root(): Promise<bigint> {
    return read('reading the member root', () => this.conn.publicClient.readContract({ ...this.contract, functionName: 'root' }));
  }

  /** Members currently in the tree. */
  async memberCount(): Promise<number> {
    return Number(await read('reading the member count', () => this.conn.publicClient.readContract({ ...this.contract, functionName: 'memberCount' })));
  }

  /** Whether the registry accepts proofs against `root` now. */
  isKnownRoot(root: bigint): Promise<boolean> {
    return read('reading the root history', () => this.conn.publicClient.readContract({ ...this.contract, functionName: 'isKnownRoot', args: [root] }));
  }

  /** Whether `nullifier` was spent in `scope`. */
  isNullifierUsed(scope: bigint, nullifier: bigint): Promise<boolean> {
    return read('reading a nullifier', () => this.conn.publicClient.readContract({ ...this.contract, functionName: 'isNullifierUsed', args: [scope, nullifier] }));
  }

  /** `account`'s commitment and leaf index, or undefined when it is not a member. */
  async memberOf(account: Address): Promise<MemberRecord | undefined> {
    const [commitment, index] = await read('reading a member', () => this.conn.publicClient.readContract({ ...this.contract, functionName: 'memberOf', args: [account] }));
    return commitment === 0n ? undefined : { commitment, index: Number(index) };
  }

  /** Every addition and removal since deployment, in chain order. */
  async events(): Promise<MemberEvent[]> {
    const pc = this.conn.publicClient;
    const from = this.deployment.fromBlock;
    const [added, removed] = await read('reading member events', () =>
      Promise.all([pc.getContractEvents({ ...this.contract, eventName: 'MemberAdded', fromBlock: from }), pc.getContractEvents({ ...this.contract, eventName: 'MemberRemoved', fromBlock: from })]),
    );
    const events = [
      ...added.map((e) => ({ kind: 'added' as const, ...e })),
      ...removed.map((e) => ({ kind: 'removed' as const, ...e })),
    ].map(({ kind, args, blockNumber, logIndex }) => ({
      kind,
      account: args.account!,
      commitment: args.commitment!,
      index: Number(args.index!),
      root: args.root!,
      blockNumber,
      logIndex,
    }));
    return events.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
  }

  /**
   * The member tree as the contract holds it, rebuilt from its events: now, or as it was when its root was `root`
   * (the latest state with that root). Throws when no state of the tree had that root.
   */
  async tree(root?: bigint): Promise<MerkleTree> {
    const events = await this.events();
    let end = events.length;
    if (root !== undefined) {
      end = events.map((e) => e.root).lastIndexOf(root) + 1;
      if (end === 0 && root !== new MerkleTree().root) throw new StateError('ZK_ROOT_UNKNOWN', `the member registry never had root ${root}; is this the right deployment?`);
    }
    const tree = new MerkleTree();
    for (const e of events.slice(0, end)) {
      if (e.kind === 'added') tree.insert(e.commitment);
      else tree.update(e.index, 0n);
    }
    const expected = root ?? (await this.root());
    if (tree.root !== expected) throw new StateError('ZK_TREE_MISMATCH', `the member tree rebuilt from events has root ${tree.root}, not the registry's ${expected}`);
    return tree;
  }
}
