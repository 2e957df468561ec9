import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ZkInputError } from './errors.js';
import { MerkleTree, rootOf, TREE_DEPTH } from './merkle-tree.js';
import { poseidon } from './poseidon.js';

describe('MerkleTree', () => {
  it('has the zero root of an empty depth-20 tree', () => {
    let zero = 0n;
    for (let level = 0; level < TREE_DEPTH; level++) zero = poseidon([zero, zero]);
    expect(new MerkleTree().root).toBe(zero);
  });

  it('equals a tree hashed level by level from all its leaves', () => {
    const tree = new MerkleTree(3);
    const leaves = [11n, 22n, 33n, 44n, 55n];
    for (const leaf of leaves) tree.insert(leaf);
    let level = [...leaves, 0n, 0n, 0n];
    while (level.length > 1) level = level.flatMap((_, i) => (i % 2 === 0 ? [poseidon([level[i], level[i + 1]])] : []));
    expect(tree.root).toBe(level[0]);
  });

  it('gives paths that lead to the root, before and after updates', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 2n ** 200n }), { minLength: 1, maxLength: 12 }), fc.nat(), (leaves, pick) => {
        const tree = new MerkleTree(4);
        for (const leaf of leaves) tree.insert(leaf);
        const index = pick % leaves.length;
        tree.update(index === 0 ? leaves.length - 1 : 0, 0n);
        const path = tree.path(index);
        expect(path.root).toBe(tree.root);
        expect(rootOf(path)).toBe(tree.root);
        expect(path.pathIndices.reduce<number>((sum, bit, level) => sum + bit * 2 ** level, 0)).toBe(index);
      }),
      { numRuns: 30 },
    );
  });

  it('changes its root when a member is removed', () => {
    const tree = new MerkleTree(4);
    tree.insert(1n);
    tree.insert(2n);
    const before = tree.root;
    tree.update(1, 0n);
    expect(tree.root).not.toBe(before);
    expect(tree.leaf(1)).toBe(0n);
  });

  it('refuses unknown indices, non-field leaves and a full tree', () => {
    const tree = new MerkleTree(1);
    expect(() => tree.path(0)).toThrow(ZkInputError);
    expect(() => tree.insert(-1n)).toThrow(ZkInputError);
    tree.insert(1n);
    tree.insert(2n);
    expect(() => tree.insert(3n)).toThrow(expect.objectContaining({ code: 'ZK_INPUT_INVALID' }));
  });
});
