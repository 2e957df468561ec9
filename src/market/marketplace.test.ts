import fc from 'fast-check';
import { keccak256, toBytes, type Address } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MarketClient, nxs, startEmbeddedNexus, type EmbeddedNexus } from '../chain/index.js';
import { openStorage, type MarketAssetRecord, type Storage } from '../core/index.js';
import { asset as assetRecord } from '../core/storage/market-contract.js';
import { verifyAccessGrant } from './access-grant.js';
import { assetScope } from './asset-budget.js';
import { Marketplace } from './marketplace.js';
import { marketDomain, signOrder, toOrderJson, type Order } from './order.js';

let n: EmbeddedNexus;
let operator: MarketClient;
let seller: MarketClient;
let buyer: MarketClient;
let stranger: MarketClient;
let buyer2: MarketClient;
let assetId: bigint;
let storage: Storage;
let market: Marketplace;
let nonce = 1n;

const contentHash = keccak256(toBytes('optdigits partition 0'));
const schemaHash = keccak256(toBytes('optdigits schema'));
const jobConfig = { rounds: 3, privacy: { dp: { budget: { epsilon: 2 } } } };
const intent = { purpose: 'research', region: 'eu', jobConfig };
/** The surface's reading of a job's size; here the test's own small config shape. */
const describeJob = (config: unknown) => {
  const c = config as typeof jobConfig;
  return { rounds: c.rounds, epsilon: c.privacy.dp.budget.epsilon };
};

const chainNow = async (): Promise<number> => Number((await n.conn.publicClient.getBlock()).timestamp);
async function order(who: MarketClient, side: 'bid' | 'ask', price: bigint, units: bigint, extra: Partial<Order> = {}) {
  const o: Order = { assetId, side, price, units, expiry: BigInt((await chainNow()) + 3_600), nonce: nonce++, maker: who.account, ...extra };
  return toOrderJson(await signOrder(who.signer, marketDomain(n.conn.chain.id, n.deployment.escrow), o));
}
const balanceOf = async (who: Address) => (await operator.funds(who)).balance;

beforeAll(async () => {
  n = await startEmbeddedNexus({ accounts: 5 });
  [operator, seller, buyer, stranger, buyer2] = n.conn.accounts.map((a) => new MarketClient(n.conn, n.deployment, a));
  assetId = (await seller.listAsset({ contentHash, schemaHash, licence: 'CC-BY-4.0', category: 'vision', rows: 1_912n, consentFlags: 1, regionFlags: 1, epsilonMilli: 8_000 })).id;
  await buyer.approveEscrow(nxs(1_000));
  await buyer2.approveEscrow(nxs(1_000));
});

beforeEach(async () => {
  storage = openStorage({ path: ':memory:' });
  market = new Marketplace({ storage, chain: operator, operator: operator.signer, describeJob, now: () => Math.floor(Date.now() / 1000) });
  const asset = assetRecord(assetId.toString(), {
    owner: seller.account,
    schemaHash: schemaHash.slice(2),
    contentHash: contentHash.slice(2),
    rows: 1_912,
    budget: { epsilon: 5, delta: 1e-5 },
    unit: { rounds: 5, epsilon: 2 },
  });
  await market.catalogue(asset);
});

