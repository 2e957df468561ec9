import { NotFoundError } from '../../errors.js';
import { marketFillDuplicate, marketGrantDuplicate, marketOrderDuplicate, marketRatingDuplicate } from '../conflicts.js';
import type { MarketRepository } from '../market-repository.js';
import {
  MARKET_ASSET_COLUMNS,
  MARKET_FILL_COLUMNS,
  MARKET_GRANT_COLUMNS,
  MARKET_ORDER_COLUMNS,
  encodeUint,
  marketAssetColumns,
  marketAssetFromRow,
  marketFillColumns,
  marketFillFromRow,
  marketGrantColumns,
  marketGrantFromRow,
  marketOrderColumns,
  marketOrderFromRow,
  marketRatingFromRow,
  marketSearchConditions,
  type MarketAssetRow,
  type MarketFillRow,
  type MarketGrantRow,
  type MarketOrderRow,
  type MarketRatingRow,
} from '../market-rows.js';
import { FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION, violated, type Query, type Run } from './query.js';

const placeholders = (columns: string): string =>
  columns
    .split(',')
    .map((_, i) => `$${i + 1}`)
    .join(', ');

/**
 * Runs an insert, turning a collision on one of `unique` into `duplicate` and a reference to a
 * missing row through one of `references` (constraint name to error) into that error.
 */
async function insert(query: Query, sql: string, values: unknown[], unique: string[], duplicate: () => Error, references: Record<string, () => Error>): Promise<void> {
  try {
    await query(sql, values);
  } catch (error) {
    if (unique.some((c) => violated(error, UNIQUE_VIOLATION, c))) throw duplicate();
    for (const [constraint, missing] of Object.entries(references)) if (violated(error, FOREIGN_KEY_VIOLATION, constraint)) throw missing();
    throw error;
  }
}

