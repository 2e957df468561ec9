import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { keccak256, toBytes, type Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MarketClient, nxs, startEmbeddedNexus, type ChainClient, type EmbeddedNexus } from '../chain/index.js';
import { InvalidInputError, connectStorage } from '../core/index.js';
import { directoryOfServerKit, loadServerKit, participantKitPath, provisionWithLocalKeys, serverKitPath } from '../identity/index.js';
import { accessGrantFromJson, marketDomain, openAsset, recordGrantJob, verifyAccessGrant, verifyQualityReport } from '../market/index.js';
import { registerMarketCommands } from './market-command.js';
import { EXIT_FAILURE, EXIT_USAGE, reportError } from './output.js';
import { runCliToEnd } from '../../test/support/cli-run.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

let n: EmbeddedNexus;
let dir: string;
let db: string;
let signer: ChainClient;
let owner: ChainClient;
let buyer: ChainClient;
let csv: string;
let schema: string;
let job: string;
let jobWithoutDp: string;
let assetId: string;
let fillId: Hex;
let grantFile: string;

beforeAll(async () => {
  n = await startEmbeddedNexus({ accounts: 3, allocation: nxs(10_000) });
  [owner, buyer] = n.participants;
  dir = mkdtempSync(join(tmpdir(), 'cn-market-cli-'));
  db = join(dir, 'db.sqlite');
  csv = join(dir, 'digits.csv');
  const rows = readFileSync(join(root, 'data', 'optdigits', 'optdigits.tes'), 'utf8').split('\n').slice(0, 200);
  writeFileSync(csv, `${rows.join('\n')}\n`);
  schema = join(dir, 'schema.json');
  const columns = [...Array.from({ length: 64 }, (_, i) => ({ name: `p${i}`, type: 'numeric' })), { name: 'digit', type: 'categorical' }];
  writeFileSync(schema, JSON.stringify({ columns, label: 'digit' }));
  const config = { name: 'digits-buyer', data: { train: 'owner.csv', test: 'holdout.csv', labelColumn: 64 }, rounds: 3 };
  job = join(dir, 'job.json');
  writeFileSync(job, JSON.stringify({ ...config, privacy: { dp: { mode: 'sample', noiseMultiplier: 1, clipNorm: 1, budget: { epsilon: 2 } } } }));
  jobWithoutDp = join(dir, 'job-no-dp.json');
  writeFileSync(jobWithoutDp, JSON.stringify(config));
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the market commands in-process as `signer` over the test's store, returning stdout. */
async function run(args: string[]): Promise<string> {
  const program = new Command('cipher-nexus').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerMarketCommands(program, { open: async () => signer, storage: () => connectStorage(db) });
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['market', ...args], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}

const bid = (extra: string[] = []) => ['order', '--asset', assetId, '--side', 'bid', '--price', '4', '--units', '1', '--purpose', 'research', '--region', 'eu', '--job', job, ...extra];

describe('market commands', () => {
  it('an owner lists a data set and asks; a buyer bids with a DP job and gets a grant; book, fills, show, price and a rating show it', async () => {
    signer = owner;
    process.env.CN_TEST_VAULT = 'correct horse battery staple';
    const vault = join(dir, 'digits.vault');
    const listed = JSON.parse(
      await run([
        'list', '--csv', csv, '--schema', schema, '--title', 'Handwritten digits', '--category', 'vision', '--task', 'classification',
        '--licence', 'CC-BY-4.0', '--region', 'eu,uk', '--consent', 'research', '--budget-epsilon', '8', '--unit-rounds', '5', '--unit-epsilon', '2',
        '--vault', vault, '--passphrase-env', 'CN_TEST_VAULT', '--json',
      ]),
    );
    assetId = listed.assetId;
    expect(listed).toMatchObject({ rows: 200, qualitySigned: false, ask: null });
    expect(Buffer.from(openAsset(readFileSync(vault), assetId, 'correct horse battery staple'))).toEqual(readFileSync(csv));
    const onChain = await new MarketClient(n.conn, n.deployment).getAsset(BigInt(assetId));
    // eu and uk are region bits 1 and 2; research is consent bit 0; the budget is epsilon times 1,000.
    expect(onChain).toMatchObject({ owner: owner.account, rows: 200n, regionFlags: 0b110, consentFlags: 1, epsilonMilli: 8_000, category: 'vision', contentHash: `0x${listed.contentHash}` });
    expect(await run(['order', '--asset', assetId, '--side', 'ask', '--price', '3', '--units', '2'])).toMatch(/^order 0x[0-9a-f]{64} \(nonce 1\): ask 2 unit\(s\) of asset \d+ at 3 NXS; 2 resting on the book\n$/);

    signer = buyer;
    const buyerBefore = await buyer.balanceOf();
    const grants = join(dir, 'grants');
    const placed = JSON.parse(await run(bid(['--approve', '--grant-out', grants, '--json'])));
    expect(placed.order).toMatchObject({ side: 'bid', status: 'filled', remaining: 0 });
    expect(placed.fills).toHaveLength(1);
    fillId = placed.fills[0].id;
    grantFile = placed.fills[0].grantFile;
    expect(grantFile).toBe(join(grants, `${fillId}.json`));
    const grant = accessGrantFromJson(JSON.parse(readFileSync(grantFile, 'utf8')));
    const now = Number((await n.conn.publicClient.getBlock()).timestamp);
    expect(await verifyAccessGrant(marketDomain(n.conn.chain.id, n.deployment.escrow), grant, n.coordinator.account, now)).toMatchObject({ assetId: BigInt(assetId), buyer: buyer.account, units: 1 });
    // The resting ask's price, not the bid's, moved into escrow.
    expect(await buyer.balanceOf()).toBe(buyerBefore - nxs(3));
    expect(await run(['grant', 'show', grantFile])).toMatch(/signature: valid\n {2}jobs run: 0 of 1 \(active\)\n {2}escrow: Held, 3 NXS for 1 unit\(s\) at 3 NXS\n$/);
    // serve --grant counts a job that ran to its end; grant show reads the count from the store.
    const store = await connectStorage(db);
    await recordGrantJob(store, fillId, now).finally(() => store.close());
    expect(JSON.parse(await run(['grant', 'show', grantFile, '--json']))).toMatchObject({ fillId, use: { used: 1, units: 1, status: 'spent' }, escrow: { status: 'Held' } });

    expect(await run(['book', assetId])).toMatch(/ask +3 NXS +1 unit\(s\) +1 order\(s\)\n {2}---\n$/);
    expect(JSON.parse(await run(['fills', '--json']))).toEqual([expect.objectContaining({ id: fillId, assetId, units: 1, price: nxs(3).toString(), status: 'settled', buyer: buyer.account.toLowerCase() })]);
    expect(JSON.parse(await run(['price', assetId, '--json']))).toMatchObject({ last: nxs(3).toString() });
    expect(JSON.parse(await run(['search', 'digits', '--max-price', '5', '--json']))).toEqual([expect.objectContaining({ id: assetId, bestAsk: nxs(3).toString() })]);

    // A buyer rates once the job has completed on chain.
    await expect(run(['rate', fillId, '--score', '4'])).rejects.toMatchObject({ code: 'RATING_NOT_A_BUYER' });
    const digest = keccak256(toBytes('final model'));
    await new MarketClient(n.conn, n.deployment, n.conn.accounts[0]).complete(fillId, digest, digest);
    expect(await run(['rate', fillId, '--score', '4'])).toBe(`rated asset ${assetId} 4/5 for fill ${fillId}\n`);
    await expect(run(['rate', fillId, '--score', '5'])).rejects.toMatchObject({ code: 'MARKET_RATING_DUPLICATE' });

    const shown = JSON.parse(await run(['show', assetId, '--json']));
    expect(shown).toMatchObject({
      asset: { id: assetId, title: 'Handwritten digits', regions: ['eu', 'uk'], unit: { rounds: 5, epsilon: 2 } },
      quality: { rows: 200, schemaValid: true, classes: 10, signedBy: null },
      rating: { count: 1 },
      bestAsk: { price: nxs(3).toString(), units: '1' },
      price: { last: nxs(3).toString() },
    });
    expect(await run(['show', assetId])).toMatch(/quality: 200 rows, schema valid, .* unsigned\n {2}rating: .*\n {2}book: best ask 3 NXS \(1 unit\(s\)\), best bid none\n {2}price: last 3 NXS at /);

    signer = owner;
    expect(await run(['cancel', '--asset', assetId, '--nonce', '1'])).toMatch(/^cancelled order 0x[0-9a-f]{64} \(nonce 1\): 1 unit\(s\) off the book/);
    expect(await run(['book', assetId])).toBe(`asset ${assetId}: the book is empty\n`);
    expect(await run(['order', '--asset', assetId, '--side', 'ask', '--price', '3', '--units', '1'])).toMatch(/\(nonce 2\)/);
  }, 60_000);

  it('refuse bad input with one line and exit 2, leaving orders, balances and the ledger unchanged', async () => {
    const storage = await connectStorage(db);
    const snapshot = async () => ({
      orders: (await storage.market.listOrders()).map((o) => `${o.hash}:${o.status}:${o.remaining}`),
      fills: (await storage.market.listFills()).length,
      funds: await new MarketClient(n.conn, n.deployment).funds(buyer.account),
      block: await n.conn.publicClient.getBlockNumber({ cacheTime: 0 }),
      budgets: (await storage.privacy.listCharges({ kind: 'dataset', id: `asset/${assetId}/${buyer.account.toLowerCase()}` })).length,
    });
    const before = await snapshot();
    signer = buyer;
    const cases: [string[], string][] = [
      [bid(['--price', '0']), 'CLI_BAD_AMOUNT'],
      [['order', '--asset', assetId, '--side', 'bid', '--price', '-1', '--units', '1'], 'CLI_BAD_AMOUNT'],
      [['order', '--asset', '999', '--side', 'bid', '--price', '4', '--units', '1', '--purpose', 'research', '--region', 'eu', '--job', job], 'MARKET_ASSET_UNKNOWN'],
      [bid(['--region', 'us']), 'MARKET_NONCOMPLIANT'],
      [bid(['--region', 'us', '--approve']), 'MARKET_NONCOMPLIANT'],
      [bid(['--job', jobWithoutDp]), 'MARKET_JOB_NO_DP'],
      [bid(['--units', '5']), 'MARKET_BUDGET_EXCEEDED'],
      [['order', '--asset', assetId, '--side', 'bid', '--price', '4', '--units', '1'], 'MARKET_INTENT_REQUIRED'],
      [['order', '--asset', assetId, '--side', 'buy', '--price', '4', '--units', '1'], 'CLI_BAD_SIDE'],
      [bid(['--expiry', '2001-01-01T00:00:00Z']), 'CLI_BAD_EXPIRY'],
      [['order', '--asset', assetId, '--side', 'ask', '--price', '3', '--units', '1'], 'MARKET_NOT_OWNER'],
      [['show', '999'], 'MARKET_ASSET_UNKNOWN'],
      [['book', 'x'], 'CLI_BAD_ASSET'],
      [['cancel', '--asset', assetId, '--nonce', '77'], 'MARKET_ORDER_UNKNOWN'],
      [['grant', 'revoke', fillId], 'MARKET_NOT_SELLER'],
      [['dispute', '0x12'], 'CLI_BAD_FILL'],
      [['release', fillId], 'MARKET_DISPUTE_WINDOW_OPEN'],
      [['release', `0x${'0'.repeat(64)}`], 'MARKET_FILL_UNKNOWN'],
      [['rate', fillId, '--score', '9'], 'RATING_OUT_OF_RANGE'],
      [['grant', 'show', join(dir, 'missing.json')], 'CLI_GRANT_UNREADABLE'],
      [['quality', csv, '--schema', job], 'DATA_SCHEMA_INVALID'],
      [
        ['list', '--csv', csv, '--schema', schema, '--title', 't', '--category', 'vision', '--task', 'classification', '--licence', 'CC-BY-4.0', '--region', 'mars', '--consent', 'research', '--budget-epsilon', '8', '--unit-rounds', '5', '--unit-epsilon', '2'],
        'MARKET_UNKNOWN_REGION',
      ],
      [
        ['list', '--csv', csv, '--schema', schema, '--title', 't', '--category', 'vision', '--task', 'classification', '--licence', 'CC-BY-4.0', '--region', 'eu', '--consent', 'research', '--budget-epsilon', '1', '--unit-rounds', '5', '--unit-epsilon', '2'],
        'MARKET_UNIT_OVER_BUDGET',
      ],
    ];
    try {
      for (const [args, code] of cases) {
        const error = await run(args).then(() => undefined, (e: unknown) => e);
        expect(error, args.join(' ')).toBeInstanceOf(InvalidInputError);
        expect((error as InvalidInputError).code, args.join(' ')).toBe(code);
        const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
        try {
          expect(reportError(error)).toBe(EXIT_USAGE);
          expect(stderr.mock.calls).toHaveLength(1);
          expect(String(stderr.mock.calls[0][0])).toMatch(new RegExp(`^error \\[${code}\\]: [^\\n]+\\n$`));
        } finally {
          stderr.mockRestore();
        }
      }
      expect(await snapshot()).toEqual(before);
    } finally {
      await storage.close();
    }
  }, 60_000);

  it('an owner lists with a signed quality report and an ask at once, and revokes a sale before use, refunding the buyer; a buyer disputes a completed fill', async () => {
    const kits = join(dir, 'kits');
    await provisionWithLocalKeys({ outDir: kits, participants: ['clinic-a'], serverHost: '127.0.0.1', serverPort: 8443 });
    signer = owner;
    const listed = JSON.parse(
      await run([
        'list', '--csv', csv, '--schema', schema, '--title', 'Digits, commercial', '--category', 'vision', '--task', 'classification', '--licence', 'CC-BY-4.0',
        '--region', 'global', '--consent', 'research,commercial', '--budget-epsilon', '4', '--unit-rounds', '3', '--unit-epsilon', '2', '--price', '2', '--units', '1',
        '--kit', participantKitPath(kits, 'clinic-a'), '--json',
      ]),
    );
    expect(listed).toMatchObject({ qualitySigned: true });
    const storage = await connectStorage(db);
    const catalogued = await storage.market.getAsset(listed.assetId);
    await storage.close();
    expect(verifyQualityReport(catalogued?.quality, directoryOfServerKit(loadServerKit(serverKitPath(kits))), { contentHash: listed.contentHash })).toMatchObject({ rowCount: 200 });
    expect(listed.ask).toMatchObject({ side: 'ask', status: 'open', remaining: 1, nonce: '3' });
    signer = buyer;
    const before = await buyer.balanceOf();
    const grants = join(dir, 'grants-2');
    expect(await run(['approve', '2'])).toMatch(/^the escrow may take up to 2 NXS of yours for your bids \(tx/);
    const placed = JSON.parse(await run(['order', '--asset', listed.assetId, '--side', 'bid', '--price', '2', '--units', '1', '--purpose', 'commercial', '--region', 'us', '--job', job, '--grant-out', grants, '--json']));
    const sold: string = placed.fills[0].id;
    expect(await buyer.balanceOf()).toBe(before - nxs(2));

    signer = owner;
    expect(await run(['grant', 'revoke', sold])).toMatch(new RegExp(`^revoked the grant of fill ${sold}; 2 NXS refunded to ${buyer.account} \\(tx`));
    expect(await buyer.balanceOf()).toBe(before);
    expect(await run(['grant', 'show', join(grants, `${sold}.json`)])).toMatch(/escrow: Refunded/);
    await expect(run(['grant', 'revoke', sold])).rejects.toMatchObject({ code: 'MARKET_FILL_NOT_HELD' });
    await expect(run(['release', sold])).rejects.toMatchObject({ code: 'MARKET_FILL_NOT_COMPLETED' });

    signer = buyer;
    expect(await run(['dispute', fillId])).toMatch(new RegExp(`^disputed fill ${fillId}: 3 NXS stays in escrow until the arbiter decides`));
    const fills = JSON.parse(await run(['fills', '--json'])) as { id: string; status: string }[];
    expect(Object.fromEntries(fills.map((f) => [f.id, f.status]))).toEqual({ [fillId]: 'disputed', [sold]: 'revoked' });
  }, 60_000);

  it('a match the chain refuses to settle is no fault of the input: exit 1, not 2', async () => {
    signer = owner;
    const listed = JSON.parse(
      await run([
        'list', '--csv', csv, '--schema', schema, '--title', 'Digits, withdrawn ask', '--category', 'vision', '--task', 'classification', '--licence', 'CC-BY-4.0',
        '--region', 'eu', '--consent', 'research', '--budget-epsilon', '4', '--unit-rounds', '3', '--unit-epsilon', '2', '--price', '1', '--units', '1', '--json',
      ]),
    );
    // The owner cancels the ask's nonce on chain from elsewhere: the book still holds it, the escrow refuses it.
    await new MarketClient(n.conn, n.deployment, owner.signer).cancelNonce(BigInt(listed.ask.nonce));
    signer = buyer;
    const error = await run(['order', '--asset', listed.assetId, '--side', 'bid', '--price', '1', '--units', '1', '--purpose', 'research', '--region', 'eu', '--job', job, '--approve']).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'MARKET_SETTLEMENT_FAILED' });
    expect(error).not.toBeInstanceOf(InvalidInputError);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(reportError(error)).toBe(EXIT_FAILURE);
    } finally {
      stderr.mockRestore();
    }
  }, 60_000);

  it('the program wires `market`: a refusal from a separate process is one line and exit 2', async () => {
    const cli = (args: string[]) => runCliToEnd(args, { cwd: dir, env: { ...process.env, CIPHER_NEXUS_DEBUG: '', CIPHER_NEXUS_RPC: '', CIPHER_NEXUS_DB: db } });
    const quality = await cli(['market', 'quality', csv, '--schema', schema]);
    expect(quality.code, quality.stderr).toBe(0);
    expect(quality.stdout).toMatch(/^.*digits\.csv: 200 rows, schema valid/);
    const refused = await cli(['market', 'order', '--asset', '1', '--side', 'bid', '--price', '0', '--units', '1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error \[CLI_BAD_AMOUNT\]: --price must be more than 0, got '0'\n$/);
    expect(existsSync(join(dir, '.cipher-nexus'))).toBe(false);
  }, 30_000);
});
