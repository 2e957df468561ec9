import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import type { MarketAssetRecord, MarketFillRecord, MarketGrantRecord, MarketOrderRecord } from './market-repository.js';
import type { Storage } from './repository.js';
import { expectCode, type OpenedStorage } from './storage-contract.js';

/** The marketplace tables' behaviour every `Storage` adapter must show; see `describeStorageContract`. */

const NXS = 10n ** 18n;

export const asset = (id: string, overrides: Partial<MarketAssetRecord> = {}): MarketAssetRecord => ({
  id,
  owner: '0x00000000000000000000000000000000000000a1',
  replaces: null,
  title: `Handwritten digits, part ${id}`,
  description: 'UCI optdigits 8x8, one hospital-free partition',
  category: 'vision',
  task: 'classification',
  licence: 'CC-BY-4.0',
  regions: ['eu'],
  consent: ['research'],
  schema: { label: 'digit', columns: 64 },
  schemaHash: 'a'.repeat(64),
  contentHash: 'b'.repeat(64),
  rows: 1000,
  budget: { epsilon: 8, delta: 1e-5 },
  unit: { rounds: 5, epsilon: 1.5 },
  quality: { rows: 1000, signature: 'sig' },
  listedAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  ...overrides,
});

export const order = (hash: string, overrides: Partial<MarketOrderRecord> = {}): MarketOrderRecord => ({
  hash,
  assetId: '1',
  side: 'ask',
  price: 5n * NXS,
  units: 3,
  remaining: 3,
  expiry: 2_000_000_000,
  nonce: 1n,
  maker: '0x00000000000000000000000000000000000000a1',
  signature: '0xsig',
  intent: null,
  status: 'open',
  createdAt: 1,
  updatedAt: 1,
  ...overrides,
});

const fill = (id: string, overrides: Partial<MarketFillRecord> = {}): MarketFillRecord => ({
  id,
  assetId: '1',
  bidHash: '0xbid',
  askHash: '0xask',
  buyer: '0x00000000000000000000000000000000000000b2',
  seller: '0x00000000000000000000000000000000000000a1',
  units: 2,
  price: 5n * NXS,
  status: 'matched',
  chainFillId: null,
  txHash: null,
  createdAt: 10,
  updatedAt: 10,
  ...overrides,
});

const grant = (id: string, overrides: Partial<MarketGrantRecord> = {}): MarketGrantRecord => ({
  id,
  fillId: 'f1',
  assetId: '1',
  buyer: '0x00000000000000000000000000000000000000b2',
  jobConfigHash: 'c'.repeat(64),
  units: 2,
  used: 0,
  epsilonPerUnit: 1.5,
  expiry: 2_000_000_000,
  signed: { grant: id, signature: '0x01' },
  status: 'active',
  createdAt: 20,
  updatedAt: 20,
  ...overrides,
});

