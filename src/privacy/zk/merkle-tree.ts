// An incremental binary Merkle tree of fixed depth with Poseidon(2) nodes and 0 as the empty leaf, the shape the
// membership circuit checks: empty subtrees hash to precomputed zero nodes, so only the filled part is stored and an
// insertion costs `depth` hashes.
import { ZkInputError } from './errors.js';
import { fieldElement } from './field.js';
import { poseidon } from './poseidon.js';

/** The depth the membership circuit is compiled for: room for 2^20 (about a million) identities. */
export const TREE_DEPTH = 20;

/** A leaf's authentication path, the circuit's `pathElements` and `pathIndices` (1 where the node is a right child). */
export type MerklePath = { readonly leaf: bigint; readonly index: number; readonly root: bigint; readonly pathElements: readonly bigint[]; readonly pathIndices: readonly (0 | 1)[] };

const zeroNodes = (depth: number): bigint[] => {
  const zeros = [0n];
  for (let level = 0; level < depth; level++) zeros.push(poseidon([zeros[level], zeros[level]]));
  return zeros;
};

/** An append-only Poseidon Merkle tree whose leaves can be replaced (a withdrawn member's leaf becomes 0). */
export class MerkleTree {
  private readonly zeros: bigint[];
  // levels[0] holds the leaves; levels[i] holds the filled nodes at height i.
  private readonly levels: bigint[][];

  constructor(readonly depth: number = TREE_DEPTH) {
    if (!Number.isInteger(depth) || depth < 1 || depth > 32) throw new ZkInputError(`tree depth must be an integer in [1, 32], got ${depth}`, { depth });
    this.zeros = zeroNodes(depth);
    this.levels = Array.from({ length: depth + 1 }, () => []);
  }

  /** Number of leaves inserted so far (removed leaves still count: indices are never reused). */
  get size(): number {
    return this.levels[0].length;
  }

  /** The current root. */
  get root(): bigint {
    return this.levels[this.depth][0] ?? this.zeros[this.depth];
  }

  /** Appends a leaf (an identity commitment) and returns its index. */
  insert(leaf: bigint): number {
    const index = this.size;
    if (index >= 2 ** this.depth) throw new ZkInputError(`the tree is full: it holds 2^${this.depth} leaves`, { depth: this.depth });
    this.write(index, fieldElement(leaf, 'leaf'));
    return index;
  }

  /** Replaces the leaf at `index`; 0 removes a member without moving anyone else's path. */
  update(index: number, leaf: bigint): void {
    this.checkIndex(index);
    this.write(index, fieldElement(leaf, 'leaf'));
  }

  /** The leaf at `index`. */
  leaf(index: number): bigint {
    this.checkIndex(index);
    return this.levels[0][index];
  }

  /** The authentication path of the leaf at `index` against the current root. */
  path(index: number): MerklePath {
    this.checkIndex(index);
    const pathElements: bigint[] = [];
    const pathIndices: (0 | 1)[] = [];
    for (let level = 0, i = index; level < this.depth; level++, i >>= 1) {
      pathIndices.push((i & 1) as 0 | 1);
      pathElements.push(this.node(level, i ^ 1));
    }
    return { leaf: this.levels[0][index], index, root: this.root, pathElements, pathIndices };
  }

  private node(level: number, i: number): bigint {
    return this.levels[level][i] ?? this.zeros[level];
  }

  private write(index: number, leaf: bigint): void {
    this.levels[0][index] = leaf;
    for (let level = 0, i = index; level < this.depth; level++, i >>= 1) {
      const left = this.node(level, i & ~1);
      const right = this.node(level, i | 1);
      this.levels[level + 1][i >> 1] = poseidon([left, right]);
    }
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) throw new ZkInputError(`leaf index ${index} is not in the tree (size ${this.size})`, { index, size: this.size });
  }
}

/** Recomputes the root a path leads to, as the circuit does; equal to `path.root` for an honest path. */
export function rootOf(path: Pick<MerklePath, 'leaf' | 'pathElements' | 'pathIndices'>): bigint {
  return path.pathElements.reduce((node, sibling, level) => (path.pathIndices[level] === 1 ? poseidon([sibling, node]) : poseidon([node, sibling])), path.leaf);
}
