import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { getAddress, isAddress, type Address, type Hex } from 'viem';
import { InvalidInputError } from '../core/errors.js';

/** One participant's reward in one round, in token base units. */
export interface RewardEntry {
  account: Address;
  amount: bigint;
}

/** A round's reward tree: the root posted on chain, the total, and each account's amount and proof. */
export interface RewardTree {
  root: Hex;
  total: bigint;
  entries: readonly RewardEntry[];
  /** The proof of `account`'s leaf, or undefined when it has no reward this round. */
  proofOf(account: Address): { amount: bigint; proof: Hex[] } | undefined;
  /** The tree as OpenZeppelin's StandardMerkleTree JSON dump, for publishing to participants. */
  dump(): RewardTreeDump;
}

/** StandardMerkleTree's dump format ("standard-v1"), amounts as decimal strings. */
export type RewardTreeDump = ReturnType<StandardMerkleTree<[string, string]>['dump']>;

/** Leaf encoding of RewardDistributor.claim: (address, uint256), double-hashed by StandardMerkleTree. */
export const REWARD_LEAF_ENCODING = ['address', 'uint256'] as const;

function wrap(tree: StandardMerkleTree<[string, string]>): RewardTree {
  const entries: RewardEntry[] = [];
  const index = new Map<string, number>();
  for (const [i, [account, amount]] of tree.entries()) {
    const address = getAddress(account);
    entries.push({ account: address, amount: BigInt(amount) });
    index.set(address, i);
  }
  return {
    root: tree.root as Hex,
    total: entries.reduce((sum, e) => sum + e.amount, 0n),
    entries,
    proofOf(account) {
      const i = index.get(getAddress(account));
      if (i === undefined) return undefined;
      return { amount: entries[i].amount, proof: tree.getProof(i) as Hex[] };
    },
    dump: () => tree.dump(),
  };
}

/**
 * Builds the reward tree of a round with OpenZeppelin's StandardMerkleTree (leaves
 * keccak256(keccak256(abi.encode(account, amount))), sorted pairs), the encoding
 * RewardDistributor verifies. Accounts must be distinct and amounts positive.
 */
export function buildRewardTree(entries: readonly RewardEntry[]): RewardTree {
  if (entries.length === 0) throw new InvalidInputError('REWARD_TREE_EMPTY', 'a reward round needs at least one entry');
  const seen = new Set<string>();
  const values: [string, string][] = entries.map(({ account, amount }) => {
    if (!isAddress(account)) throw new InvalidInputError('REWARD_BAD_ACCOUNT', `'${account}' is not an address`);
    const address = getAddress(account);
    if (seen.has(address)) throw new InvalidInputError('REWARD_DUPLICATE_ACCOUNT', `${address} appears twice; sum its rewards into one entry`);
    seen.add(address);
    if (amount <= 0n) throw new InvalidInputError('REWARD_BAD_AMOUNT', `the reward of ${address} must be positive, got ${amount}`);
    return [address, amount.toString()];
  });
  return wrap(StandardMerkleTree.of(values, [...REWARD_LEAF_ENCODING]));
}

/** Loads a tree published with {@link RewardTree.dump}, checking its leaf encoding. */
export function loadRewardTree(dump: RewardTreeDump): RewardTree {
  if (dump?.format !== 'standard-v1' || JSON.stringify(dump.leafEncoding) !== JSON.stringify(REWARD_LEAF_ENCODING)) {
    throw new InvalidInputError('REWARD_TREE_FORMAT', 'not a reward tree: expected a StandardMerkleTree dump with leaf encoding [address, uint256]');
  }
  const tree = StandardMerkleTree.load(dump as RewardTreeDump);
  tree.validate();
  return wrap(tree);
}
