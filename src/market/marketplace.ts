import { getAddress, type Address, type Hex, type LocalAccount } from 'viem';
import { type MarketClient } from '../chain/index.js';
import { CipherNexusError, type MarketAssetRecord, type MarketFillRecord, type MarketOrderRecord, type Storage } from '../core/index.js';
import { accessGrantToJson, jobConfigHash, signAccessGrant, type SignedAccessGrant } from './access-grant.js';
import { checkPurchaseBudget } from './asset-budget.js';
import { checkCompliance, parseBuyerIntent, type BuyerIntent } from './compliance.js';
import { OrderError } from './errors.js';
import { marketDomain, orderHash, parseSignedOrder, toChainSignedOrder, verifyOrder, type SignedOrder } from './order.js';
import { OrderBook, type Fill } from './order-book.js';

/**
 * The market desk: takes signed orders for access to data assets, keeps each asset's book in the
 * store (so any process with the store rebuilds it), settles every match on chain through the
 * escrow (settlement is permissionless: both makers' signatures are the authority), and gives the
 * buyer of each settled fill an access grant signed by the market operator. Nothing reaches the
 * book before every check that can refuse it has passed: signature, asset, replay, owner,
 * compliance, the job's size, the asset's privacy budget, and the buyer's funds.
 */

/** A refusal of the market desk (`MARKET_ASSET_UNKNOWN`, `MARKET_NOT_OWNER`, `MARKET_JOB_TOO_LARGE`, `MARKET_FUNDS_SHORT`, `MARKET_INTENT_REQUIRED`, `MARKET_NOT_CANCELLED`). */
export class MarketError extends CipherNexusError {}

/** The size of a job as the surface reads it from a job configuration: the market cannot parse one itself (that is the FL layer's). */
export type DescribeJob = (config: unknown) => { rounds: number; epsilon: number };

/** What the market desk works with. */
export interface MarketplaceOptions {
  storage: Storage;
  /** The chain, signing as whoever submits settlements (anyone may). */
  chain: MarketClient;
  /** The market operator: signs the access grants owners' agents check. */
  operator: LocalAccount;
  describeJob: DescribeJob;
  /** Unix seconds; defaults to the wall clock. */
  now?: () => number;
  /** How long a grant stays valid; default 30 days. */
  grantSeconds?: number;
}

/** A settled fill and the grant its buyer received. */
export interface SettledSale {
  fill: MarketFillRecord;
  grant: SignedAccessGrant;
}

/** What placing an order did: the order as stored, the sales it settled, and fills whose settlement failed. */
export interface Placement {
  order: MarketOrderRecord;
  sales: SettledSale[];
  failed: { fill: MarketFillRecord; error: string }[];
}

const DAY = 86_400;

/** An order as the book holds it: `units` is what is left of it, `signed` the order its maker signed. */
type BookOrder = SignedOrder & { signed: SignedOrder };

/** The market desk over one store and one chain. */
export class Marketplace {
  private readonly now: () => number;

  constructor(private readonly options: MarketplaceOptions) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  private get domain() {
    const { chain } = this.options;
    return marketDomain(chain.conn.chain.id, chain.deployment.escrow);
  }

  /** Catalogues an asset listed on chain: its token must exist, be owned by `asset.owner` and hold the same content and schema hashes. */
  async catalogue(asset: MarketAssetRecord): Promise<void> {
    const onChain = await this.options.chain.getAsset(BigInt(asset.id));
    const same = (a: string, b: string): boolean => a.replace(/^0x/, '').toLowerCase() === b.replace(/^0x/, '').toLowerCase();
    if (!same(onChain.owner, asset.owner)) {
      throw new MarketError('MARKET_NOT_OWNER', `asset ${asset.id} is owned by ${onChain.owner} on chain, not by ${asset.owner}; catalogue it as its owner`);
    }
    if (!same(onChain.contentHash, asset.contentHash) || !same(onChain.schemaHash, asset.schemaHash)) {
      throw new MarketError('MARKET_ASSET_MISMATCH', `asset ${asset.id}'s content or schema hash differs from the token's on chain; list the data set as it was tokenised`);
    }
    await this.options.storage.market.upsertAsset({ ...asset, owner: asset.owner.toLowerCase() });
  }

