import { StateError } from '../errors.js';
import type {
  MarketAssetRecord,
  MarketFillRecord,
  MarketFillStatus,
  MarketGrantRecord,
  MarketGrantStatus,
  MarketOrderRecord,
  MarketOrderStatus,
  MarketRatingRecord,
  MarketSide,
} from './market-repository.js';

/** The marketplace tables' rows as both drivers return them, and their conversion to records. */

/** Digits of the largest uint256: every stored price and nonce is padded to this width. */
const UINT256_DIGITS = 78;

/** A uint256 as text whose order is its numeric order. */
export function encodeUint(value: bigint): string {
  return value.toString().padStart(UINT256_DIGITS, '0');
}

function decodeUint(text: string, what: string): bigint {
  if (!/^\d{1,78}$/.test(text)) throw new StateError('STORAGE_CORRUPT', `${what} is stored as '${text}', not a whole number; restore the database from a backup`);
  return BigInt(text);
}

// PostgreSQL returns BIGINT as text: every integer column goes through Number().
type Int = number | string;

export interface MarketAssetRow {
  id: string;
  owner: string;
  replaces: string | null;
  title: string;
  description: string;
  category: string;
  task: string;
  licence: string;
  regions: string;
  consent: string;
  schema: string;
  schema_hash: string;
  content_hash: string;
  rows: Int;
  budget_epsilon: number;
  budget_delta: number;
  unit_rounds: Int;
  unit_epsilon: number;
  quality: string;
  listed_at: Int;
  updated_at: Int;
}

/** The asset's columns in insertion order, named as the row has them. */
export function marketAssetColumns(a: MarketAssetRecord): unknown[] {
  return [
    a.id,
    a.owner,
    a.replaces,
    a.title,
    a.description,
    a.category,
    a.task,
    a.licence,
    JSON.stringify(a.regions),
    JSON.stringify(a.consent),
    JSON.stringify(a.schema),
    a.schemaHash,
    a.contentHash,
    a.rows,
    a.budget.epsilon,
    a.budget.delta,
    a.unit.rounds,
    a.unit.epsilon,
    JSON.stringify(a.quality),
    a.listedAt,
    a.updatedAt,
  ];
}

export const MARKET_ASSET_COLUMNS =
  'id, owner, replaces, title, description, category, task, licence, regions, consent, schema, schema_hash, content_hash, rows, budget_epsilon, budget_delta, unit_rounds, unit_epsilon, quality, listed_at, updated_at';

export const marketAssetFromRow = (row: MarketAssetRow): MarketAssetRecord => ({
  id: row.id,
  owner: row.owner,
  replaces: row.replaces,
  title: row.title,
  description: row.description,
  category: row.category,
  task: row.task,
  licence: row.licence,
  regions: JSON.parse(row.regions) as string[],
  consent: JSON.parse(row.consent) as string[],
  schema: JSON.parse(row.schema) as unknown,
  schemaHash: row.schema_hash,
  contentHash: row.content_hash,
  rows: Number(row.rows),
  budget: { epsilon: row.budget_epsilon, delta: row.budget_delta },
  unit: { rounds: Number(row.unit_rounds), epsilon: row.unit_epsilon },
  quality: JSON.parse(row.quality) as unknown,
  listedAt: Number(row.listed_at),
  updatedAt: Number(row.updated_at),
});

export interface MarketOrderRow {
  hash: string;
  asset_id: string;
  side: string;
  price: string;
  units: Int;
  remaining: Int;
  expiry: Int;
  nonce: string;
  maker: string;
  signature: string;
  intent: string | null;
  status: string;
  created_at: Int;
  updated_at: Int;
}

export const MARKET_ORDER_COLUMNS = 'hash, asset_id, side, price, units, remaining, expiry, nonce, maker, signature, intent, status, created_at, updated_at';

/** The order's columns in the order of `MARKET_ORDER_COLUMNS`. */
export const marketOrderColumns = (o: MarketOrderRecord): unknown[] => [
  o.hash,
  o.assetId,
  o.side,
  encodeUint(o.price),
  o.units,
  o.remaining,
  o.expiry,
  encodeUint(o.nonce),
  o.maker,
  o.signature,
  o.intent === null || o.intent === undefined ? null : JSON.stringify(o.intent),
  o.status,
  o.createdAt,
  o.updatedAt,
];

