import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NexusClient, devPrivateKeys, loadDeployment, nxs, openChain } from '../chain/index.js';
import { runCliToEnd, type CommandResult } from '../../test/support/cli-run.js';

// The chain commands across processes: one `chain serve`, and each command a separate process.
// Each spawn loads TypeScript through tsx and shares the CPU with the rest of the suite, hence the long time limits.
const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const main = join(root, 'src', 'cli', 'main.ts');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

let dir: string;
let deployment: string;
let server: ChildProcess;
let url: string;

function cli(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return runCliToEnd(['--deployment', deployment, ...args], { cwd: dir, env: { ...process.env, CIPHER_NEXUS_DEBUG: '', CIPHER_NEXUS_RPC: url, CIPHER_NEXUS_DB: join(dir, 'db.sqlite'), ...env } });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-chain-serve-'));
  deployment = join(dir, 'chain.json');
  server = spawn(process.execPath, ['--import', tsx, main, '--deployment', deployment, 'chain', 'serve', '--port', '0', '--accounts', '5'], { cwd: dir, env: { ...process.env } });
  url = await new Promise<string>((done, fail) => {
    let out = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /at (http:\/\/127\.0\.0\.1:\d+) /.exec(out);
      if (match && out.includes('stop with Ctrl-C')) done(match[1]);
    });
    server.once('exit', (code) => fail(new Error(`chain serve exited with ${code}: ${out}`)));
  });
}, 60_000);
afterAll(async () => {
  if (server.exitCode === null) {
    const exited = new Promise((done) => server.once('exit', done));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('chain commands against `chain serve`', () => {
  it('serve writes the deployment and lists the funded development accounts', async () => {
    const d = loadDeployment(deployment);
    expect(d.chainId).toBe(31337);
    const r = await cli(['token', 'balance', '--json', '--dev-account', '4']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ balance: nxs(100_000).toString(), stake: { active: '0' } });
  });

  it('stake, transfer and a reward claim from a published tree, each in its own process', async () => {
    expect((await cli(['stake', '150', '--dev-account', '1'])).stdout).toMatch(/^staked 150 NXS; eligible/);
    const [, alice, bob] = devPrivateKeys(3);
    const conn = await openChain({ rpcUrl: url, privateKeys: [devPrivateKeys(1)[0], alice, bob] });
    const coordinator = new NexusClient(conn, loadDeployment(deployment), conn.accounts[0]);
    const [a, b] = [conn.accounts[1].address, conn.accounts[2].address];
    expect((await cli(['token', 'transfer', b, '2.5', '--dev-account', '1'])).stdout).toMatch(/^sent 2\.5 NXS to/);
    const posted = await coordinator.postRewardRoot(1n, [{ account: a, amount: nxs(3) }, { account: b, amount: nxs(4) }]);
    writeFileSync(join(dir, 'round-1.json'), JSON.stringify(posted.tree.dump()));
    expect((await cli(['rewards', 'claim', '--round', '1', '--tree', 'round-1.json', '--dev-account', '2'])).stdout).toMatch(/^claimed round 1/);
    expect(await coordinator.balanceOf(b)).toBe(nxs(100_000 + 2.5 + 4));
    const again = await cli(['rewards', 'claim', '--round', '1', '--tree', 'round-1.json', '--dev-account', '2']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error \[CHAIN_REVERTED\]: claiming round 1 was refused by the contract: AlreadyClaimed\(1, 0x[0-9a-fA-F]{40}\)\n$/);
  }, 120_000);

  it('governance from proposal to execution, the timelock waited out with fast-forward', async () => {
    // 100,000 NXS of account 3's votes reach the 4% quorum of 1,500,000 NXS (five accounts and the reward pool).
    expect((await cli(['token', 'delegate', '--dev-account', '3'])).stdout).toMatch(/delegated to itself; 100000 NXS of votes there now/);
    const id = /^proposal (\d+)/.exec((await cli(['gov', 'propose', '--set', 'rewardPerRound=2000', '--description', 'Pay 2,000 NXS per round', '--dev-account', '3'])).stdout)?.[1] as string;
    expect(id).toMatch(/^\d+$/);
    expect((await cli(['gov', 'fast-forward', id])).stdout).toBe(`${id}: Active\n`);
    expect((await cli(['gov', 'vote', id, 'for', '--dev-account', '3'])).stdout).toMatch(/^voted for on/);
    expect((await cli(['gov', 'fast-forward', id])).stdout).toBe(`${id}: Succeeded\n`);
    expect((await cli(['gov', 'queue', id])).stdout).toMatch(/^queued/);
    const early = await cli(['gov', 'execute', id]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^error \[CHAIN_REVERTED\]: executing was refused by the contract: TimelockUnexpectedOperationState/);
    expect((await cli(['gov', 'fast-forward', id])).stdout).toBe(`${id}: Queued\n`);
    expect((await cli(['gov', 'execute', id])).stdout).toMatch(/^executed/);
    expect(JSON.parse((await cli(['gov', 'status', id, '--json'])).stdout)).toMatchObject({ state: 'Executed', forVotes: nxs(100_000).toString(), description: 'Pay 2,000 NXS per round' });
  }, 240_000);

  it('bad input and a missing endpoint or deployment fail with one line and exit 2', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['stake', 'lots'], {}, /^error \[CLI_BAD_AMOUNT\]: the stake must be a number of NXS like 12 or 0\.5, got 'lots'\n$/],
      [['token', 'balance', '--dev-account', 'x'], {}, /^error \[CLI_BAD_INTEGER\]: --dev-account must be a non-negative integer, got 'x'\n$/],
      [['token', 'balance'], { CIPHER_NEXUS_RPC: '' }, /^error \[CLI_NO_RPC\]: chain commands need a running chain: start one with `cipher-nexus chain serve`/],
      [['token', 'balance', '--deployment', join(dir, 'none.json')], {}, /^error \[CHAIN_DEPLOYMENT_MISSING\]: no deployment file at/],
      [['gov', 'vote', '1', 'maybe'], {}, /^error \[CLI_BAD_SUPPORT\]/],
      [['chain', 'serve', '--port', '99999'], {}, /^error \[CLI_BAD_INTEGER\]: --port must be 0 to 65535/],
    ];
    for (const [args, env, pattern] of cases) {
      const r = await cli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(pattern);
      expect(r.stderr.split('\n').filter(Boolean), args.join(' ')).toHaveLength(1);
    }
  }, 180_000);

  it('the demo runs on the served chain with the governed reward, and its balances are the chain\'s', async () => {
    const r = await cli(['demo', '--clients', '3', '--rounds', '2', '--in-process', '--json', '--report', 'demo.json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8'));
    expect(report.chain.network).toBe(`${url}, chain 31337`);
    expect(report.chain.rewardPerRound.display).toBe('2000 NXS');
    expect(report.chain.rewardRoots).toHaveLength(2);
    // Round 1 was posted by the claim test above: the demo's rounds continue the chain's numbering.
    expect(report.rounds.map((x: { settlement: { ledgerRound: string } }) => x.settlement.ledgerRound)).toEqual(['2', '3']);
    const first = report.chain.balances[0];
    const balance = JSON.parse((await cli(['token', 'balance', first.account, '--json'])).stdout).balance;
    expect(balance).toBe(first.balance.units);
  }, 240_000);
});