/** The marketplace's catalogue, orders, fills, grants and ratings in PostgreSQL. */
export function marketRepository(run: Run): MarketRepository {
  return {
    upsertAsset: (asset) =>
      run(async (query) => {
        const updates = MARKET_ASSET_COLUMNS.split(', ')
          .slice(1)
          .map((c) => `${c} = EXCLUDED.${c}`)
          .join(', ');
        await query(`INSERT INTO market_assets (${MARKET_ASSET_COLUMNS}) VALUES (${placeholders(MARKET_ASSET_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET ${updates}`, marketAssetColumns(asset));
      }),
    getAsset: (id) =>
      run(async (query) => {
        const { rows } = await query<MarketAssetRow>('SELECT * FROM market_assets WHERE id = $1', [id]);
        return rows[0] && marketAssetFromRow(rows[0]);
      }),
    searchAssets: (search) =>
      run(async (query) => {
        const values: unknown[] = [];
        const param = (value: unknown): string => {
          values.push(value);
          return `$${values.length}`;
        };
        const best = `(SELECT MIN(o.price) FROM market_orders o WHERE o.asset_id = a.id AND o.side = 'ask' AND o.status = 'open' AND o.remaining > 0 AND o.expiry > ${param(search.now)})`;
        const where = marketSearchConditions(search, param, 'ILIKE');
        const outer = search.maxPrice === undefined ? '' : `WHERE best_ask <= ${param(encodeUint(search.maxPrice))}`;
        const limit = search.limit === undefined ? '' : `LIMIT ${param(search.limit)}`;
        const { rows } = await query<MarketAssetRow & { best_ask: string | null }>(
          `SELECT * FROM (SELECT a.*, ${best} AS best_ask FROM market_assets a ${where.length ? `WHERE ${where.join(' AND ')}` : ''}) s
           ${outer} ORDER BY best_ask IS NULL, best_ask, id ${limit}`,
          values,
        );
        return rows.map((row) => ({ asset: marketAssetFromRow(row), bestAsk: row.best_ask === null ? null : BigInt(row.best_ask) }));
      }),
    insertOrder: (order) =>
      run((query) =>
        insert(
          query,
          `INSERT INTO market_orders (${MARKET_ORDER_COLUMNS}) VALUES (${placeholders(MARKET_ORDER_COLUMNS)})`,
          marketOrderColumns(order),
          ['market_orders_pkey'],
          () => marketOrderDuplicate(order.hash),
          { market_orders_asset_fkey: () => new NotFoundError('market_asset', order.assetId) },
        ),
      ),
    updateOrder: (hash, change) =>
      run(async (query) => {
        const { rowCount } = await query('UPDATE market_orders SET remaining = $1, status = $2, updated_at = $3 WHERE hash = $4', [change.remaining, change.status, change.updatedAt, hash]);
        if (rowCount === 0) throw new NotFoundError('market_order', hash);
      }),
    getOrder: (hash) =>
      run(async (query) => {
        const { rows } = await query<MarketOrderRow>('SELECT * FROM market_orders WHERE hash = $1', [hash]);
        return rows[0] && marketOrderFromRow(rows[0]);
      }),
    listOrders: (filter = {}) =>
      run(async (query) =>
        (
          await query<MarketOrderRow>('SELECT * FROM market_orders WHERE ($1::text IS NULL OR asset_id = $1) AND ($2::text IS NULL OR status = $2) ORDER BY seq', [
            filter.assetId ?? null,
            filter.status ?? null,
          ])
        ).rows.map(marketOrderFromRow),
      ),
    nonceUsed: (maker, nonce) =>
      run(async (query) => (await query('SELECT 1 FROM market_orders WHERE maker = $1 AND nonce = $2', [maker, encodeUint(nonce)])).rows.length > 0),
    insertFill: (fill) =>
      run((query) =>
        insert(query, `INSERT INTO market_fills (${MARKET_FILL_COLUMNS}) VALUES (${placeholders(MARKET_FILL_COLUMNS)})`, marketFillColumns(fill), ['market_fills_pkey'], () => marketFillDuplicate(fill.id), {
          market_fills_asset_fkey: () => new NotFoundError('market_asset', fill.assetId),
          market_fills_bid_fkey: () => new NotFoundError('market_order', fill.bidHash),
          market_fills_ask_fkey: () => new NotFoundError('market_order', fill.askHash),
        }),
      ),
    updateFill: (id, change) =>
      run(async (query) => {
        const { rowCount } = await query(
          'UPDATE market_fills SET status = $1, updated_at = $2, chain_fill_id = COALESCE($3, chain_fill_id), tx_hash = COALESCE($4, tx_hash) WHERE id = $5',
          [change.status, change.updatedAt, change.chainFillId ?? null, change.txHash ?? null, id],
        );
        if (rowCount === 0) throw new NotFoundError('market_fill', id);
      }),
    getFill: (id) =>
      run(async (query) => {
        const { rows } = await query<MarketFillRow>('SELECT * FROM market_fills WHERE id = $1', [id]);
        return rows[0] && marketFillFromRow(rows[0]);
      }),
    listFills: (filter = {}) =>
      run(async (query) =>
        (await query<MarketFillRow>('SELECT * FROM market_fills WHERE ($1::text IS NULL OR asset_id = $1) ORDER BY created_at, seq', [filter.assetId ?? null])).rows.map(marketFillFromRow),
      ),
    insertGrant: (grant) =>
      run((query) =>
        insert(
          query,
          `INSERT INTO market_grants (${MARKET_GRANT_COLUMNS}) VALUES (${placeholders(MARKET_GRANT_COLUMNS)})`,
          marketGrantColumns(grant),
          ['market_grants_pkey', 'market_grants_fill_key'],
          () => marketGrantDuplicate(grant.id, grant.fillId),
          { market_grants_fill_fkey: () => new NotFoundError('market_fill', grant.fillId), market_grants_asset_fkey: () => new NotFoundError('market_asset', grant.assetId) },
        ),
      ),
    updateGrant: (id, change) =>
      run(async (query) => {
        const { rowCount } = await query('UPDATE market_grants SET used = $1, status = $2, updated_at = $3 WHERE id = $4', [change.used, change.status, change.updatedAt, id]);
        if (rowCount === 0) throw new NotFoundError('market_grant', id);
      }),
    getGrant: (id) =>
      run(async (query) => {
        const { rows } = await query<MarketGrantRow>('SELECT * FROM market_grants WHERE id = $1', [id]);
        return rows[0] && marketGrantFromRow(rows[0]);
      }),
    listGrants: (filter = {}) =>
      run(async (query) =>
        (
          await query<MarketGrantRow>('SELECT * FROM market_grants WHERE ($1::text IS NULL OR asset_id = $1) AND ($2::text IS NULL OR buyer = $2) ORDER BY created_at, seq', [
            filter.assetId ?? null,
            filter.buyer ?? null,
          ])
        ).rows.map(marketGrantFromRow),
      ),
    insertRating: (rating) =>
      run((query) =>
        insert(
          query,
          'INSERT INTO market_ratings (asset_id, fill_id, rater, score, created_at) VALUES ($1, $2, $3, $4, $5)',
          [rating.assetId, rating.fillId, rating.rater, rating.score, rating.createdAt],
          ['market_ratings_pkey'],
          () => marketRatingDuplicate(rating.fillId, rating.rater),
          { market_ratings_fill_fkey: () => new NotFoundError('market_fill', rating.fillId), market_ratings_asset_fkey: () => new NotFoundError('market_asset', rating.assetId) },
        ),
      ),
    listRatings: (assetId) =>
      run(async (query) => (await query<MarketRatingRow>('SELECT * FROM market_ratings WHERE asset_id = $1 ORDER BY created_at, seq', [assetId])).rows.map(marketRatingFromRow)),
  };
}