export const marketOrderFromRow = (row: MarketOrderRow): MarketOrderRecord => ({
  hash: row.hash,
  assetId: row.asset_id,
  side: row.side as MarketSide,
  price: decodeUint(row.price, `the price of order ${row.hash}`),
  units: Number(row.units),
  remaining: Number(row.remaining),
  expiry: Number(row.expiry),
  nonce: decodeUint(row.nonce, `the nonce of order ${row.hash}`),
  maker: row.maker,
  signature: row.signature,
  intent: row.intent === null ? null : (JSON.parse(row.intent) as unknown),
  status: row.status as MarketOrderStatus,
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

export interface MarketFillRow {
  id: string;
  asset_id: string;
  bid_hash: string;
  ask_hash: string;
  buyer: string;
  seller: string;
  units: Int;
  price: string;
  status: string;
  chain_fill_id: string | null;
  tx_hash: string | null;
  created_at: Int;
  updated_at: Int;
}

export const MARKET_FILL_COLUMNS = 'id, asset_id, bid_hash, ask_hash, buyer, seller, units, price, status, chain_fill_id, tx_hash, created_at, updated_at';

/** The fill's columns in the order of `MARKET_FILL_COLUMNS`. */
export const marketFillColumns = (f: MarketFillRecord): unknown[] => [
  f.id,
  f.assetId,
  f.bidHash,
  f.askHash,
  f.buyer,
  f.seller,
  f.units,
  encodeUint(f.price),
  f.status,
  f.chainFillId,
  f.txHash,
  f.createdAt,
  f.updatedAt,
];

export const marketFillFromRow = (row: MarketFillRow): MarketFillRecord => ({
  id: row.id,
  assetId: row.asset_id,
  bidHash: row.bid_hash,
  askHash: row.ask_hash,
  buyer: row.buyer,
  seller: row.seller,
  units: Number(row.units),
  price: decodeUint(row.price, `the price of fill ${row.id}`),
  status: row.status as MarketFillStatus,
  chainFillId: row.chain_fill_id,
  txHash: row.tx_hash,
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

export interface MarketGrantRow {
  id: string;
  fill_id: string;
  asset_id: string;
  buyer: string;
  job_config_hash: string;
  units: Int;
  used: Int;
  epsilon_per_unit: number;
  expiry: Int;
  signed: string;
  status: string;
  created_at: Int;
  updated_at: Int;
}

export const MARKET_GRANT_COLUMNS = 'id, fill_id, asset_id, buyer, job_config_hash, units, used, epsilon_per_unit, expiry, signed, status, created_at, updated_at';

/** The grant's columns in the order of `MARKET_GRANT_COLUMNS`. */
export const marketGrantColumns = (g: MarketGrantRecord): unknown[] => [
  g.id,
  g.fillId,
  g.assetId,
  g.buyer,
  g.jobConfigHash,
  g.units,
  g.used,
  g.epsilonPerUnit,
  g.expiry,
  JSON.stringify(g.signed),
  g.status,
  g.createdAt,
  g.updatedAt,
];

export const marketGrantFromRow = (row: MarketGrantRow): MarketGrantRecord => ({
  id: row.id,
  fillId: row.fill_id,
  assetId: row.asset_id,
  buyer: row.buyer,
  jobConfigHash: row.job_config_hash,
  units: Number(row.units),
  used: Number(row.used),
  epsilonPerUnit: row.epsilon_per_unit,
  expiry: Number(row.expiry),
  signed: JSON.parse(row.signed) as unknown,
  status: row.status as MarketGrantStatus,
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

export interface MarketRatingRow {
  asset_id: string;
  fill_id: string;
  rater: string;
  score: Int;
  created_at: Int;
}

export const marketRatingFromRow = (row: MarketRatingRow): MarketRatingRecord => ({
  assetId: row.asset_id,
  fillId: row.fill_id,
  rater: row.rater,
  score: Number(row.score),
  createdAt: Number(row.created_at),
});

/** The search's conditions as SQL over `market_assets a`, with `?`-style placeholders numbered by `param`. */
export function marketSearchConditions(
  search: { text?: string; category?: string; task?: string; schemaHash?: string; maxPrice?: bigint },
  param: (value: unknown) => string,
  likeOperator: string,
): string[] {
  const where: string[] = [];
  if (search.text !== undefined) {
    const pattern = `%${search.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.push(`(a.title ${likeOperator} ${param(pattern)} ESCAPE '\\' OR a.description ${likeOperator} ${param(pattern)} ESCAPE '\\' OR a.category ${likeOperator} ${param(pattern)} ESCAPE '\\')`);
  }
  if (search.category !== undefined) where.push(`a.category = ${param(search.category)}`);
  if (search.task !== undefined) where.push(`a.task = ${param(search.task)}`);
  if (search.schemaHash !== undefined) where.push(`a.schema_hash = ${param(search.schemaHash)}`);
  return where;
}