  /** Checks and places a signed order (JSON as a client sends it), settling what it matches; a bid needs the buyer's intent. */
  async place(input: unknown, intentInput?: unknown): Promise<Placement> {
    const { storage, chain } = this.options;
    const now = this.now();
    const signed = parseSignedOrder(input, { now: BigInt(now) });
    await verifyOrder(this.domain, signed);
    const asset = await this.asset(signed.assetId.toString());
    if ((await storage.market.nonceUsed(signed.maker.toLowerCase(), signed.nonce)) || (await chain.isNonceCancelled(signed.maker, signed.nonce))) {
      throw new OrderError('ORDER_REPLAYED', `nonce ${signed.nonce} of ${signed.maker} was used or cancelled already; sign the order again with a fresh nonce`, { nonce: signed.nonce });
    }
    let intent: BuyerIntent | null = null;
    if (signed.side === 'ask') {
      const owner = (await chain.getAsset(signed.assetId)).owner;
      if (owner.toLowerCase() !== signed.maker.toLowerCase()) {
        throw new MarketError('MARKET_NOT_OWNER', `only asset ${asset.id}'s owner ${owner} may sell access to it, not ${signed.maker}`);
      }
    } else {
      if (intentInput === undefined) throw new MarketError('MARKET_INTENT_REQUIRED', 'a bid needs the buyer intent: purpose, region and the job configuration it will run');
      intent = parseBuyerIntent(intentInput);
      await this.checkBid(asset, signed, intent);
    }
    return storage.transaction(() => this.match(asset, signed, intent, now));
  }

  /** Removes an order whose nonce its maker cancelled on chain from the book. */
  async cancel(maker: Address, nonce: bigint): Promise<MarketOrderRecord> {
    const { storage, chain } = this.options;
    if (!(await chain.isNonceCancelled(maker, nonce))) {
      throw new MarketError('MARKET_NOT_CANCELLED', `nonce ${nonce} of ${maker} is not cancelled on chain; cancel it there first (\`cipher-nexus market cancel\` does both)`);
    }
    const open = (await storage.market.listOrders({ status: 'open' })).find((o) => o.maker === maker.toLowerCase() && o.nonce === nonce);
    if (!open) throw new MarketError('MARKET_ORDER_UNKNOWN', `${maker} has no open order with nonce ${nonce}`);
    await storage.market.updateOrder(open.hash, { remaining: open.remaining, status: 'cancelled', updatedAt: this.now() });
    return { ...open, status: 'cancelled' };
  }

  /** The asset's book as it stands: open, unexpired orders by price level. */
  async depth(assetId: string, levels = 10) {
    const now = BigInt(this.now());
    return (await this.book(assetId, now)).depth(levels, now);
  }

  private async asset(id: string): Promise<MarketAssetRecord> {
    const asset = await this.options.storage.market.getAsset(id);
    if (!asset) throw new MarketError('MARKET_ASSET_UNKNOWN', `asset ${id} is not in the catalogue; search the catalogue for listed assets`, { assetId: id });
    return asset;
  }

  private async checkBid(asset: MarketAssetRecord, bid: SignedOrder, intent: BuyerIntent): Promise<void> {
    checkCompliance(asset, intent);
    const job = this.options.describeJob(intent.jobConfig);
    if (job.rounds > asset.unit.rounds || job.epsilon > asset.unit.epsilon) {
      throw new MarketError(
        'MARKET_JOB_TOO_LARGE',
        `one access unit of asset ${asset.id} is a job of at most ${asset.unit.rounds} rounds spending at most epsilon ${asset.unit.epsilon}; this job has ${job.rounds} rounds and epsilon ${job.epsilon}`,
      );
    }
    await checkPurchaseBudget(this.options.storage, asset, bid.maker, Number(bid.units));
    const cost = bid.price * bid.units;
    const { balance, allowance } = await this.options.chain.funds(bid.maker);
    if (balance < cost || allowance < cost) {
      throw new MarketError(
        'MARKET_FUNDS_SHORT',
        `the bid may cost up to ${cost} NXS base units but ${bid.maker} holds ${balance} and has approved the escrow for ${allowance}; approve the escrow (\`cipher-nexus market approve\`) or lower the bid`,
      );
    }
  }

  /**
   * The asset's book rebuilt from its open orders in arrival order (they rest without crossing, so
   * none match here). A partly filled order rests with what is left of it, and carries the order
   * its maker signed, whose hash the store and the escrow know it by.
   */
  private async book(assetId: string, now: bigint): Promise<OrderBook<BookOrder>> {
    const book = new OrderBook<BookOrder>(BigInt(assetId));
    for (const o of await this.options.storage.market.listOrders({ assetId, status: 'open' })) {
      const signed: SignedOrder = { assetId: BigInt(o.assetId), side: o.side, price: o.price, units: BigInt(o.units), expiry: BigInt(o.expiry), nonce: o.nonce, maker: getAddress(o.maker), signature: o.signature as Hex };
      book.place({ ...signed, units: BigInt(o.remaining), signed }, now);
    }
    return book;
  }

