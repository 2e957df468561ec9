import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage, type MarketAssetRecord, type MarketFillRecord, type MarketOrderRecord, type Storage } from '../core/index.js';
import type { QualityReport } from '../market/index.js';
import { getMarketAsset, listMarketAssets } from './market-views.js';

const NXS = 10n ** 18n;
const NOW = 1_800_000_000;
const OWNER = '0x00000000000000000000000000000000000000a1';
const BUYER = '0x00000000000000000000000000000000000000b2';
const OTHER_BUYER = '0x00000000000000000000000000000000000000b3';

const report: QualityReport = {
  version: 1,
  contentHash: 'b'.repeat(64),
  schemaHash: 'a'.repeat(64),
  rowCount: 1000,
  schemaValid: true,
  problems: [],
  columns: [
    { name: 'pixel0', type: 'numeric', missing: 20, missingFraction: 0.02, distinct: 17, spread: { median: 0, mad: 1, scale: 'mad', outliers: 4 } },
    { name: 'pixel1', type: 'numeric', missing: 50, missingFraction: 0.05, distinct: 17, spread: { median: 3, mad: 2, scale: 'mad', outliers: 3 } },
    { name: 'digit', type: 'categorical', missing: 0, missingFraction: 0, distinct: 10 },
  ],
  labelBalance: { column: 'digit', labelled: 1000, classes: [{ label: '0', count: 600 }, { label: '1', count: 400 }], majorityClass: '0', majorityFraction: 0.6, imbalanceRatio: 1.5, normalisedEntropy: 0.97 },
  duplicateRows: 10,
  duplicateFraction: 0.01,
  baselineAccuracy: 0.6,
};

const asset = (id: string, overrides: Partial<MarketAssetRecord> = {}): MarketAssetRecord => ({
  id,
  owner: OWNER,
  replaces: null,
  title: `Handwritten digits, part ${id}`,
  description: 'optdigits partition',
  category: 'vision',
  task: 'classification',
  licence: 'CC-BY-4.0',
  regions: ['eu'],
  consent: ['research'],
  schema: { label: 'digit' },
  schemaHash: 'a'.repeat(64),
  contentHash: 'b'.repeat(64),
  rows: 1000,
  budget: { epsilon: 8, delta: 1e-5 },
  unit: { rounds: 5, epsilon: 1.5 },
  quality: null,
  listedAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  ...overrides,
});

let nonce = 0n;
const order = (hash: string, side: 'bid' | 'ask', price: bigint, remaining: number, overrides: Partial<MarketOrderRecord> = {}): MarketOrderRecord => ({
  hash,
  assetId: '7',
  side,
  price,
  units: Math.max(remaining, 1),
  remaining,
  expiry: NOW + 3600,
  nonce: ++nonce,
  maker: side === 'ask' ? OWNER : BUYER,
  signature: '0xsig',
  intent: null,
  status: 'open',
  createdAt: NOW - 100,
  updatedAt: NOW - 100,
  ...overrides,
});

const fill = (id: string, price: bigint, createdAt: number, overrides: Partial<MarketFillRecord> = {}): MarketFillRecord => ({
  id,
  assetId: '7',
  bidHash: '0xbid-filled',
  askHash: '0xask-filled',
  buyer: BUYER,
  seller: OWNER,
  units: 1,
  price,
  status: 'settled',
  chainFillId: id,
  txHash: `0xtx-${id}`,
  createdAt,
  updatedAt: createdAt,
  ...overrides,
});

// Asset 7 has a book with an expired ask below the best, a filled ask and a cancelled bid (none of
// which rest), three settled fills, one failed and one not yet settled; asset 8 has nothing but a listing.
async function seed(storage: Storage): Promise<void> {
  await storage.market.upsertAsset(asset('7', { quality: { report, owner: 'clinic-a', signedAt: '2025-01-01T00:00:00.000Z', signature: 'A'.repeat(86) } }));
  await storage.market.upsertAsset(asset('8', { title: 'Loan defaults', category: 'finance', task: 'regression', regions: ['us', 'ca'] }));
  for (const o of [
    order('0xask-a', 'ask', 5n * NXS, 3),
    order('0xask-b', 'ask', 5n * NXS, 2),
    order('0xask-c', 'ask', (13n * NXS) / 2n, 1),
    // Good through its expiry second, so still on the book at NOW.
    order('0xask-d', 'ask', 7n * NXS, 4, { expiry: NOW }),
    order('0xask-expired', 'ask', 4n * NXS, 9, { expiry: NOW - 1 }),
    order('0xask-filled', 'ask', 3n * NXS, 0, { status: 'filled' }),
    order('0xbid-filled', 'bid', 5n * NXS, 0, { status: 'filled' }),
    order('0xbid-cancelled', 'bid', 9n * NXS, 2, { status: 'cancelled' }),
    order('0xbid-a', 'bid', (9n * NXS) / 2n, 2),
    order('0xbid-b', 'bid', 4n * NXS, 1, { maker: OTHER_BUYER }),
    order('0xbid-c', 'bid', 4n * NXS, 5),
  ]) {
    await storage.market.insertOrder(o);
  }
  await storage.market.insertFill(fill('f1', 3n * NXS, NOW - 3000));
  await storage.market.insertFill(fill('f2', 4n * NXS, NOW - 2000, { status: 'released' }));
  await storage.market.insertFill(fill('f3', 5n * NXS + 1n, NOW - 1000, { status: 'completed', buyer: OTHER_BUYER }));
  await storage.market.insertFill(fill('failed:1', 6n * NXS, NOW - 500, { status: 'failed', chainFillId: null, txHash: null }));
  await storage.market.insertFill(fill('f4', 6n * NXS, NOW - 400, { status: 'matched', chainFillId: null, txHash: null }));
  await storage.market.insertRating({ assetId: '7', fillId: 'f1', rater: BUYER, score: 4, createdAt: NOW - 900 });
  await storage.market.insertRating({ assetId: '7', fillId: 'f3', rater: OTHER_BUYER, score: 5, createdAt: NOW - 800 });
}

