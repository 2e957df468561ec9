import { resolve } from 'node:path';
import type { MemberRoots } from '../fl/index.js';
import type { Identity, MerklePath } from '../privacy/zk/index.js';
import { openChainReader } from './chain-context.js';

/** The `--members` value that means MemberRegistry on the chain of --rpc rather than a member-set file. */
export const REGISTRY_MEMBERS = 'registry';

/** Where the chain is, for `--members registry`. */
export interface MemberChain {
  rpc?: string;
  deployment: string;
}

async function openRegistry(chain: MemberChain) {
  const { MemberRegistryClient } = await import('../chain/index.js');
  const { conn, deployment } = await openChainReader(chain.rpc, chain.deployment, `--members ${REGISTRY_MEMBERS}`);
  return new MemberRegistryClient(conn, deployment);
}

/**
 * The roots a coordinator accepts proofs against: those MemberRegistry accepts now (its root and the root history
 * of its window), where only staked accounts add members, or the recent roots of a member-set file.
 */
export async function memberRootsFrom(source: string, chain: MemberChain): Promise<MemberRoots> {
  if (source !== REGISTRY_MEMBERS) {
    const { MemberSetRoots } = await import('../fl/index.js');
    return new MemberSetRoots(resolve(source));
  }
  const registry = await openRegistry(chain);
  // Read once at start, so a wrong deployment or a dead endpoint fails the command rather than the first join.
  await registry.root();
  return { isAccepted: (root) => registry.isKnownRoot(root) };
}

/**
 * Where a member reads its path before each proof: the registry's tree rebuilt from its events, or the member-set
 * file. Read once here too, so an identity that is not a member is refused before anything connects.
 */
export async function memberPathFrom(source: string, chain: MemberChain, identity: Identity): Promise<() => Promise<MerklePath>> {
  const zk = await import('../privacy/zk/index.js');
  let read: () => Promise<MerklePath>;
  if (source === REGISTRY_MEMBERS) {
    const registry = await openRegistry(chain);
    read = async () => zk.memberPath(await registry.tree(), identity);
  } else {
    const file = resolve(source);
    read = async () => zk.memberPath(zk.readMemberSet(file), identity);
  }
  await read();
  return read;
}