describe('Marketplace', () => {
  it('settles a bid that crosses a resting ask: NXS into escrow, a grant the operator signed, the budget reserved', async () => {
    const escrowBefore = await balanceOf(n.deployment.escrow);
    const buyerBefore = await balanceOf(buyer.account);
    const ask = await market.place(await order(seller, 'ask', nxs(3), 2n));
    expect(ask.order).toMatchObject({ status: 'open', remaining: 2 });
    const bid = await market.place(await order(buyer, 'bid', nxs(4), 1n), intent);
    expect(bid.failed).toEqual([]);
    expect(bid.sales).toHaveLength(1);
    const [{ fill, grant }] = bid.sales;
    // At the resting ask's price, not the bid's.
    expect(fill).toMatchObject({ status: 'settled', units: 1, price: nxs(3), buyer: buyer.account.toLowerCase(), seller: seller.account.toLowerCase() });
    expect(await balanceOf(buyer.account)).toBe(buyerBefore - nxs(3));
    expect(await balanceOf(n.deployment.escrow)).toBe(escrowBefore + nxs(3));
    expect(await verifyAccessGrant(marketDomain(n.conn.chain.id, n.deployment.escrow), grant, operator.account, await chainNow())).toMatchObject({ assetId, units: 1 });
    expect((await storage.market.getOrder(ask.order.hash))?.remaining).toBe(1);
    expect((await storage.market.getOrder(bid.order.hash))?.status).toBe('filled');
    expect((await storage.market.listGrants({ buyer: buyer.account.toLowerCase() })).map((g) => g.epsilonPerUnit)).toEqual([2]);
    expect((await market.depth(assetId.toString())).asks).toEqual([expect.objectContaining({ price: nxs(3), units: 1n })]);
  });

  it('refuses bad orders with one clear error, leaving balances, the book and the ledger unchanged', async () => {
    await market.place(await order(seller, 'ask', nxs(3), 5n));
    const snapshot = async () => ({ orders: (await storage.market.listOrders()).length, buyer: await balanceOf(buyer.account), charges: await storage.privacy.listCharges(assetScope(assetId.toString(), buyer.account)) });
    const before = await snapshot();
    const refused: [() => Promise<unknown>, string][] = [
      [async () => market.place({ ...(await order(buyer, 'bid', nxs(3), 1n)), price: '0' }, intent), 'ORDER_INVALID'],
      [async () => market.place(await order(buyer, 'bid', nxs(3), 1n, { expiry: 1n }), intent), 'ORDER_EXPIRED'],
      [async () => market.place({ ...(await order(buyer, 'bid', nxs(3), 1n)), price: nxs(5).toString() }, intent), 'ORDER_SIGNATURE_INVALID'],
      [async () => market.place(await order(buyer, 'bid', nxs(3), 1n, { assetId: 999n }), intent), 'MARKET_ASSET_UNKNOWN'],
      [async () => market.place(await order(buyer, 'bid', nxs(3), 3n), intent), 'MARKET_BUDGET_EXCEEDED'],
      [async () => market.place(await order(buyer, 'bid', nxs(3), 1n), { ...intent, region: 'us' }), 'MARKET_NONCOMPLIANT'],
      [async () => market.place(await order(buyer, 'bid', nxs(3), 1n), { ...intent, jobConfig: { ...jobConfig, rounds: 50 } }), 'MARKET_JOB_TOO_LARGE'],
      [async () => market.place(await order(buyer, 'bid', nxs(2_000), 1n), intent), 'MARKET_FUNDS_SHORT'],
      [async () => market.place(await order(buyer, 'bid', nxs(3), 1n)), 'MARKET_INTENT_REQUIRED'],
      [async () => market.place(await order(stranger, 'ask', nxs(3), 1n)), 'MARKET_NOT_OWNER'],
    ];
    for (const [attempt, code] of refused) await expect(attempt()).rejects.toMatchObject({ code });
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a replayed order and a second settlement of the same bid', async () => {
    await market.place(await order(seller, 'ask', nxs(3), 5n));
    const bid = await order(buyer, 'bid', nxs(3), 1n);
    expect((await market.place(bid, intent)).sales).toHaveLength(1);
    await expect(market.place(bid, intent)).rejects.toMatchObject({ code: 'ORDER_REPLAYED' });
    expect((await storage.market.listFills()).length).toBe(1);
  });

  it('takes an order off the book only once its maker cancelled the nonce on chain', async () => {
    const ask = await order(seller, 'ask', nxs(3), 2n);
    await market.place(ask);
    await expect(market.cancel(seller.account, BigInt(ask.nonce))).rejects.toMatchObject({ code: 'MARKET_NOT_CANCELLED' });
    await seller.cancelNonce(BigInt(ask.nonce));
    expect((await market.cancel(seller.account, BigInt(ask.nonce))).status).toBe('cancelled');
    expect((await market.depth(assetId.toString())).asks).toEqual([]);
  });

  it('creates and loses no NXS over random order streams: what buyers paid is what the escrow holds and what the store records', async () => {
    const step = fc.record({ who: fc.constantFrom('seller', 'buyer', 'buyer2'), price: fc.integer({ min: 1, max: 5 }), units: fc.integer({ min: 1, max: 3 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const snapshot = await n.conn.snapshot();
        const local = openStorage({ path: ':memory:' });
        const desk = new Marketplace({ storage: local, chain: operator, operator: operator.signer, describeJob, now: () => Math.floor(Date.now() / 1000) });
        try {
          const asset = (await storage.market.getAsset(assetId.toString())) as MarketAssetRecord;
          await desk.catalogue({ ...asset, budget: { epsilon: 1_000, delta: 1e-5 } });
          const parties = { seller, buyer, buyer2 };
          const before = await Promise.all([buyer, buyer2, seller].map((p) => balanceOf(p.account)));
          const escrowBefore = await balanceOf(n.deployment.escrow);
          for (const { who, price, units } of steps) {
            const maker = parties[who as keyof typeof parties];
            await desk.place(await order(maker, who === 'seller' ? 'ask' : 'bid', nxs(price), BigInt(units)), who === 'seller' ? undefined : intent);
          }
          const after = await Promise.all([buyer, buyer2, seller].map((p) => balanceOf(p.account)));
          const fills = await local.market.listFills();
          const settled = fills.filter((f) => f.status === 'settled');
          const paid = settled.reduce((sum, f) => sum + f.price * BigInt(f.units), 0n);
          expect(fills.length).toBe(settled.length);
          expect(before[0] + before[1] - after[0] - after[1]).toBe(paid);
          expect(after[2]).toBe(before[2]);
          expect((await balanceOf(n.deployment.escrow)) - escrowBefore).toBe(paid);
          for (const fill of settled) expect((await operator.readFill(fill.chainFillId as `0x${string}`)).amount).toBe(fill.price * BigInt(fill.units));
          // Every order's units are what is left plus what it sold or bought.
          for (const o of await local.market.listOrders()) {
            const traded = fills.filter((f) => f.bidHash === o.hash || f.askHash === o.hash).reduce((sum, f) => sum + f.units, 0);
            expect(o.remaining + traded).toBe(o.units);
          }
        } finally {
          await local.close();
          await n.conn.revert(snapshot);
        }
      }),
      { numRuns: 30 },
    );
  }, 120_000);
});
