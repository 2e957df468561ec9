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
import { isSqliteError, type Connection, type Run } from './connection.js';

const placeholders = (columns: string): string => columns.split(',').map(() => '?').join(', ');

/** Raises `missing` when `table` has no row with this primary key. */
function requireRow(db: Connection, table: string, key: string, id: string, missing: () => Error): void {
  if (!db.prepare(`SELECT 1 FROM ${table} WHERE ${key} = ?`).get(id)) throw missing();
}

/** Runs an insert, turning a primary-key or unique collision into `duplicate`. */
function insertUnique(db: Connection, sql: string, values: unknown[], duplicate: () => Error): void {
  try {
    db.prepare(sql).run(...values);
  } catch (error) {
    if (isSqliteError(error, 'SQLITE_CONSTRAINT_PRIMARYKEY') || isSqliteError(error, 'SQLITE_CONSTRAINT_UNIQUE')) throw duplicate();
    throw error;
  }
}

/** The marketplace's catalogue, orders, fills, grants and ratings in SQLite. */
export function marketRepository(run: Run): MarketRepository {
  return {
    upsertAsset: (asset) =>
      run((db) => {
        const updates = MARKET_ASSET_COLUMNS.split(', ')
          .slice(1)
          .map((c) => `${c} = excluded.${c}`)
          .join(', ');
        db.prepare(`INSERT INTO market_assets (${MARKET_ASSET_COLUMNS}) VALUES (${placeholders(MARKET_ASSET_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET ${updates}`).run(
          ...marketAssetColumns(asset),
        );
      }),
    getAsset: (id) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM market_assets WHERE id = ?').get(id) as MarketAssetRow | undefined;
        return row && marketAssetFromRow(row);
      }),
    searchAssets: (search) =>
      run((db) => {
        const values: unknown[] = [];
        const param = (value: unknown): string => {
          values.push(value);
          return '?';
        };
        const best = `(SELECT MIN(o.price) FROM market_orders o WHERE o.asset_id = a.id AND o.side = 'ask' AND o.status = 'open' AND o.remaining > 0 AND o.expiry > ${param(search.now)})`;
        const where = marketSearchConditions(search, param, 'LIKE');
        const outer = search.maxPrice === undefined ? '' : `WHERE best_ask <= ${param(encodeUint(search.maxPrice))}`;
        const sql = `SELECT * FROM (SELECT a.*, ${best} AS best_ask FROM market_assets a ${where.length ? `WHERE ${where.join(' AND ')}` : ''}) s
          ${outer} ORDER BY best_ask IS NULL, best_ask, id LIMIT ${param(search.limit ?? -1)}`;
        return (db.prepare(sql).all(...values) as (MarketAssetRow & { best_ask: string | null })[]).map((row) => ({
          asset: marketAssetFromRow(row),
          bestAsk: row.best_ask === null ? null : BigInt(row.best_ask),
        }));
      }),
    insertOrder: (order) =>
      run((db) => {
        requireRow(db, 'market_assets', 'id', order.assetId, () => new NotFoundError('market_asset', order.assetId));
        insertUnique(db, `INSERT INTO market_orders (${MARKET_ORDER_COLUMNS}) VALUES (${placeholders(MARKET_ORDER_COLUMNS)})`, marketOrderColumns(order), () =>
          marketOrderDuplicate(order.hash),
        );
      }),
    updateOrder: (hash, change) =>
      run((db) => {
        const { changes } = db.prepare('UPDATE market_orders SET remaining = ?, status = ?, updated_at = ? WHERE hash = ?').run(change.remaining, change.status, change.updatedAt, hash);
        if (changes === 0) throw new NotFoundError('market_order', hash);
      }),
    getOrder: (hash) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM market_orders WHERE hash = ?').get(hash) as MarketOrderRow | undefined;
        return row && marketOrderFromRow(row);
      }),
    listOrders: (filter = {}) =>
      run((db) =>
        (
          db
            .prepare('SELECT * FROM market_orders WHERE (@assetId IS NULL OR asset_id = @assetId) AND (@status IS NULL OR status = @status) ORDER BY rowid')
            .all({ assetId: filter.assetId ?? null, status: filter.status ?? null }) as MarketOrderRow[]
        ).map(marketOrderFromRow),
      ),
    nonceUsed: (maker, nonce) => run((db) => db.prepare('SELECT 1 FROM market_orders WHERE maker = ? AND nonce = ?').get(maker, encodeUint(nonce)) !== undefined),
    insertFill: (fill) =>
      run((db) => {
        requireRow(db, 'market_assets', 'id', fill.assetId, () => new NotFoundError('market_asset', fill.assetId));
        for (const hash of [fill.bidHash, fill.askHash]) requireRow(db, 'market_orders', 'hash', hash, () => new NotFoundError('market_order', hash));
        insertUnique(db, `INSERT INTO market_fills (${MARKET_FILL_COLUMNS}) VALUES (${placeholders(MARKET_FILL_COLUMNS)})`, marketFillColumns(fill), () => marketFillDuplicate(fill.id));
      }),
    updateFill: (id, change) =>
      run((db) => {
        const { changes } = db
          .prepare('UPDATE market_fills SET status = ?, updated_at = ?, chain_fill_id = COALESCE(?, chain_fill_id), tx_hash = COALESCE(?, tx_hash) WHERE id = ?')
          .run(change.status, change.updatedAt, change.chainFillId ?? null, change.txHash ?? null, id);
        if (changes === 0) throw new NotFoundError('market_fill', id);
      }),
    getFill: (id) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM market_fills WHERE id = ?').get(id) as MarketFillRow | undefined;
        return row && marketFillFromRow(row);
      }),
    listFills: (filter = {}) =>
      run((db) =>
        (db.prepare('SELECT * FROM market_fills WHERE (@assetId IS NULL OR asset_id = @assetId) ORDER BY created_at, rowid').all({ assetId: filter.assetId ?? null }) as MarketFillRow[]).map(
          marketFillFromRow,
        ),
      ),
    insertGrant: (grant) =>
      run((db) => {
        requireRow(db, 'market_fills', 'id', grant.fillId, () => new NotFoundError('market_fill', grant.fillId));
        insertUnique(db, `INSERT INTO market_grants (${MARKET_GRANT_COLUMNS}) VALUES (${placeholders(MARKET_GRANT_COLUMNS)})`, marketGrantColumns(grant), () =>
          marketGrantDuplicate(grant.id, grant.fillId),
        );
      }),
    updateGrant: (id, change) =>
      run((db) => {
        const { changes } = db.prepare('UPDATE market_grants SET used = ?, status = ?, updated_at = ? WHERE id = ?').run(change.used, change.status, change.updatedAt, id);
        if (changes === 0) throw new NotFoundError('market_grant', id);
      }),
    getGrant: (id) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM market_grants WHERE id = ?').get(id) as MarketGrantRow | undefined;
        return row && marketGrantFromRow(row);
      }),
    listGrants: (filter = {}) =>
      run((db) =>
        (
          db
            .prepare('SELECT * FROM market_grants WHERE (@assetId IS NULL OR asset_id = @assetId) AND (@buyer IS NULL OR buyer = @buyer) ORDER BY created_at, rowid')
            .all({ assetId: filter.assetId ?? null, buyer: filter.buyer ?? null }) as MarketGrantRow[]
        ).map(marketGrantFromRow),
      ),
    insertRating: (rating) =>
      run((db) => {
        requireRow(db, 'market_fills', 'id', rating.fillId, () => new NotFoundError('market_fill', rating.fillId));
        insertUnique(
          db,
          'INSERT INTO market_ratings (asset_id, fill_id, rater, score, created_at) VALUES (?, ?, ?, ?, ?)',
          [rating.assetId, rating.fillId, rating.rater, rating.score, rating.createdAt],
          () => marketRatingDuplicate(rating.fillId, rating.rater),
        );
      }),
    listRatings: (assetId) =>
      run((db) => (db.prepare('SELECT * FROM market_ratings WHERE asset_id = ? ORDER BY created_at, rowid').all(assetId) as MarketRatingRow[]).map(marketRatingFromRow)),
  };
}
