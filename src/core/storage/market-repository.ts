/**
 * The marketplace's records in the coordinator's store: the catalogue of listed data assets (the
 * chain holds the tokens; this indexes them for search), the signed orders behind the off-chain
 * book (so a restarted coordinator rebuilds it), fills, access grants and buyers' ratings. Prices
 * are NXS base units (18 decimals) as bigint: they outgrow 64-bit integers.
 */

/** A data set listed as a `DataAsset` token, as the catalogue indexes it. */
export interface MarketAssetRecord {
  /** The token id, decimal. */
  id: string;
  /** The owner's chain address, lower case. */
  owner: string;
  /** Token id of the version this one replaces, or null for a first listing. */
  replaces: string | null;
  title: string;
  description: string;
  category: string;
  /** What a buyer can train on it, e.g. `classification`. */
  task: string;
  licence: string;
  regions: string[];
  consent: string[];
  /** The declared schema, as listed. */
  schema: unknown;
  /** sha256 hex of the canonical schema. */
  schemaHash: string;
  /** sha256 hex of the data set's canonical bytes. */
  contentHash: string;
  rows: number;
  /** What each buyer may spend on this asset over its lifetime. */
  budget: { epsilon: number; delta: number };
  /** One access unit: a training job of at most this many rounds that may spend at most this epsilon. */
  unit: { rounds: number; epsilon: number };
  /** The owner's signed quality report, as published. */
  quality: unknown;
  listedAt: number;
  updatedAt: number;
}

export type MarketSide = 'bid' | 'ask';
export type MarketOrderStatus = 'open' | 'filled' | 'cancelled' | 'expired';

/** A signed order as the book received it, with what is left of it. */
export interface MarketOrderRecord {
  /** The order's EIP-712 digest, 0x-hex: its identity on and off chain. */
  hash: string;
  assetId: string;
  side: MarketSide;
  /** NXS base units per access unit. */
  price: bigint;
  units: number;
  remaining: number;
  /** Unix seconds. */
  expiry: number;
  nonce: bigint;
  maker: string;
  signature: string;
  /** A bid's stated purpose, region and job configuration, which its grant will name; null for an ask. */
  intent: unknown;
  status: MarketOrderStatus;
  createdAt: number;
  updatedAt: number;
}

export type MarketFillStatus = 'matched' | 'settled' | 'completed' | 'released' | 'disputed' | 'refunded' | 'revoked' | 'failed';

/** Two orders matched for some units at the resting order's price, and what became of the trade. */
export interface MarketFillRecord {
  id: string;
  assetId: string;
  bidHash: string;
  askHash: string;
  buyer: string;
  seller: string;
  units: number;
  price: bigint;
  status: MarketFillStatus;
  /** The escrow's id of the fill once settled on chain. */
  chainFillId: string | null;
  txHash: string | null;
  createdAt: number;
  updatedAt: number;
}

export type MarketGrantStatus = 'active' | 'spent' | 'revoked';

/** The right a settled fill gives its buyer: so many training jobs of one configuration on one asset. */
export interface MarketGrantRecord {
  id: string;
  fillId: string;
  assetId: string;
  buyer: string;
  /** sha256 hex of the canonical job configuration the grant admits. */
  jobConfigHash: string;
  units: number;
  /** Jobs started under the grant so far. */
  used: number;
  /** What each of its jobs may spend, as the asset's unit stated when it was bought. */
  epsilonPerUnit: number;
  /** Unix seconds. */
  expiry: number;
  /** The signed grant, as issued. */
  signed: unknown;
  status: MarketGrantStatus;
  createdAt: number;
  updatedAt: number;
}

/** A buyer's rating of an asset after a job bought in one fill. */
export interface MarketRatingRecord {
  assetId: string;
  fillId: string;
  rater: string;
  /** 1 to 5. */
  score: number;
  createdAt: number;
}

/** What a catalogue search matches; every given field must hold. */
export interface MarketSearch {
  /** Case-insensitive substring of the title, description or category. */
  text?: string;
  category?: string;
  task?: string;
  schemaHash?: string;
  /** Only assets with an open, unexpired ask at or below this price. */
  maxPrice?: bigint;
  /** Unix seconds that decide which asks are unexpired; required with `maxPrice`, used for `bestAsk` always. */
  now: number;
  limit?: number;
}

/** A search result: the asset and its best open ask, if any. */
export interface MarketSearchHit {
  asset: MarketAssetRecord;
  bestAsk: bigint | null;
}

/** The marketplace's tables. */
export interface MarketRepository {
  /** Inserts or replaces an asset's catalogue entry. */
  upsertAsset(asset: MarketAssetRecord): Promise<void>;
  getAsset(id: string): Promise<MarketAssetRecord | undefined>;
  /** Assets matching `search`, cheapest best ask first (assets without one last), then by id. */
  searchAssets(search: MarketSearch): Promise<MarketSearchHit[]>;
  /** Stores a new order; an order hash seen before is `MARKET_ORDER_DUPLICATE`, an unknown asset `NOT_FOUND`. */
  insertOrder(order: MarketOrderRecord): Promise<void>;
  /** Sets what is left of an order and its status; `NOT_FOUND` if there is no such order. */
  updateOrder(hash: string, change: Pick<MarketOrderRecord, 'remaining' | 'status' | 'updatedAt'>): Promise<void>;
  getOrder(hash: string): Promise<MarketOrderRecord | undefined>;
  /** Orders of an asset (every asset when absent), optionally of one status, in arrival order. */
  listOrders(filter?: { assetId?: string; status?: MarketOrderStatus }): Promise<MarketOrderRecord[]>;
  /** True when the maker has used this nonce in any order. */
  nonceUsed(maker: string, nonce: bigint): Promise<boolean>;
  /** Stores a fill; an id seen before is `MARKET_FILL_DUPLICATE`. */
  insertFill(fill: MarketFillRecord): Promise<void>;
  updateFill(id: string, change: Pick<MarketFillRecord, 'status' | 'updatedAt'> & Partial<Pick<MarketFillRecord, 'chainFillId' | 'txHash'>>): Promise<void>;
  getFill(id: string): Promise<MarketFillRecord | undefined>;
  /** Fills of an asset (every asset when absent), oldest first. */
  listFills(filter?: { assetId?: string }): Promise<MarketFillRecord[]>;
  /** Stores a grant; one grant per fill (`MARKET_GRANT_DUPLICATE`). */
  insertGrant(grant: MarketGrantRecord): Promise<void>;
  updateGrant(id: string, change: Pick<MarketGrantRecord, 'used' | 'status' | 'updatedAt'>): Promise<void>;
  getGrant(id: string): Promise<MarketGrantRecord | undefined>;
  listGrants(filter?: { assetId?: string; buyer?: string }): Promise<MarketGrantRecord[]>;
  /** Stores a rating; a second rating by the same rater for the same fill is `MARKET_RATING_DUPLICATE`. */
  insertRating(rating: MarketRatingRecord): Promise<void>;
  listRatings(assetId: string): Promise<MarketRatingRecord[]>;
}
