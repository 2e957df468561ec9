import type { Database } from 'better-sqlite3';
import { StateError } from '../errors.js';
import type { FileModelStore } from './model-store/file-model-store.js';

/** One numbered schema change; versions start at 1 and increase by one. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** What an SQLite migration may need besides the database: the model store its weights move to. */
export interface MigrationContext {
  modelStore?: FileModelStore;
}

/** An SQLite schema change whose data step cannot be SQL: `run` follows `sql`, in the same transaction. */
export interface SqliteMigration extends Migration {
  run?(db: Database, context: MigrationContext): void;
}

/**
 * Moves every version's weights out of the database into the model store, names them by digest and
 * drops the column. Blobs are written before the transaction commits; should it roll back they are
 * unreferenced, and `models gc` removes them.
 */
function moveWeightsToStore(db: Database, context: MigrationContext): void {
  const rows = db.prepare('SELECT rowid AS id, weights FROM model_versions').iterate() as IterableIterator<{ id: number; weights: Buffer }>;
  const name = db.prepare('UPDATE model_versions SET weights_digest = ? WHERE rowid = ?');
  const named: [string, number][] = [];
  for (const row of rows) {
    if (!context.modelStore) throw new StateError('STORAGE_MODEL_STORE_REQUIRED', 'this migration moves model weights into the model store; open the database through SqliteStorage or `cipher-nexus migrate up`');
    named.push([context.modelStore.putSync(row.weights), row.id]);
  }
  for (const [digest, id] of named) name.run(digest, id);
  db.exec('ALTER TABLE model_versions DROP COLUMN weights');
}

/**
 * The schema, as an append-only list: never edit a released migration, add a new one.
 * Foreign keys cover what the storage contract implies (a version needs its model, a round its
 * model, an update its round); a round's job is not enforced, so rounds can run without a job record.
 * Upserts elsewhere use ON CONFLICT DO UPDATE rather than INSERT OR REPLACE because REPLACE
 * deletes the row first, which would cascade into the rows that reference it.
 */
