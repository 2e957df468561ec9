import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarketClient, devPrivateKeys, loadDeployment, nxs, openChain } from '../src/chain/index.js';
import { readWireLog } from '../src/client/index.js';
import { connectStorage, verifyAuditTrail } from '../src/core/index.js';
import { demoConfig } from '../src/fl/index.js';
import { provisionWithLocalKeys } from '../src/identity/index.js';
import { freePort } from './support/free-port.js';
import { runCli, startChainServe, writeParticipantData } from './support/network.js';
import { rowSignatures, rowsFound, rowsMissedByControl } from './support/row-search.js';

/**
 * The data market end to end, every step its own `cipher-nexus` process: a development chain; the
 * owner lists its optdigits partition with an ask; the buyer's bid fills it and the NXS goes into
 * escrow; the buyer's coordinator runs the bought job with DP against the owner's node over mutual
 * TLS; the epsilon lands on the asset's ledger scope for the buyer; the escrow completes and, after
 * the dispute window, pays the owner, with no NXS made or lost; and the owner's node sent no row.
 */

// Development accounts of `chain serve`: 0 is the coordinator and market operator.
const OWNER = 1;
const BUYER = 2;
const PRICE = 2;

let dir: string;
let stopChain: (() => Promise<void>) | undefined;
let rpc: string;
let deployment: string;
let db: string;
let kitDir: string;
let ownerCsv: string;
let schemaFile: string;
let jobFile: string;

/** Runs one CLI command against the chain and the market's store and returns its output; fails the test unless it exits 0. */
async function cli(args: string[]): Promise<string> {
  const run = runCli(['--db', db, '--rpc', rpc, '--deployment', deployment, ...args], dir);
  expect(await run.exit, `${args.join(' ')}\n${run.output()}`).toBe(0);
  return run.output();
}

/** The JSON a `--json` command printed (its output ends with it; progress goes to stderr). */
const json = (output: string): unknown => JSON.parse(output.slice(output.search(/^[[{]/m)));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-market-processes-'));
  deployment = join(dir, 'chain.json');
  db = join(dir, 'market.db');
  // Started first: the chain comes up while the kits and data are written.
  const chain = startChainServe(dir, deployment, 3);
  kitDir = join(dir, 'kits');
  await provisionWithLocalKeys({ outDir: kitDir, participants: ['owner'], serverHost: '127.0.0.1', serverPort: await freePort() });
  // The owner's share of optdigits: one of five round-robin partitions, as the network tests split it.
  ownerCsv = writeParticipantData(dir, ['owner', 'p2', 'p3', 'p4', 'p5']).get('owner') as string;
  schemaFile = join(dir, 'schema.json');
  writeFileSync(schemaFile, JSON.stringify({ columns: [...Array.from({ length: 64 }, (_, i) => ({ name: `p${i}`, type: 'numeric' })), { name: 'digit', type: 'categorical' }], label: 'digit' }));
  jobFile = join(dir, 'job.json');
  // The buyer's job: small, two rounds, client-level DP within one access unit (epsilon 2).
  const job = {
    name: 'bought-digits',
    seed: 3,
    data: demoConfig().data,
    rounds: 2,
    selection: { fraction: 1, minClients: 1 },
    model: { type: 'mlp', hidden: [32] },
    training: { epochs: 1, batchSize: 32, learningRate: 0.05 },
    privacy: { dp: { mode: 'client', noiseMultiplier: 6, clipNorm: 5, budget: { epsilon: 2 } } },
  };
  writeFileSync(jobFile, JSON.stringify(job));
  ({ rpc, stop: stopChain } = await chain);
}, 60_000);

afterAll(async () => {
  await stopChain?.();
  rmSync(dir, { recursive: true, force: true });
});

