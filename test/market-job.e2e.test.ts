import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keccak256, toBytes } from 'viem';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_DISPUTE_WINDOW_SECONDS, MarketClient, nxs, startEmbeddedNexus, type EmbeddedNexus } from '../src/chain/index.js';
import { ClientAgent } from '../src/client/index.js';
import { openStorage, type Storage } from '../src/core/index.js';
import { asset as assetRecord } from '../src/core/storage/market-contract.js';
import { demoConfig, prepareCoordinatedJob, type JobConfigInput } from '../src/fl/index.js';
import { loadParticipantKit, provisionWithLocalKeys, type ParticipantKit } from '../src/identity/index.js';
import {
  AccessGrantError,
  FileGrantUsage,
  GrantGate,
  Marketplace,
  accessGrantFromJson,
  accessGrantToJson,
  assetScope,
  jobConfigHash,
  marketDomain,
  signOrder,
  toOrderJson,
  type SignedAccessGrant,
} from '../src/market/index.js';
import { startCoordinator } from '../src/server/index.js';
import { rowSignatures, rowsFound, rowsMissedByControl } from './support/row-search.js';

/**
 * Compute-to-data through the network path: a buyer's grant from a settled fill admits exactly the
 * job it names on the owner's node, once per unit; the job's DP is charged to the asset's ledger
 * scope; any other job is refused before a row is read, and the coordinator records why.
 */

let dir: string;
let kitDir: string;
let kit: ParticipantKit;
let dataFile: string;
let n: EmbeddedNexus;
let operator: MarketClient;
let storage: Storage;
let grant: SignedAccessGrant;
let bought: JobConfigInput;

