import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createIdentity } from './identity.js';
import { memberPath, readIdentityFile, readMemberSet, writeIdentityFile, writeMemberSet } from './member-set.js';
import { MerkleTree, rootOf } from './merkle-tree.js';

const dir = mkdtempSync(join(tmpdir(), 'cn-members-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('member set file', () => {
  it('round-trips commitments into the tree MemberRegistry would build, and finds each member its path', () => {
    const members = [createIdentity(11n), createIdentity(12n), createIdentity(13n)];
    const file = join(dir, 'members.json');
    writeMemberSet(file, members.map((m) => m.commitment));
    const tree = readMemberSet(file);
    const expected = new MerkleTree();
    for (const m of members) expected.insert(m.commitment);
    expect(tree.root).toBe(expected.root);
    const path = memberPath(tree, members[2]);
    expect(path.index).toBe(2);
    expect(rootOf(path)).toBe(tree.root);
    expect(() => memberPath(tree, createIdentity(99n))).toThrow(/not in the member set/);
  });

  it('refuses a file that is not a member set, naming it', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ commitments: ['0x12'] }));
    expect(() => readMemberSet(file)).toThrow(/bad\.json is not a member-set file/);
    expect(() => readMemberSet(join(dir, 'absent.json'))).toThrow(/cannot read the member-set file/);
  });

  it('keeps an identity file private to its owner', () => {
    const file = join(dir, 'id.json');
    const identity = createIdentity();
    writeIdentityFile(file, identity);
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(readIdentityFile(file)).toEqual(identity);
    expect(readFileSync(file, 'utf8')).not.toContain(String(identity.commitment));
  });
});