describe('the data market across processes', () => {
  it('lists, sells, runs the bought job on the owner node with DP charged to the asset, pays the owner from escrow, and no row leaves the owner', async () => {
    const conn = await openChain({ rpcUrl: rpc, privateKeys: devPrivateKeys(3) });
    const reader = new MarketClient(conn, loadDeployment(deployment));
    const [operator, owner, buyer] = conn.accounts.map((a) => a.address);
    const escrow = reader.deployment.escrow;
    const holders: Address[] = [operator, owner, buyer, escrow];
    const balances = async (): Promise<bigint[]> => Promise.all(holders.map(async (a) => (await reader.funds(a)).balance));

    // The owner lists its partition and asks PRICE NXS for one unit (a job of at most 2 rounds, epsilon 2).
    const listed = json(
      await cli([
        '--dev-account', String(OWNER), 'market', 'list', '--csv', ownerCsv, '--schema', schemaFile, '--title', 'Handwritten digits, one clinic',
        '--category', 'vision', '--task', 'classification', '--licence', 'CC-BY-4.0', '--region', 'eu', '--consent', 'research',
        '--budget-epsilon', '6', '--unit-rounds', '2', '--unit-epsilon', '2', '--price', String(PRICE), '--units', '1', '--json',
      ]),
    ) as { assetId: string; rows: number; ask: { status: string } };
    const rows = readFileSync(ownerCsv, 'utf8').trim().split('\n').length;
    expect(listed).toMatchObject({ rows, ask: { status: 'open' } });
    const assetId = listed.assetId;

    // The buyer's bid, with its approval, fills against the ask: the price moves into escrow.
    const before = await balances();
    const placed = json(
      await cli([
        '--dev-account', String(BUYER), 'market', 'order', '--asset', assetId, '--side', 'bid', '--price', String(PRICE), '--units', '1',
        '--purpose', 'research', '--region', 'eu', '--job', jobFile, '--approve', '--grant-out', join(dir, 'grants'), '--json',
      ]),
    ) as { order: { status: string }; fills: { id: `0x${string}`; grantFile: string }[] };
    expect(placed.order.status).toBe('filled');
    expect(placed.fills).toHaveLength(1);
    const { id: fillId, grantFile } = placed.fills[0];
    expect(json(await cli(['market', 'fills', assetId, '--json']))).toEqual([
      expect.objectContaining({ id: fillId, units: 1, price: nxs(PRICE).toString(), status: 'settled', buyer: buyer.toLowerCase(), seller: owner.toLowerCase() }),
    ]);
    const held = await balances();
    expect(held[2]).toBe(before[2] - nxs(PRICE));
    expect(held[3]).toBe(before[3] + nxs(PRICE));
    expect((await reader.readFill(fillId)).status).toBe('Held');

    // The buyer's coordinator runs the job the grant names; the owner's node serves it under the grant.
    const wireLog = join(dir, 'owner-wire.bin');
    const reportFile = join(dir, 'report.json');
    const coordinator = runCli(['--db', db, '--rpc', rpc, '--deployment', deployment, 'serve', '--config', jobFile, '--grant', grantFile, '--kit-dir', kitDir, '--operator-port', '0', '--report', reportFile, '--log-level', 'warn'], dir);
    const node = runCli(
      [
        '--rpc', rpc, '--deployment', deployment, 'client', '--key', join(kitDir, 'participants', 'owner', 'kit.json'), '--data', ownerCsv,
        '--asset', assetId, '--market-operator', operator, '--grant-usage', join(dir, 'usage.json'), '--audit', join(dir, 'owner-audit.jsonl'), '--wire-log', wireLog,
      ],
      dir,
    );
    const [served, client] = await Promise.all([coordinator.exit, node.exit]);
    expect(served, coordinator.output()).toBe(0);
    expect(client, node.output()).toBe(0);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { status: string; rounds: { participants: string[] }[] };
    expect(report.status).toBe('completed');
    expect(report.rounds.map((r) => r.participants)).toEqual([['owner'], ['owner']]);
    expect(coordinator.output()).toMatch(new RegExp(`fill ${fillId} completed on chain`));
    const ownerAudit = readFileSync(join(dir, 'owner-audit.jsonl'), 'utf8');
    expect(ownerAudit).toMatch(/"grant\.admitted"/);
    expect(ownerAudit.match(/"task\.served"/g)).toHaveLength(2);
    expect(verifyAuditTrail(join(dir, 'owner-audit.jsonl')).ok).toBe(true);

    // Each round's epsilon was charged to the asset's scope for this buyer, within the unit bought.
    const storage = await connectStorage(db);
    const [charges, grant, fill] = await Promise.all([
      storage.privacy.listCharges({ kind: 'dataset', id: `asset/${assetId}/${buyer.toLowerCase()}` }),
      storage.market.getGrant(fillId),
      storage.market.getFill(fillId),
    ]).finally(() => storage.close());
    // The coordinator counted the job against the grant (its one unit: spent) and recorded the completion.
    expect(grant).toMatchObject({ used: 1, units: 1, status: 'spent' });
    expect(fill?.status).toBe('completed');
    expect(coordinator.output()).toMatch(new RegExp(`grant of fill ${fillId}: 1 of 1 job\\(s\\) run \\(spent\\)`));
    expect(charges.map((c) => c.round)).toEqual([1, 2]);
    expect(charges[0].epsilonAfter).toBeGreaterThan(0);
    expect(charges[1].epsilonAfter).toBeGreaterThan(charges[0].epsilonAfter);
    expect(charges[1].epsilonAfter).toBeLessThanOrEqual(2);

    // Completed: the buyer's dispute window (a contract parameter, 3 days on `chain serve`) keeps the NXS in escrow.
    const completed = await reader.readFill(fillId);
    expect(completed.status).toBe('Completed');
    const now = (await conn.publicClient.getBlock()).timestamp;
    expect(completed.disputeUntil).toBeGreaterThan(now);
    await expect(new MarketClient(conn, reader.deployment, conn.accounts[OWNER]).release(fillId)).rejects.toThrow(/DisputeWindowOpen/);
    expect(await balances()).toEqual(held);
    // The dev chain's clock moves past the window; then anyone, here the owner, releases the payment.
    await conn.increaseTime(completed.disputeUntil - now + 1n);
    expect(await cli(['--dev-account', String(OWNER), 'market', 'release', fillId])).toMatch(new RegExp(`^released fill ${fillId}: ${PRICE} NXS paid to the seller ${owner}`));
    expect((await reader.readFill(fillId)).status).toBe('Released');
    const store = await connectStorage(db);
    expect((await store.market.getFill(fillId).finally(() => store.close()))?.status).toBe('released');
    const after = await balances();
    expect(after[1]).toBe(before[1] + nxs(PRICE));
    expect(after[2]).toBe(before[2] - nxs(PRICE));
    expect(after[3]).toBe(before[3]);
    expect(after[0]).toBe(before[0]);
    const total = (xs: bigint[]): bigint => xs.reduce((a, b) => a + b, 0n);
    expect(total(after)).toBe(total(before));

    // What the owner's node sent, every message as signed and handed to TLS: two model updates and no row.
    const frames = readWireLog(wireLog);
    // The 64-32-10 network: 2,410 float32 weights, about 9.6 KB an update; every other message is under 2 KB.
    expect(frames.filter((f) => f.length > 9_000)).toHaveLength(2);
    const csv = readFileSync(ownerCsv, 'utf8');
    const signatures = rowSignatures(csv);
    expect(signatures).toHaveLength(2 * rows);
    expect(rowsFound(frames, signatures)).toEqual([]);
    // The control: the same search finds every row in the data, and would find one had it been sent.
    expect(rowsMissedByControl(csv, signatures)).toBe(0);
    expect(rowsFound([...frames, Buffer.concat([frames[0], signatures[7]])], signatures)).toEqual([signatures[7]]);
  }, 120_000);
});