const base = demoConfig({ rounds: 2 });
// The job as the buyer wrote it and bought it: small, with DP (client-level), one participant.
const jobFile = (rounds: number): JobConfigInput => ({
  ...base,
  name: 'bought-digits',
  rounds,
  selection: { fraction: 1, minClients: 1 },
  training: { epochs: 1, batchSize: 32, learningRate: 0.05 },
  privacy: { dp: { mode: 'client', noiseMultiplier: 6, clipNorm: 5, budget: { epsilon: 2 } } },
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-market-job-'));
  kitDir = join(dir, 'kits');
  await provisionWithLocalKeys({ outDir: kitDir, participants: ['owner'], serverHost: '127.0.0.1', serverPort: 0 });
  kit = loadParticipantKit(join(kitDir, 'participants', 'owner', 'kit.json'));
  dataFile = join(dir, 'owner.csv');
  writeFileSync(dataFile, readFileSync('data/optdigits/optdigits.tra', 'utf8').trim().split('\n').slice(0, 400).join('\n') + '\n');

  n = await startEmbeddedNexus({ accounts: 3 });
  const [op, seller, buyer] = n.conn.accounts.map((a) => new MarketClient(n.conn, n.deployment, a));
  operator = op;
  const contentHash = keccak256(readFileSync(dataFile));
  const schemaHash = keccak256(toBytes('optdigits 64 features + digit'));
  const assetId = (await seller.listAsset({ contentHash, schemaHash, licence: 'CC-BY-4.0', category: 'vision', rows: 400n, consentFlags: 1, regionFlags: 1, epsilonMilli: 6_000 })).id;
  await buyer.approveEscrow(nxs(100));
  storage = openStorage({ path: join(dir, 'market.db') });
  bought = jobFile(2);
  const market = new Marketplace({
    storage,
    chain: operator,
    operator: operator.signer,
    describeJob: (config) => ({ rounds: (config as JobConfigInput).rounds ?? 0, epsilon: (config as JobConfigInput).privacy?.dp?.budget.epsilon ?? Infinity }),
  });
  await market.catalogue(
    assetRecord(assetId.toString(), {
      owner: seller.account,
      schemaHash: schemaHash.slice(2),
      contentHash: contentHash.slice(2),
      rows: 400,
      budget: { epsilon: 6, delta: 1e-5 },
      unit: { rounds: 3, epsilon: 2 },
    }),
  );
  const domain = marketDomain(n.conn.chain.id, n.deployment.escrow);
  const expiry = BigInt(Math.floor(Date.now() / 1000) + 3_600);
  await market.place(toOrderJson(await signOrder(seller.signer, domain, { assetId, side: 'ask', price: nxs(2), units: 1n, expiry, nonce: 1n, maker: seller.account })));
  const placed = await market.place(toOrderJson(await signOrder(buyer.signer, domain, { assetId, side: 'bid', price: nxs(2), units: 1n, expiry, nonce: 1n, maker: buyer.account })), {
    purpose: 'research',
    region: 'eu',
    jobConfig: bought,
  });
  grant = placed.sales[0].grant;
}, 120_000);
afterAll(async () => {
  await storage?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The owner's agent: admits a job only under a grant for its asset, counted in its own file; `onFrame` sees every message it sends. */
function ownerAgent(serverUrl: string, onFrame?: (message: Uint8Array) => void): ClientAgent {
  const gate = new GrantGate({
    domain: marketDomain(n.conn.chain.id, n.deployment.escrow),
    issuer: operator.account,
    assetId: grant.grant.assetId,
    usage: new FileGrantUsage(join(dir, 'usage.json')),
    revoked: async (fillId) => (await operator.readFill(`0x${fillId.toString(16).padStart(64, '0')}`)).status === 'Refunded',
    now: () => Math.floor(Date.now() / 1000),
  });
  return new ClientAgent({
    kit,
    dataFile,
    serverUrl,
    admitJob: async (jobId, offer) => {
      if (!offer) throw new AccessGrantError('GRANT_MISSING', `job ${jobId} carries no access grant`);
      await gate.admit(accessGrantFromJson(offer.grant), jobId, jobConfigHash(offer.config));
    },
    ...(onFrame ? { onFrame } : {}),
  });
}

async function serve(config: JobConfigInput, market: { grant: unknown; config: Record<string, unknown> } | undefined, audit: string) {
  const prepared = await prepareCoordinatedJob(config);
  const scoped = market ? { ...prepared, datasetId: assetScope(grant.grant.assetId.toString(), grant.grant.buyer).id } : prepared;
  return startCoordinator({ prepared: scoped, storage, kitDir, host: '127.0.0.1', port: 0, operatorPort: 0, auditFile: join(dir, audit), logLevel: 'silent', ...(market ? { market } : {}) });
}

describe('a job bought on the market, on the owner node', () => {
  it('runs the job the grant names, charging its epsilon to the asset for this buyer; the spent grant then admits no other job', async () => {
    const first = await serve(bought, { grant: accessGrantToJson(grant), config: bought as Record<string, unknown> }, 'first.jsonl');
    const frames: Buffer[] = [];
    try {
      const result = await ownerAgent(first.participantUrl, (m) => frames.push(Buffer.from(m))).run();
      expect(result.status).toBe('completed');
      expect(result.rounds).toBe(2);
    } finally {
      await first.close();
    }
    // The buyer's coordinator got two model updates from the owner, and no row of the owner's data in any frame.
    // The demo's 64-128-64-10 network: 17,226 float32 weights, about 69 KB an update.
    expect(frames.filter((f) => f.length > 60_000).length).toBe(2);
    const csv = readFileSync(dataFile, 'utf8');
    const rows = rowSignatures(csv);
    expect(rows.length).toBe(800);
    expect(rowsFound(frames, rows)).toEqual([]);
    // The control: the same search finds every row in the data as the file and as the model's input.
    expect(rowsMissedByControl(csv, rows)).toBe(0);
    const charges = await storage.privacy.listCharges(assetScope(grant.grant.assetId.toString(), grant.grant.buyer));
    expect(charges.map((c) => c.round)).toEqual([1, 2]);
    expect(charges[1].epsilonAfter).toBeGreaterThan(0);
    expect(charges[1].epsilonAfter).toBeLessThanOrEqual(2);

    // The coordinator posts the completion; once the buyer's dispute window has passed, the escrow pays the seller.
    const fillId = `0x${grant.grant.fillId.toString(16).padStart(64, '0')}` as const;
    const fill = await operator.readFill(fillId);
    const sellerBefore = (await operator.funds(fill.seller)).balance;
    await operator.complete(fillId, `0x${'ab'.repeat(32)}`, `0x${'00'.repeat(32)}`);
    await expect(operator.release(fillId)).rejects.toThrow();
    await n.conn.increaseTime(DEFAULT_DISPUTE_WINDOW_SECONDS + 1);
    await operator.release(fillId);
    expect((await operator.readFill(fillId)).status).toBe('Released');
    expect((await operator.funds(fill.seller)).balance).toBe(sellerBefore + fill.amount);

    // The same grant for a second job: its one unit is spent on this node.
    const second = await serve(bought, { grant: accessGrantToJson(grant), config: bought as Record<string, unknown> }, 'second.jsonl');
    try {
      await expect(ownerAgent(second.participantUrl).run()).rejects.toMatchObject({ code: 'GRANT_SPENT' });
      await vi.waitFor(() => expect(readFileSync(join(dir, 'second.jsonl'), 'utf8')).toMatch(/participant\.refused_job.*GRANT_SPENT/), { timeout: 10_000, interval: 50 });
    } finally {
      await second.close();
    }
  }, 180_000);

  it('refuses a job without a grant, and one whose configuration is not the one bought, before reading a row', async () => {
    const plain = await serve(bought, undefined, 'plain.jsonl');
    try {
      await expect(ownerAgent(plain.participantUrl).run()).rejects.toMatchObject({ code: 'GRANT_MISSING' });
    } finally {
      await plain.close();
    }
    const bigger = jobFile(3);
    const swapped = await serve(bigger, { grant: accessGrantToJson(grant), config: bigger as Record<string, unknown> }, 'swapped.jsonl');
    try {
      await expect(ownerAgent(swapped.participantUrl).run()).rejects.toMatchObject({ code: 'GRANT_CONFIG_MISMATCH' });
      // The agent leaves once its refusal is written to the socket; the coordinator reads and audits it a moment later.
      await vi.waitFor(() => expect(readFileSync(join(dir, 'swapped.jsonl'), 'utf8')).toMatch(/participant\.refused_job.*GRANT_CONFIG_MISMATCH/), { timeout: 10_000, interval: 50 });
    } finally {
      await swapped.close();
    }
  }, 120_000);
});
