import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Hex } from 'viem';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidInputError } from '../core/index.js';
import { nxs, startEmbeddedNexus, type ChainClient, type EmbeddedNexus } from '../chain/index.js';
import { registerChainCommands } from './chain-command.js';
import { EXIT_USAGE, reportError } from './output.js';

let n: EmbeddedNexus;
let clean: Hex;
let dir: string;
let signer: ChainClient;

beforeAll(async () => {
  n = await startEmbeddedNexus({ accounts: 3, allocation: nxs(100_000), governance: { votingDelayBlocks: 1, votingPeriodBlocks: 20 } });
  dir = mkdtempSync(join(tmpdir(), 'cn-chain-cli-'));
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
  signer = n.participants[0];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the chain commands in-process as `signer`, returning stdout. */
async function run(args: string[]): Promise<string> {
  const program = new Command('cipher-nexus').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerChainCommands(program, async () => signer);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('chain commands', () => {
  it('token balance and transfer', async () => {
    const [alice, bob] = n.participants;
    expect(await run(['token', 'balance'])).toBe(`${alice.account}: 100000 NXS; staked 0 NXS\n`);
    expect(await run(['token', 'delegate'])).toMatch(new RegExp(`^votes of ${alice.account} delegated to itself; 100000 NXS of votes there now \\(tx`));
    // Moving the delegation takes alice's votes from herself to bob (who has delegated nothing of his own).
    expect(await run(['token', 'delegate', bob.account])).toMatch(/; 100000 NXS of votes there now/);
    expect(await alice.votesOf()).toBe(0n);
    expect(await run(['token', 'transfer', bob.account, '12.5'])).toMatch(/^sent 12\.5 NXS to 0x[0-9a-fA-F]{40} \(tx 0x[0-9a-f]{64}, \d+ gas\)\n$/);
    expect(await run(['token', 'transfer', bob.account, '0.000000000000000001'])).toMatch(/^sent 0\.000000000000000001 NXS to/);
    expect(JSON.parse(await run(['token', 'balance', bob.account, '--json']))).toMatchObject({ account: bob.account, balance: (nxs(100_012.5) + 1n).toString() });
  });

  it('stake, unstake and withdraw after the cool-down', async () => {
    expect(await run(['stake', '150'])).toMatch(/^staked 150 NXS; eligible/);
    expect(await run(['unstake', '100'])).toMatch(/^100 NXS cooling down until \d{4}-/);
    expect(await run(['token', 'balance'])).toContain('staked 50 NXS, 100 NXS cooling down');
    await expect(run(['unstake', '--withdraw'])).rejects.toMatchObject({ errorName: 'CooldownNotOver' });
    await n.conn.increaseTime(7 * 86_400);
    expect(await run(['unstake', '--withdraw'])).toMatch(/^withdrew 100 NXS/);
  });

  it('rewards claim from a published tree, or with an amount and proof', async () => {
    const [alice, bob] = n.participants;
    const posted = await n.coordinator.postRewardRoot(1n, [{ account: alice.account, amount: nxs(3) }, { account: bob.account, amount: nxs(4) }]);
    const file = join(dir, 'round-1.json');
    writeFileSync(file, JSON.stringify(posted.tree.dump()));
    expect(await run(['rewards', 'claim', '--round', '1', '--tree', file])).toMatch(/^claimed round 1/);
    const { proof } = posted.tree.proofOf(bob.account)!;
    expect(await run(['rewards', 'claim', '--round', '1', '--amount', '4', '--proof', proof.join(','), '--account', bob.account])).toMatch(/^claimed 4 NXS for round 1/);
    expect(await bob.balanceOf()).toBe(nxs(100_004));
    await expect(run(['rewards', 'claim', '--round', '1', '--tree', file])).rejects.toMatchObject({ errorName: 'AlreadyClaimed' });
  });

  it('gov propose, vote, queue, execute and status change a parameter', async () => {
    const [alice, bob] = n.participants;
    await alice.delegate();
    await bob.delegate();
    const proposed = await run(['gov', 'propose', '--set', 'rewardPerRound=1500', '--description', 'More reward']);
    const id = /^proposal (\d+)/.exec(proposed)![1];
    await n.coordinator.gov.fastForward(BigInt(id));
    expect(await run(['gov', 'vote', id, 'for', '--reason', 'yes'])).toMatch(/^voted for on/);
    signer = bob;
    await run(['gov', 'vote', id, 'against']);
    expect(await run(['gov', 'status', id])).toMatch(/Active — More reward\n {2}for 100000 NXS, against 100000 NXS, abstain 0 NXS; quorum/);
    await n.coordinator.gov.fastForward(BigInt(id));
    expect(JSON.parse(await run(['gov', 'status', id, '--json']))).toMatchObject({ state: 'Defeated', proposalId: id });

    signer = alice;
    const second = /^proposal (\d+)/.exec(await run(['gov', 'propose', '--set', 'slashFractionBps=2500']))![1];
    await n.coordinator.gov.fastForward(BigInt(second));
    await run(['gov', 'vote', second, 'for']);
    expect(await run(['gov', 'fast-forward', second])).toBe(`${second}: Succeeded\n`);
    expect(await run(['gov', 'queue', second])).toMatch(/^queued/);
    await expect(run(['gov', 'execute', second])).rejects.toMatchObject({ errorName: 'TimelockUnexpectedOperationState' });
    expect(await run(['gov', 'fast-forward', second])).toBe(`${second}: Queued\n`);
    expect(await run(['gov', 'execute', second])).toMatch(/^executed/);
    await expect(run(['gov', 'fast-forward', second])).rejects.toMatchObject({ code: 'GOV_NOTHING_TO_WAIT_FOR' });
    expect((await alice.parameters()).slashFractionBps).toBe(2_500n);
  });

  it('slash show, contest and finalize; gov propose --cancel-slash and --uphold-slash', async () => {
    const [alice, bob] = n.participants;
    expect(await run(['slash', 'show'])).toBe(`${alice.account}: no open slash\n`);
    await alice.stake(nxs(1_000));
    const { evidence, challengeEndsAt } = await n.coordinator.proposeSlash(alice.account, 'round 2: cosine outlier');
    const shown = new Date(Number(challengeEndsAt) * 1000).toISOString();
    expect(await run(['slash', 'show', alice.account])).toBe(`${alice.account}: slash ${evidence} of 100 NXS, takes effect from ${shown} unless contested or cancelled before\n`);
    expect(JSON.parse(await run(['slash', 'show', '--json']))).toMatchObject({ account: alice.account, open: { evidence, amount: nxs(100).toString(), status: 'Pending' } });
    await expect(run(['slash', 'finalize', evidence])).rejects.toMatchObject({ errorName: 'ChallengePeriodNotOver' });
    signer = bob;
    await expect(run(['slash', 'contest', evidence, '--counter', 'not bob'])).rejects.toMatchObject({ errorName: 'NotAccused' });
    signer = alice;
    expect(await run(['slash', 'contest', evidence, '--counter', 'a fine-tune on new data'])).toMatch(new RegExp(`^contested ${evidence}; it takes effect only if governance upholds it before `));
    expect(await run(['slash', 'show'])).toMatch(/, contested; lapses at .* unless governance upholds it before\n$/);
    expect(await run(['gov', 'propose', '--uphold-slash', evidence, '--description', 'The update was scaled tenfold'])).toMatch(/^proposal \d+/);
    expect(await run(['gov', 'propose', '--cancel-slash', evidence])).toMatch(/^proposal \d+/);
    await n.conn.increaseTime(31 * 86_400);
    signer = bob;
    expect(await run(['slash', 'finalize', evidence])).toMatch(new RegExp(`^slash ${evidence} lapsed \\(tx`));
    expect((await alice.stakeOf()).active).toBe(nxs(1_000));

    const second = await n.coordinator.proposeSlash(alice.account, 'round 3: norm outlier');
    await n.conn.increaseTime(14 * 86_400);
    expect(await run(['slash', 'finalize', second.evidence])).toMatch(/took effect: 100 NXS at most to the treasury/);
    expect((await alice.stakeOf()).active).toBe(nxs(900));
  });

  it('turn bad input into one-line InvalidInputErrors (exit 2) before touching the chain', async () => {
    const cases: [string[], string][] = [
      [['token', 'transfer', 'nobody', '1'], 'CLI_BAD_ADDRESS'],
      [['token', 'delegate', '0x12'], 'CLI_BAD_ADDRESS'],
      [['token', 'transfer', n.addresses[2], 'lots'], 'CLI_BAD_AMOUNT'],
      [['token', 'transfer', n.addresses[2], '0'], 'CLI_BAD_AMOUNT'],
      [['stake', '-5'], 'CLI_BAD_AMOUNT'],
      [['unstake'], 'CLI_UNSTAKE_USAGE'],
      [['unstake', '5', '--withdraw'], 'CLI_UNSTAKE_USAGE'],
      [['rewards', 'claim', '--round', 'x', '--tree', 'f'], 'CLI_BAD_INTEGER'],
      [['rewards', 'claim', '--round', '1'], 'CLI_CLAIM_USAGE'],
      [['rewards', 'claim', '--round', '1', '--tree', join(dir, 'missing.json')], 'CLI_TREE_UNREADABLE'],
      [['rewards', 'claim', '--round', '1', '--amount', '1', '--proof', '0x12'], 'CLI_BAD_PROOF'],
      [['gov', 'propose', '--set', 'rewardPerRound'], 'CLI_BAD_PARAMETER'],
      [['gov', 'propose', '--set', 'quorum=5'], 'CLI_BAD_PARAMETER'],
      [['gov', 'propose', '--set', 'slashFractionBps=0.5'], 'CLI_BAD_INTEGER'],
      [['gov', 'vote', '1', 'maybe'], 'CLI_BAD_SUPPORT'],
      [['gov', 'propose'], 'CLI_PROPOSE_USAGE'],
      [['gov', 'propose', '--set', 'minimumStake=5', '--cancel-slash', `0x${'1'.repeat(64)}`], 'CLI_PROPOSE_USAGE'],
      [['gov', 'propose', '--uphold-slash', 'cheater'], 'CLI_BAD_EVIDENCE'],
      [['slash', 'finalize', '0x12'], 'CLI_BAD_EVIDENCE'],
      [['slash', 'contest', `0x${'1'.repeat(64)}`, '--counter', ' '], 'CLI_BAD_EVIDENCE'],
      [['slash', 'show', 'nobody'], 'CLI_BAD_ADDRESS'],
      [['gov', 'status', 'abc'], 'CLI_BAD_INTEGER'],
      [['gov', 'fast-forward', '-1'], 'CLI_BAD_INTEGER'],
      [['token', 'transfer', n.addresses[2], '1.0000000000000000001'], 'CLI_BAD_AMOUNT'],
    ];
    const before = await n.conn.publicClient.getBlockNumber({ cacheTime: 0 });
    for (const [args, code] of cases) {
      const error = await run(args).then(() => undefined, (e: unknown) => e);
      expect(error, args.join(' ')).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).code, args.join(' ')).toBe(code);
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        expect(reportError(error)).toBe(EXIT_USAGE);
        expect(stderr.mock.calls).toHaveLength(1);
      } finally {
        stderr.mockRestore();
      }
    }
    expect(await n.conn.publicClient.getBlockNumber({ cacheTime: 0 })).toBe(before);
  });
});
