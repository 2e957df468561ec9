import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, Membership, MerkleTree, writeMemberSet, type Identity } from '../privacy/zk/index.js';
import { AnonymousAdmission, AnonymousMember, MemberSetRoots, roundScope, type MemberRoots } from './anonymous-membership.js';

const JOB = 'job-anon';
const dir = mkdtempSync(join(tmpdir(), 'cn-anon-'));
let zk: Membership;
let members: Identity[];
let tree: MerkleTree;
let roots: MemberRoots;
let body: Uint8Array;
let updateProof: Uint8Array;
let joinProof: Uint8Array;

beforeAll(async () => {
  zk = Membership.open(2);
  members = [21n, 22n, 23n].map((s) => createIdentity(s));
  tree = new MerkleTree();
  for (const m of members) tree.insert(m.commitment);
  roots = { isAccepted: async (root) => root === tree.root };
  body = new Uint8Array([1, 2, 3, 4]);
  const member = new AnonymousMember(zk, members[1], tree.path(1));
  [updateProof, joinProof] = await Promise.all([member.proveUpdate(JOB, 'round-1', body), member.proveJoin(JOB, 'session-a')]);
});

afterAll(async () => {
  await zk?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('AnonymousAdmission', () => {
  it('accepts one update per member per round and refuses the second with ZK_NULLIFIER_REUSED', async () => {
    const admission = new AnonymousAdmission(zk, roots, JOB);
    await admission.admitUpdate('round-1', body, updateProof);
    await expect(admission.admitUpdate('round-1', body, updateProof)).rejects.toMatchObject({ code: 'ZK_NULLIFIER_REUSED' });
  });

  it('refuses a proof for other bytes, another round or another job by its signal or scope', async () => {
    const admission = new AnonymousAdmission(zk, roots, JOB);
    await expect(admission.admitUpdate('round-1', new Uint8Array([1, 2, 3, 5]), updateProof)).rejects.toMatchObject({ code: 'ZK_SIGNAL_MISMATCH' });
    await expect(admission.admitUpdate('round-2', body, updateProof)).rejects.toMatchObject({ code: 'ZK_SCOPE_MISMATCH' });
    await expect(new AnonymousAdmission(zk, roots, 'other-job').admitUpdate('round-1', body, updateProof)).rejects.toMatchObject({ code: 'ZK_SCOPE_MISMATCH' });
    // The refusals spent nothing: the member's one update still counts.
    await admission.admitUpdate('round-1', body, updateProof);
  });

  it('refuses a proof against a root it does not accept, and an identity outside the member tree', async () => {
    const expired = new AnonymousAdmission(zk, { isAccepted: async () => false }, JOB);
    await expect(expired.admitUpdate('round-1', body, updateProof)).rejects.toMatchObject({ code: 'ZK_ROOT_UNKNOWN' });
    // An outsider can only prove against a tree it made up itself.
    const outsider = createIdentity(99n);
    const own = new MerkleTree();
    own.insert(outsider.commitment);
    const proof = await new AnonymousMember(zk, outsider, own.path(0)).proveJoin(JOB, 'session-x');
    await expect(new AnonymousAdmission(zk, roots, JOB).checkJoin('session-x', proof)).rejects.toMatchObject({ code: 'ZK_ROOT_UNKNOWN' });
  });

  it('refuses malformed proof bytes with ZK_PROOF_MALFORMED', async () => {
    const admission = new AnonymousAdmission(zk, roots, JOB);
    await expect(admission.admitUpdate('round-1', body, updateProof.subarray(1))).rejects.toMatchObject({ code: 'ZK_PROOF_MALFORMED' });
    await expect(admission.admitUpdate('round-1', body, new Uint8Array(0))).rejects.toMatchObject({ code: 'ZK_PROOF_MALFORMED' });
    const offCurve = Uint8Array.from(updateProof);
    offCurve[40] ^= 0x01;
    await expect(admission.admitUpdate('round-1', body, offCurve)).rejects.toMatchObject({ code: 'ZK_PROOF_MALFORMED' });
  });

  it('binds a join proof to its connection and keeps it apart from updates', async () => {
    const admission = new AnonymousAdmission(zk, roots, JOB);
    await admission.checkJoin('session-a', joinProof);
    // Joining spends no nullifier: a member that reconnects joins again.
    await admission.checkJoin('session-a', joinProof);
    await expect(admission.checkJoin('session-b', joinProof)).rejects.toMatchObject({ code: 'ZK_SIGNAL_MISMATCH' });
    await expect(admission.admitUpdate('round-1', body, joinProof)).rejects.toMatchObject({ code: 'ZK_SCOPE_MISMATCH' });
  });

  it('derives scopes that differ per job and round', () => {
    expect(roundScope(JOB, 'r1')).not.toBe(roundScope(JOB, 'r2'));
    expect(roundScope('a', 'bc')).not.toBe(roundScope('ab', 'c'));
  });
});

describe('MemberSetRoots', () => {
  it('accepts the file root and keeps recent roots after members are added, up to its history', async () => {
    const file = join(dir, 'members.json');
    writeMemberSet(file, [members[0].commitment]);
    const set = new MemberSetRoots(file, 2);
    const first = new MerkleTree();
    first.insert(members[0].commitment);
    expect(await set.isAccepted(first.root)).toBe(true);
    expect(await set.isAccepted(tree.root)).toBe(false);
    const write = (count: number, second: number) => {
      writeMemberSet(file, members.slice(0, count).map((m) => m.commitment));
      utimesSync(file, second, second);
    };
    write(3, 1000);
    expect(await set.isAccepted(tree.root)).toBe(true);
    expect(await set.isAccepted(first.root)).toBe(true);
    write(2, 2000);
    expect(await set.isAccepted(first.root)).toBe(false);
  });
});