describe('market views', () => {
  let storage: Storage;

  beforeEach(async () => {
    storage = openStorage({ path: ':memory:' });
    await seed(storage);
  });
  afterEach(() => storage.close());

  it('lists the catalogue cheapest first with best ask, settled fills and mean rating, prices as decimal strings', async () => {
    expect(await listMarketAssets(storage, NOW)).toEqual([
      {
        id: '7',
        title: 'Handwritten digits, part 7',
        category: 'vision',
        task: 'classification',
        licence: 'CC-BY-4.0',
        regions: ['eu'],
        rows: 1000,
        bestAsk: '5000000000000000000',
        fills: 3,
        rating: { mean: 4.5, count: 2 },
      },
      { id: '8', title: 'Loan defaults', category: 'finance', task: 'regression', licence: 'CC-BY-4.0', regions: ['us', 'ca'], rows: 1000, bestAsk: null, fills: 0, rating: { mean: null, count: 0 } },
    ]);
  });

  it('aggregates the depth of open, unexpired orders by price, best first, leaving out expired, filled and cancelled ones', async () => {
    const detail = await getMarketAsset(storage, '7', { now: NOW, levels: 10 });
    expect(detail.depth).toEqual({
      bids: [
        { price: '4500000000000000000', units: 2, orders: 1 },
        { price: '4000000000000000000', units: 6, orders: 2 },
      ],
      asks: [
        { price: '5000000000000000000', units: 5, orders: 2 },
        { price: '6500000000000000000', units: 1, orders: 1 },
        { price: '7000000000000000000', units: 4, orders: 1 },
      ],
    });
    expect(detail.bestAsk).toBe('5000000000000000000');
    // One second later the order good through NOW has expired.
    expect((await getMarketAsset(storage, '7', { now: NOW + 1, levels: 10 })).depth.asks.map((l) => l.price)).toEqual(['5000000000000000000', '6500000000000000000']);
    expect((await getMarketAsset(storage, '7', { now: NOW, levels: 1 })).depth).toEqual({ bids: [{ price: '4500000000000000000', units: 2, orders: 1 }], asks: [{ price: '5000000000000000000', units: 5, orders: 2 }] });
  });

  it('gives every fill newest first and a price series of the settled ones, oldest first', async () => {
    const detail = await getMarketAsset(storage, '7', { now: NOW, levels: 10 });
    expect(detail.fillHistory.map((f) => [f.id, f.status, f.price, f.at])).toEqual([
      ['f4', 'matched', '6000000000000000000', NOW - 400],
      ['failed:1', 'failed', '6000000000000000000', NOW - 500],
      ['f3', 'completed', '5000000000000000001', NOW - 1000],
      ['f2', 'released', '4000000000000000000', NOW - 2000],
      ['f1', 'settled', '3000000000000000000', NOW - 3000],
    ]);
    expect(detail.fillHistory[2]).toEqual({ id: 'f3', units: 1, price: '5000000000000000001', status: 'completed', buyer: OTHER_BUYER, seller: OWNER, at: NOW - 1000, txHash: '0xtx-f3' });
    expect(detail.prices).toEqual([
      { at: NOW - 3000, price: '3000000000000000000' },
      { at: NOW - 2000, price: '4000000000000000000' },
      { at: NOW - 1000, price: '5000000000000000001' },
    ]);
    expect(detail.fills).toBe(3);
    // Everything the page receives survives JSON: no bigint is left in it.
    expect(JSON.parse(JSON.stringify(detail))).toEqual(detail);
  });

  it("summarises the owner's signed quality report, and gives null for an asset without one", async () => {
    const detail = await getMarketAsset(storage, '7', { now: NOW, levels: 10 });
    expect(detail.quality).toEqual({
      owner: 'clinic-a',
      signedAt: '2025-01-01T00:00:00.000Z',
      rows: 1000,
      schemaValid: true,
      problems: 0,
      duplicateFraction: 0.01,
      worstMissingFraction: 0.05,
      outliers: 7,
      classes: 2,
      majorityFraction: 0.6,
      baselineAccuracy: 0.6,
    });
    expect(detail).toMatchObject({ id: '7', owner: OWNER, licence: 'CC-BY-4.0', consent: ['research'], unit: { rounds: 5, epsilon: 1.5 }, budget: { epsilon: 8, delta: 1e-5 }, rating: { mean: 4.5, count: 2 } });
    const bare = await getMarketAsset(storage, '8', { now: NOW, levels: 10 });
    expect(bare).toMatchObject({ quality: null, depth: { bids: [], asks: [] }, fillHistory: [], prices: [], bestAsk: null });
  });

  it('refuses an unknown asset with MARKET_ASSET_NOT_FOUND', async () => {
    await expect(getMarketAsset(storage, '404', { now: NOW, levels: 10 })).rejects.toMatchObject({ code: 'MARKET_ASSET_NOT_FOUND' });
  });
});