export const MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('online', 'busy', 'offline')),
        resources TEXT NOT NULL,
        labels TEXT NOT NULL,
        registered_at INTEGER NOT NULL,
        last_heartbeat INTEGER NOT NULL
      );

      CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        priority REAL NOT NULL,
        requirements TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'assigned', 'completed', 'failed')),
        node_id TEXT,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        payload TEXT,
        result TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX tasks_status ON tasks (status);
      CREATE INDEX tasks_node ON tasks (node_id);

      CREATE TABLE models (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        architecture TEXT,
        hyperparameters TEXT NOT NULL,
        latest_version INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );

      CREATE TABLE model_versions (
        model_id TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        parent_version INTEGER,
        weights BLOB NOT NULL,
        metrics TEXT NOT NULL,
        round_id TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (model_id, version)
      );

      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        config TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        model_id TEXT,
        report TEXT,
        created_at INTEGER NOT NULL,
        finished_at INTEGER
      );

      CREATE TABLE rounds (
        id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        model_id TEXT NOT NULL REFERENCES models (id),
        number INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'aggregating', 'finalized', 'failed')),
        participants TEXT NOT NULL,
        quorum INTEGER NOT NULL,
        deadline INTEGER NOT NULL,
        base_version INTEGER NOT NULL,
        result_version INTEGER,
        metrics TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        error TEXT
      );
      CREATE INDEX rounds_job ON rounds (job_id, number);

      CREATE TABLE updates (
        round_id TEXT NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        num_examples INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        metrics TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        UNIQUE (round_id, client_id)
      );
    `,
  },
  {
    version: 2,
    name: 'privacy budgets and charges',
    // A charge keeps its own per-order RDP (JSON arrays, null standing for Infinity) rather than only
    // an epsilon: RDP composes by addition (Mironov 2017 Prop. 1), epsilons do not.
    sql: `
      CREATE TABLE privacy_budgets (
        scope_kind TEXT NOT NULL CHECK (scope_kind IN ('dataset', 'participant')),
        scope_id TEXT NOT NULL,
        epsilon REAL NOT NULL CHECK (epsilon > 0),
        delta REAL NOT NULL CHECK (delta > 0 AND delta < 1),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (scope_kind, scope_id)
      );

      CREATE TABLE privacy_charges (
        id TEXT PRIMARY KEY,
        scope_kind TEXT NOT NULL,
        scope_id TEXT NOT NULL,
        job_id TEXT NOT NULL,
        round INTEGER NOT NULL CHECK (round >= 0),
        events TEXT NOT NULL,
        orders TEXT NOT NULL,
        rdp TEXT NOT NULL,
        epsilon_after REAL NOT NULL,
        delta REAL NOT NULL,
        conversion TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        FOREIGN KEY (scope_kind, scope_id) REFERENCES privacy_budgets (scope_kind, scope_id),
        UNIQUE (scope_kind, scope_id, job_id, round)
      );
      CREATE INDEX privacy_charges_scope ON privacy_charges (scope_kind, scope_id, created_at);
    `,
  },
  {
    version: 3,
    name: 'update payloads',
    // Accepted updates' bytes survive a coordinator crash until their round is finalised; a separate
    // nullable column so listing a round's updates never reads them.
    sql: `ALTER TABLE updates ADD COLUMN payload BLOB;`,
  },
  {
    version: 4,
    name: 'strategy state',
    // One row per model: the server optimiser's state as of the newest version it produced.
    sql: `CREATE TABLE strategy_states (
      model_id TEXT PRIMARY KEY REFERENCES models (id) ON DELETE CASCADE,
      strategy TEXT NOT NULL,
      version INTEGER NOT NULL,
      state BLOB NOT NULL,
      updated_at INTEGER NOT NULL
    );`,
  },
  {
    version: 5,
    name: 'marketplace',
    // Prices are uint256 NXS base units: kept as 78-digit zero-padded text so that text order is numeric order.
    sql: `
      CREATE TABLE market_assets (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        replaces TEXT,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        category TEXT NOT NULL,
        task TEXT NOT NULL,
        licence TEXT NOT NULL,
        regions TEXT NOT NULL,
        consent TEXT NOT NULL,
        schema TEXT NOT NULL,
        schema_hash TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        rows INTEGER NOT NULL CHECK (rows >= 0),
        budget_epsilon REAL NOT NULL,
        budget_delta REAL NOT NULL,
        unit_rounds INTEGER NOT NULL CHECK (unit_rounds > 0),
        unit_epsilon REAL NOT NULL,
        quality TEXT NOT NULL,
        listed_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE market_orders (
        hash TEXT PRIMARY KEY,
        asset_id TEXT NOT NULL REFERENCES market_assets (id),
        side TEXT NOT NULL CHECK (side IN ('bid', 'ask')),
        price TEXT NOT NULL,
        units INTEGER NOT NULL CHECK (units > 0),
        remaining INTEGER NOT NULL CHECK (remaining >= 0),
        expiry INTEGER NOT NULL,
        nonce TEXT NOT NULL,
        maker TEXT NOT NULL,
        signature TEXT NOT NULL,
        intent TEXT,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX market_orders_asset ON market_orders (asset_id, status, side, price);
      CREATE INDEX market_orders_nonce ON market_orders (maker, nonce);
      CREATE TABLE market_fills (
        id TEXT PRIMARY KEY,
        asset_id TEXT NOT NULL REFERENCES market_assets (id),
        bid_hash TEXT NOT NULL REFERENCES market_orders (hash),
        ask_hash TEXT NOT NULL REFERENCES market_orders (hash),
        buyer TEXT NOT NULL,
        seller TEXT NOT NULL,
        units INTEGER NOT NULL CHECK (units > 0),
        price TEXT NOT NULL,
        status TEXT NOT NULL,
        chain_fill_id TEXT,
        tx_hash TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX market_fills_asset ON market_fills (asset_id, created_at);
      CREATE TABLE market_grants (
        id TEXT PRIMARY KEY,
        fill_id TEXT NOT NULL UNIQUE REFERENCES market_fills (id),
        asset_id TEXT NOT NULL REFERENCES market_assets (id),
        buyer TEXT NOT NULL,
        job_config_hash TEXT NOT NULL,
        units INTEGER NOT NULL CHECK (units > 0),
        used INTEGER NOT NULL CHECK (used >= 0),
        epsilon_per_unit REAL NOT NULL,
        expiry INTEGER NOT NULL,
        signed TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE market_ratings (
        asset_id TEXT NOT NULL REFERENCES market_assets (id),
        fill_id TEXT NOT NULL REFERENCES market_fills (id),
        rater TEXT NOT NULL,
        score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (fill_id, rater)
      );
    `,
  },
  {
    version: 6,
    name: 'model weights in the model store',
    // NULL once garbage collection removed the weights; the version's row (its lineage) stays.
    sql: `ALTER TABLE model_versions ADD COLUMN weights_digest TEXT;
      CREATE INDEX model_versions_weights ON model_versions (weights_digest);`,
    run: moveWeightsToStore,
  },
];

/**
 * Brings `db` up to the newest migration in `migrations`, all pending ones in one transaction,
 * and returns the versions it applied (empty when the schema was already current).
 */
export function applyMigrations(db: Database, migrations: readonly SqliteMigration[] = MIGRATIONS, context: MigrationContext = {}): number[] {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new StateError(
        'STORAGE_MIGRATIONS_INVALID',
        `migration '${migration.name}' has version ${migration.version}, expected ${index + 1}; versions must be 1, 2, 3, ... in order`,
      );
    }
  });
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const apply = db.transaction((): number[] => {
    // Read inside the transaction so two processes opening the same file cannot both apply a step.
    const row = db.prepare('SELECT MAX(version) AS current FROM schema_migrations').get() as {
      current: number | null;
    };
    const current = row.current ?? 0;
    if (current > migrations.length) {
      throw new StateError(
        'STORAGE_SCHEMA_TOO_NEW',
        `database schema is at version ${current} but this Cipher Nexus knows only up to ${migrations.length}; upgrade Cipher Nexus or use another database file`,
        { current, known: migrations.length },
      );
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    const applied: number[] = [];
    for (const migration of migrations.slice(current)) {
      db.exec(migration.sql);
      migration.run?.(db, context);
      record.run(migration.version, migration.name, Date.now());
      applied.push(migration.version);
    }
    return applied;
  });
  return apply.immediate();
}
