// The member set as a file, for a federation without a chain: the operator lists the identity commitments of the
// admitted members in order (the same leaves MemberRegistry would hold); the coordinator takes its root, a member its
// path. Commitments are public; the secrets stay in each member's identity file.
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { ZkInputError } from './errors.js';
import { fieldElement } from './field.js';
import type { Identity } from './identity.js';
import { createIdentity } from './identity.js';
import { MerkleTree, type MerklePath } from './merkle-tree.js';

const decimal = z.string().regex(/^[0-9]{1,78}$/, 'a decimal field element');
const MemberSetFile = z.object({ commitments: z.array(decimal).max(1 << 20) }).strict();
const IdentityFile = z.object({ secret: decimal }).strict();

/** Reads a member-set file ({"commitments": ["…", …]}) into the depth-20 tree its commitments make, in file order. */
export function readMemberSet(path: string): MerkleTree {
  const parsed = MemberSetFile.safeParse(readJson(path, 'member-set'));
  if (!parsed.success) throw new ZkInputError(`${path} is not a member-set file: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`);
  const tree = new MerkleTree();
  for (const commitment of parsed.data.commitments) tree.insert(fieldElement(BigInt(commitment), 'commitment'));
  return tree;
}

/** Writes a member-set file listing `commitments` in order. */
export function writeMemberSet(path: string, commitments: readonly bigint[]): void {
  writeFileSync(path, `${JSON.stringify({ commitments: commitments.map(String) }, null, 2)}\n`);
}

/** The path of `identity` in the member set, or a ZK_INPUT_INVALID error telling the member it is not (yet) in it. */
export function memberPath(tree: MerkleTree, identity: Identity): MerklePath {
  for (let i = 0; i < tree.size; i++) if (tree.leaf(i) === identity.commitment) return tree.path(i);
  throw new ZkInputError(`identity commitment ${identity.commitment} is not in the member set; have it registered (staked) first`);
}

/** Reads a member's identity file ({"secret": "…"}). */
export function readIdentityFile(path: string): Identity {
  const parsed = IdentityFile.safeParse(readJson(path, 'identity'));
  if (!parsed.success) throw new ZkInputError(`${path} is not an identity file: ${parsed.error.issues[0].message}`);
  return createIdentity(BigInt(parsed.data.secret));
}

/** Writes an identity file readable by its owner only. */
export function writeIdentityFile(path: string, identity: Identity): void {
  writeFileSync(path, `${JSON.stringify({ secret: String(identity.secret) })}\n`, { mode: 0o600 });
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ZkInputError(`cannot read the ${what} file ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ZkInputError(`the ${what} file ${path} is not JSON`);
  }
}
