import { concat, encodeAbiParameters, keccak256, type Address, type Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { buildRewardTree, loadRewardTree } from './merkle.js';

const alice: Address = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const bob: Address = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const carol: Address = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';

/** The leaf RewardDistributor.claim computes: keccak256(bytes.concat(keccak256(abi.encode(account, amount)))). */
const leaf = (account: Address, amount: bigint): Hex => keccak256(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [account, amount])));
/** OpenZeppelin MerkleProof's commutative pair hash: keccak256 of the two nodes in ascending order. */
const pair = (a: Hex, b: Hex): Hex => keccak256(BigInt(a) < BigInt(b) ? concat([a, b]) : concat([b, a]));

describe('reward tree', () => {
  it('uses the leaf encoding and pair hashing the contract verifies', () => {
    const tree = buildRewardTree([{ account: alice, amount: 5n }, { account: bob, amount: 7n }]);
    expect(tree.root).toBe(pair(leaf(alice, 5n), leaf(bob, 7n)));
    expect(tree.total).toBe(12n);
    expect(tree.proofOf(alice)).toEqual({ amount: 5n, proof: [leaf(bob, 7n)] });
  });

  it('gives proofs that fold to the root for every entry, and none for strangers', () => {
    const entries = Array.from({ length: 37 }, (_, i) => ({ account: `0x${(i + 1).toString(16).padStart(40, '0')}` as Address, amount: BigInt(i + 1) * 10n ** 18n }));
    const tree = buildRewardTree(entries);
    for (const { account, amount } of entries) {
      const found = tree.proofOf(account)!;
      expect(found.amount).toBe(amount);
      expect(found.proof.reduce(pair, leaf(account, amount))).toBe(tree.root);
    }
    expect(tree.proofOf(carol)).toBeUndefined();
  });

  it('survives a dump and load, and refuses other trees', () => {
    const tree = buildRewardTree([{ account: alice, amount: 1n }, { account: carol, amount: 2n }]);
    const loaded = loadRewardTree(JSON.parse(JSON.stringify(tree.dump())));
    expect(loaded.root).toBe(tree.root);
    expect(loaded.proofOf(carol)).toEqual(tree.proofOf(carol));
    expect(() => loadRewardTree({ ...tree.dump(), leafEncoding: ['uint256'] })).toThrow(/leaf encoding/);
  });

  it('refuses empty rounds, duplicates, bad addresses and non-positive amounts', () => {
    expect(() => buildRewardTree([])).toThrow(expect.objectContaining({ code: 'REWARD_TREE_EMPTY' }));
    expect(() => buildRewardTree([{ account: alice, amount: 1n }, { account: alice.toLowerCase() as Address, amount: 1n }])).toThrow(
      expect.objectContaining({ code: 'REWARD_DUPLICATE_ACCOUNT' }),
    );
    expect(() => buildRewardTree([{ account: '0x1234' as Address, amount: 1n }])).toThrow(expect.objectContaining({ code: 'REWARD_BAD_ACCOUNT' }));
    expect(() => buildRewardTree([{ account: alice, amount: 0n }])).toThrow(expect.objectContaining({ code: 'REWARD_BAD_AMOUNT' }));
  });
});
