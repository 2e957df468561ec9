import { NotFoundError, type MarketAssetRecord, type MarketFillRecord, type MarketFillStatus, type Storage } from '../core/index.js';
import { SignedQualityReportSchema, weightedRating } from '../market/index.js';
import { bookDepth, type DepthView } from './market-depth.js';

/**
 * What the dashboard's market page reads: the catalogue, and one asset with its book's depth, its
 * fills and their prices. Prices are NXS base units as decimal strings: JSON numbers lose bigints.
 * Fill and order times are unix seconds, as the market desk stores them.
 */

/** A buyers' rating summary: every rater weighs the same, since the coordinator's store keeps no reputations. */
export interface RatingView {
  mean: number | null;
  count: number;
}

/** An asset as the catalogue lists it. */
export interface MarketAssetSummary {
  id: string;
  title: string;
  category: string;
  task: string;
  licence: string;
  regions: string[];
  rows: number;
  /** The lowest open, unexpired ask, or null when nobody sells. */
  bestAsk: string | null;
  /** Fills that settled on chain. */
  fills: number;
  rating: RatingView;
}

/** The headline figures of the owner's signed quality report; the signature is not checked here (`market quality` does). */
export interface QualitySummaryView {
  owner: string;
  signedAt: string;
  rows: number;
  schemaValid: boolean;
  problems: number;
  duplicateFraction: number;
  /** The largest share of missing values in any column. */
  worstMissingFraction: number;
  /** Values past the robust z-score threshold, over every numeric column. */
  outliers: number;
  /** Label classes and the majority's share, when the report has a label. */
  classes: number | null;
  majorityFraction: number | null;
  baselineAccuracy: number | null;
}

/** One fill of an asset. */
export interface FillView {
  id: string;
  units: number;
  price: string;
  status: MarketFillStatus;
  buyer: string;
  seller: string;
  /** Unix seconds. */
  at: number;
  txHash: string | null;
}

/** One settled trade's time (unix seconds) and price. */
export interface PricePoint {
  at: number;
  price: string;
}

/** An asset with its quality, book, fills and price history. */
export interface MarketAssetDetail extends MarketAssetSummary {
  owner: string;
  replaces: string | null;
  description: string;
  consent: string[];
  schemaHash: string;
  contentHash: string;
  budget: { epsilon: number; delta: number };
  unit: { rounds: number; epsilon: number };
  listedAt: number;
  updatedAt: number;
  /** Null when the asset was listed without a report, or with one not in the signed format. */
  quality: QualitySummaryView | null;
  depth: DepthView;
  /** Every fill, newest first, whatever became of it. */
  fillHistory: FillView[];
  /** Settled trades, oldest first. */
  prices: PricePoint[];
}

/** What the asset detail reads the book at. */
export interface MarketAssetQuery {
  /** Unix seconds that decide which orders have expired. */
  now: number;
  /** Price levels per side. */
  levels: number;
}

// A match that never reached the chain (still `matched`, or `failed` to settle) moved no NXS, so it is not a price.
const UNSETTLED: ReadonlySet<MarketFillStatus> = new Set(['matched', 'failed']);

const settled = (fill: MarketFillRecord): boolean => !UNSETTLED.has(fill.status);

async function ratingOf(storage: Storage, assetId: string): Promise<RatingView> {
  // The rating rule refuses unknown fields, and a stored rating also carries its time.
  const ratings = (await storage.market.listRatings(assetId)).map(({ createdAt, ...rating }) => rating);
  const { mean, count } = weightedRating(ratings, () => 1);
  return { mean: mean ?? null, count };
}

function summarise(asset: MarketAssetRecord, bestAsk: string | null, fills: number, rating: RatingView): MarketAssetSummary {
  const { id, title, category, task, licence, regions, rows } = asset;
  return { id, title, category, task, licence, regions, rows, bestAsk, fills, rating };
}

function qualitySummary(published: unknown): QualitySummaryView | null {
  const parsed = SignedQualityReportSchema.safeParse(published);
  if (!parsed.success) return null;
  const { owner, signedAt, report } = parsed.data;
  return {
    owner,
    signedAt,
    rows: report.rowCount,
    schemaValid: report.schemaValid,
    problems: report.problems.length,
    duplicateFraction: report.duplicateFraction,
    worstMissingFraction: Math.max(0, ...report.columns.map((c) => c.missingFraction)),
    outliers: report.columns.reduce((sum, c) => sum + (c.spread?.outliers ?? 0), 0),
    classes: report.labelBalance ? report.labelBalance.classes.length : null,
    majorityFraction: report.labelBalance ? report.labelBalance.majorityFraction : null,
    baselineAccuracy: report.baselineAccuracy ?? null,
  };
}

function fillView(fill: MarketFillRecord): FillView {
  const { id, units, status, buyer, seller, txHash } = fill;
  return { id, units, price: fill.price.toString(), status, buyer, seller, at: fill.createdAt, txHash };
}

/** Every catalogued asset, cheapest best ask first (assets nobody sells last), with its settled fills and rating. */
export async function listMarketAssets(storage: Storage, now: number): Promise<MarketAssetSummary[]> {
  const hits = await storage.market.searchAssets({ now });
  const fills = new Map<string, number>();
  for (const fill of await storage.market.listFills()) {
    if (settled(fill)) fills.set(fill.assetId, (fills.get(fill.assetId) ?? 0) + 1);
  }
  return Promise.all(hits.map(async ({ asset, bestAsk }) => summarise(asset, bestAsk === null ? null : bestAsk.toString(), fills.get(asset.id) ?? 0, await ratingOf(storage, asset.id))));
}

/** One asset with its quality summary, depth, fills and price series; throws NotFoundError (MARKET_ASSET_NOT_FOUND) for an unknown id. */
export async function getMarketAsset(storage: Storage, id: string, query: MarketAssetQuery): Promise<MarketAssetDetail> {
  const asset = await storage.market.getAsset(id);
  if (!asset) throw new NotFoundError('market_asset', id);
  const [orders, fills, rating] = await Promise.all([storage.market.listOrders({ assetId: id, status: 'open' }), storage.market.listFills({ assetId: id }), ratingOf(storage, id)]);
  const depth = bookDepth(orders, query.now, query.levels);
  const trades = fills.filter(settled);
  const { owner, replaces, description, consent, schemaHash, contentHash, budget, unit, listedAt, updatedAt } = asset;
  return {
    ...summarise(asset, depth.asks[0]?.price ?? null, trades.length, rating),
    owner,
    replaces,
    description,
    consent,
    schemaHash,
    contentHash,
    budget,
    unit,
    listedAt,
    updatedAt,
    quality: qualitySummary(asset.quality),
    depth,
    fillHistory: fills.map(fillView).reverse(),
    prices: trades.map((f) => ({ at: f.createdAt, price: f.price.toString() })),
  };
}