/** Registers the marketplace part of the storage contract for one adapter. */
export function describeMarketContract(name: string, open: () => Promise<OpenedStorage>): void {
  describe(`${name} (market storage contract)`, () => {
    let storage: Storage;
    let dispose: () => Promise<void>;

    beforeEach(async () => {
      ({ storage, dispose } = await open());
    });

    afterEach(async () => {
      await storage.close();
      await dispose();
    });

    it('round-trips an asset and replaces it on upsert', async () => {
      await storage.market.upsertAsset(asset('1'));
      expect(await storage.market.getAsset('1')).toEqual(asset('1'));
      const relisted = asset('1', { title: 'Digits, cleaned', rows: 990, regions: ['eu', 'uk'], updatedAt: 5 });
      await storage.market.upsertAsset(relisted);
      expect(await storage.market.getAsset('1')).toEqual(relisted);
      expect(await storage.market.getAsset('2')).toBeUndefined();
    });

    it('keeps prices and nonces beyond 64 bits exactly', async () => {
      await storage.market.upsertAsset(asset('1'));
      const huge = order('0xhuge', { side: 'bid', price: 2n ** 255n + 7n, nonce: 2n ** 200n, intent: { purpose: 'research', region: 'eu', jobConfig: { rounds: 3 } } });
      await storage.market.insertOrder(huge);
      expect(await storage.market.getOrder('0xhuge')).toEqual(huge);
      expect(await storage.market.nonceUsed(huge.maker, 2n ** 200n)).toBe(true);
      expect(await storage.market.nonceUsed(huge.maker, 2n ** 200n + 1n)).toBe(false);
    });

    it('searches by text, category, task, schema and best open ask, cheapest first', async () => {
      await storage.market.upsertAsset(asset('1'));
      await storage.market.upsertAsset(asset('2', { title: 'Chest X-rays 50%_off', category: 'medical', schemaHash: 'd'.repeat(64) }));
      await storage.market.upsertAsset(asset('3', { title: 'Loan defaults', category: 'finance', task: 'regression' }));
      await storage.market.insertOrder(order('0xa', { assetId: '1', price: 9n * NXS }));
      await storage.market.insertOrder(order('0xb', { assetId: '1', price: 7n * NXS, nonce: 2n }));
      await storage.market.insertOrder(order('0xc', { assetId: '2', price: 3n * NXS, nonce: 3n }));
      // Neither an expired ask, a bid nor a filled ask sets the price.
      await storage.market.insertOrder(order('0xd', { assetId: '3', price: 1n, expiry: 100, nonce: 4n }));
      await storage.market.insertOrder(order('0xe', { assetId: '3', side: 'bid', price: 1n, nonce: 5n }));
      await storage.market.insertOrder(order('0xf', { assetId: '3', price: 1n, remaining: 0, status: 'filled', nonce: 6n }));

      const all = await storage.market.searchAssets({ now: 1000 });
      expect(all.map((h) => [h.asset.id, h.bestAsk])).toEqual([
        ['2', 3n * NXS],
        ['1', 7n * NXS],
        ['3', null],
      ]);
      expect((await storage.market.searchAssets({ now: 1000, text: 'X-RAY' })).map((h) => h.asset.id)).toEqual(['2']);
      // LIKE's wildcards in the text are literal.
      expect((await storage.market.searchAssets({ now: 1000, text: '%_off' })).map((h) => h.asset.id)).toEqual(['2']);
      expect((await storage.market.searchAssets({ now: 1000, text: '_' })).map((h) => h.asset.id)).toEqual(['2']);
      expect((await storage.market.searchAssets({ now: 1000, category: 'finance' })).map((h) => h.asset.id)).toEqual(['3']);
      expect((await storage.market.searchAssets({ now: 1000, task: 'classification' })).map((h) => h.asset.id)).toEqual(['2', '1']);
      expect((await storage.market.searchAssets({ now: 1000, schemaHash: 'd'.repeat(64) })).map((h) => h.asset.id)).toEqual(['2']);
      expect((await storage.market.searchAssets({ now: 1000, maxPrice: 7n * NXS })).map((h) => h.asset.id)).toEqual(['2', '1']);
      expect((await storage.market.searchAssets({ now: 1000, maxPrice: 7n * NXS - 1n })).map((h) => h.asset.id)).toEqual(['2']);
      expect((await storage.market.searchAssets({ now: 1000, limit: 1 })).map((h) => h.asset.id)).toEqual(['2']);
      // At a later time the asks have expired.
      expect((await storage.market.searchAssets({ now: 2_000_000_000 })).every((h) => h.bestAsk === null)).toBe(true);
    });

    it('updates orders, lists them in arrival order, and refuses duplicates and unknown assets', async () => {
      await storage.market.upsertAsset(asset('1'));
      await storage.market.upsertAsset(asset('2'));
      await storage.market.insertOrder(order('0xz', { assetId: '2' }));
      await storage.market.insertOrder(order('0xa', { nonce: 2n }));
      await expectCode(storage.market.insertOrder(order('0xa', { nonce: 3n })), 'MARKET_ORDER_DUPLICATE');
      const missing = await expectCode(storage.market.insertOrder(order('0xq', { assetId: '404' })), 'MARKET_ASSET_NOT_FOUND');
      expect(missing).toBeInstanceOf(NotFoundError);
      await storage.market.updateOrder('0xa', { remaining: 1, status: 'open', updatedAt: 7 });
      await storage.market.updateOrder('0xz', { remaining: 0, status: 'filled', updatedAt: 8 });
      await expectCode(storage.market.updateOrder('0xnone', { remaining: 0, status: 'cancelled', updatedAt: 9 }), 'MARKET_ORDER_NOT_FOUND');
      expect((await storage.market.listOrders()).map((o) => [o.hash, o.remaining, o.status])).toEqual([
        ['0xz', 0, 'filled'],
        ['0xa', 1, 'open'],
      ]);
      expect((await storage.market.listOrders({ assetId: '1' })).map((o) => o.hash)).toEqual(['0xa']);
      expect((await storage.market.listOrders({ status: 'filled' })).map((o) => o.hash)).toEqual(['0xz']);
    });

    it('records fills, grants and ratings once each, against rows that exist', async () => {
      await storage.market.upsertAsset(asset('1'));
      await storage.market.insertOrder(order('0xask'));
      await storage.market.insertOrder(order('0xbid', { side: 'bid', nonce: 9n, maker: fill('x').buyer }));
      await expectCode(storage.market.insertFill(fill('f0', { bidHash: '0xnone' })), 'MARKET_ORDER_NOT_FOUND');
      await storage.market.insertFill(fill('f1'));
      await expectCode(storage.market.insertFill(fill('f1')), 'MARKET_FILL_DUPLICATE');
      await storage.market.updateFill('f1', { status: 'settled', chainFillId: '4', txHash: '0xtx', updatedAt: 11 });
      // A later status change keeps the chain references.
      await storage.market.updateFill('f1', { status: 'completed', updatedAt: 12 });
      expect(await storage.market.getFill('f1')).toEqual(fill('f1', { status: 'completed', chainFillId: '4', txHash: '0xtx', updatedAt: 12 }));
      await expectCode(storage.market.updateFill('f9', { status: 'failed', updatedAt: 1 }), 'MARKET_FILL_NOT_FOUND');
      expect((await storage.market.listFills({ assetId: '1' })).map((f) => f.id)).toEqual(['f1']);
      expect(await storage.market.listFills({ assetId: '2' })).toEqual([]);

      await expectCode(storage.market.insertGrant(grant('g0', { fillId: 'f9' })), 'MARKET_FILL_NOT_FOUND');
      await storage.market.insertGrant(grant('g1'));
      await expectCode(storage.market.insertGrant(grant('g2')), 'MARKET_GRANT_DUPLICATE');
      await storage.market.updateGrant('g1', { used: 1, status: 'active', updatedAt: 30 });
      expect(await storage.market.getGrant('g1')).toEqual(grant('g1', { used: 1, updatedAt: 30 }));
      await expectCode(storage.market.updateGrant('g9', { used: 1, status: 'spent', updatedAt: 1 }), 'MARKET_GRANT_NOT_FOUND');
      expect((await storage.market.listGrants({ buyer: fill('x').buyer })).map((g) => g.id)).toEqual(['g1']);
      expect(await storage.market.listGrants({ assetId: '2' })).toEqual([]);

      const rating = { assetId: '1', fillId: 'f1', rater: fill('x').buyer, score: 4, createdAt: 40 };
      await storage.market.insertRating(rating);
      await expectCode(storage.market.insertRating({ ...rating, score: 1 }), 'MARKET_RATING_DUPLICATE');
      expect(await storage.market.listRatings('1')).toEqual([rating]);
    });
  });
}