  private async match(asset: MarketAssetRecord, signed: SignedOrder, intent: BuyerIntent | null, now: number): Promise<Placement> {
    const { storage } = this.options;
    const book = await this.book(asset.id, BigInt(now));
    const result = book.place({ ...signed, signed }, BigInt(now));
    const hash = orderHash(this.domain, signed);
    await storage.market.insertOrder({
      hash,
      assetId: asset.id,
      side: signed.side,
      price: signed.price,
      units: Number(signed.units),
      remaining: Number(signed.units),
      expiry: Number(signed.expiry),
      nonce: signed.nonce,
      maker: signed.maker.toLowerCase(),
      signature: signed.signature,
      intent,
      status: 'open',
      createdAt: now,
      updatedAt: now,
    });
    for (const dropped of result.expired) await this.close(dropped.order.signed, 'expired', now);
    for (const dropped of result.selfTradeCancelled) await this.close(dropped.order.signed, 'cancelled', now);
    const placement: Placement = { order: (await storage.market.getOrder(hash)) as MarketOrderRecord, sales: [], failed: [] };
    const touched = new Map<string, SignedOrder>([[hash, signed]]);
    const failed = new Set<string>();
    for (const fill of result.fills) {
      const bidHash = orderHash(this.domain, fill.bid.signed);
      const askHash = orderHash(this.domain, fill.ask.signed);
      touched.set(bidHash, fill.bid.signed).set(askHash, fill.ask.signed);
      const outcome = await this.settle(asset, fill, bidHash, askHash, now);
      if ('grant' in outcome) {
        placement.sales.push(outcome);
      } else {
        placement.failed.push(outcome);
        failed.add(bidHash).add(askHash);
      }
    }
    // What the book left of each order is what the store keeps; an order in a failed settlement leaves the book.
    for (const [orderId, order] of touched) {
      const remaining = Number(book.restingUnits(order.maker, order.nonce));
      const status = failed.has(orderId) ? 'cancelled' : remaining > 0 ? 'open' : 'filled';
      await storage.market.updateOrder(orderId, { remaining, status, updatedAt: now });
    }
    return { ...placement, order: (await storage.market.getOrder(hash)) as MarketOrderRecord };
  }

  private async close(order: SignedOrder, status: 'expired' | 'cancelled', now: number): Promise<void> {
    const id = orderHash(this.domain, order);
    const stored = await this.options.storage.market.getOrder(id);
    if (stored) await this.options.storage.market.updateOrder(id, { remaining: stored.remaining, status, updatedAt: now });
  }

  /** Settles one match on chain; on success records the fill and issues its grant, on failure records why. */
  private async settle(asset: MarketAssetRecord, fill: Fill<BookOrder>, bidHash: string, askHash: string, now: number): Promise<SettledSale | { fill: MarketFillRecord; error: string }> {
    const { storage, chain, operator } = this.options;
    const record: MarketFillRecord = {
      id: `failed:${bidHash}:${askHash}:${now}`,
      assetId: asset.id,
      bidHash,
      askHash,
      buyer: fill.bid.maker.toLowerCase(),
      seller: fill.ask.maker.toLowerCase(),
      units: Number(fill.units),
      price: fill.price,
      status: 'failed',
      chainFillId: null,
      txHash: null,
      createdAt: now,
      updatedAt: now,
    };
    let settled: Awaited<ReturnType<MarketClient['settle']>>;
    try {
      settled = await chain.settle(toChainSignedOrder(fill.bid.signed), toChainSignedOrder(fill.ask.signed), fill.units, fill.price);
    } catch (error) {
      await storage.market.insertFill(record);
      return { fill: record, error: error instanceof Error ? error.message : String(error) };
    }
    const fillId = settled.fill.fillId;
    const done: MarketFillRecord = { ...record, id: fillId, status: 'settled', chainFillId: fillId, txHash: settled.hash };
    await storage.market.insertFill(done);
    const bid = (await storage.market.getOrder(bidHash)) as MarketOrderRecord;
    const grant = await signAccessGrant(operator, this.domain, {
      fillId: BigInt(fillId),
      assetId: BigInt(asset.id),
      buyer: fill.bid.maker,
      jobConfigHash: jobConfigHash((bid.intent as BuyerIntent).jobConfig),
      units: Number(fill.units),
      expiry: now + (this.options.grantSeconds ?? 30 * DAY),
    });
    await storage.market.insertGrant({
      id: fillId,
      fillId,
      assetId: asset.id,
      buyer: done.buyer,
      jobConfigHash: grant.grant.jobConfigHash,
      units: grant.grant.units,
      used: 0,
      epsilonPerUnit: asset.unit.epsilon,
      expiry: grant.grant.expiry,
      signed: accessGrantToJson(grant),
      status: 'active',
      createdAt: now,
      updatedAt: now,
    });
    return { fill: done, grant };
  }
}
