import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemberRegistryClient, nxs, startEmbeddedNexus, type ChainClient } from '../chain/index.js';
import { memberPath, readIdentityFile, readMemberSet, rootOf } from '../privacy/zk/index.js';
import { registerMemberCommands } from './member-command.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-member-cli-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[], chain: () => Promise<ChainClient> = () => Promise.reject(new Error('this test reaches no chain'))): Promise<string> {
  const program = new Command('cipher-nexus').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerMemberCommands(program, chain);
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return stdout;
}

describe('member commands', () => {
  it('creates identities whose printed commitments make a member set each member finds its path in', async () => {
    const members = join(dir, 'members.json');
    const commitments: string[] = [];
    for (const i of [0, 1]) {
      const printed = await run(['member', 'new', '--out', join(dir, `id-${i}.json`)]);
      const commitment = /^commitment (\d+)$/m.exec(printed)?.[1] as string;
      expect(readIdentityFile(join(dir, `id-${i}.json`)).commitment).toBe(BigInt(commitment));
      commitments.push(commitment);
      expect(await run(['member', 'add', '--members', members, '--commitment', commitment])).toMatch(new RegExp(`${i + 1} member\\(s\\), root \\d+`));
    }
    const tree = readMemberSet(members);
    expect(rootOf(memberPath(tree, readIdentityFile(join(dir, 'id-1.json'))))).toBe(tree.root);
    expect(readFileSync(members, 'utf8')).not.toContain(String(readIdentityFile(join(dir, 'id-0.json')).secret));
  });

  it('refuses to overwrite an identity, a repeated commitment, and a commitment that is not a number, changing nothing', async () => {
    await run(['member', 'new', '--out', join(dir, 'id.json')]);
    const before = readFileSync(join(dir, 'id.json'), 'utf8');
    await expect(run(['member', 'new', '--out', join(dir, 'id.json')])).rejects.toMatchObject({ code: 'CLI_OPTION_INVALID' });
    expect(readFileSync(join(dir, 'id.json'), 'utf8')).toBe(before);
    const members = join(dir, 'members.json');
    await run(['member', 'add', '--members', members, '--commitment', '12345']);
    await expect(run(['member', 'add', '--members', members, '--commitment', '12345'])).rejects.toThrow(/already lists/);
    await expect(run(['member', 'add', '--members', members, '--commitment', '0xabc'])).rejects.toThrow(/decimal number/);
    expect(readMemberSet(members).size).toBe(1);
  });

  it('registers an identity on chain for a staked account only, once, and its path leads to the registry root', async () => {
    const n = await startEmbeddedNexus({ accounts: 3 });
    const [staked, unstaked] = n.participants;
    await staked.stake(nxs(100));
    await run(['member', 'new', '--out', join(dir, 'id.json')]);
    const printed = await run(['member', 'register', '--identity', join(dir, 'id.json')], async () => staked);
    const registry = new MemberRegistryClient(n.conn, n.deployment);
    expect(printed).toContain(`${staked.account} registered its commitment as member 0; root ${await registry.root()}`);
    expect(rootOf(memberPath(await registry.tree(), readIdentityFile(join(dir, 'id.json'))))).toBe(await registry.root());
    await expect(run(['member', 'register', '--identity', join(dir, 'id.json')], async () => staked)).rejects.toMatchObject({ code: 'CHAIN_REVERTED', errorName: 'AlreadyMember' });
    await run(['member', 'new', '--out', join(dir, 'other.json')]);
    await expect(run(['member', 'register', '--identity', join(dir, 'other.json')], async () => unstaked)).rejects.toMatchObject({ code: 'CHAIN_REVERTED', errorName: 'InsufficientStake' });
    await expect(run(['member', 'register', '--identity', join(dir, 'missing.json')], async () => unstaked)).rejects.toMatchObject({ code: 'ZK_INPUT_INVALID' });
    expect(await registry.memberCount()).toBe(1);
  });
});
