import type pg from 'pg';
import { InvalidInputError, StateError } from '../errors.js';
import type { Migration } from './migrations.js';

/**
 * Advisory-lock class (the first key of pg_advisory_xact_lock(int, int)) held while migrating; the
 * second key is the schema's hashtext, so stores in different schemas of one database do not wait
 * for each other. A hash collision only makes two schemas migrate one after the other.
 */
const MIGRATION_LOCK = 0x434e_4d47; // 'CNMG'

/**
 * The PostgreSQL schema, step for step the same as the SQLite one in migrations.ts (same version
 * numbers, tables, columns and constraints), as an append-only list: never edit a released step.
 * Where the types differ, the choice keeps SQLite's behaviour:
 * - JSON stays TEXT, not jsonb: jsonb reorders keys, refuses \u0000 and would not keep a JSON `null`
 *   apart from SQL NULL (which stands for `undefined`) once pg parses it.
 * - Keys and columns that lists are ordered by are COLLATE "C", so they sort byte by byte as in
 *   SQLite, whatever the database's default collation.
 * - `seq` stands in for SQLite's rowid: insertion order, the tie-breaker of every list. An upsert
 *   keeps it, as ON CONFLICT DO UPDATE keeps a rowid.
 * - SQLite stores NaN as NULL and so refuses it in NOT NULL columns; PostgreSQL would store it (and
 *   NaN > 0 is true there), so the float columns refuse it explicitly.
 * - Update payloads and (before version 6) weights are float or ciphertext bytes that do not compress: STORAGE EXTERNAL keeps
 *   them out of line without TOAST trying.
 * Constraints are named so that the adapter can map a violation to its error.
 */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE nodes (
        id TEXT COLLATE "C" PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('online', 'busy', 'offline')),
        resources TEXT NOT NULL,
        labels TEXT NOT NULL,
        registered_at BIGINT NOT NULL,
        last_heartbeat BIGINT NOT NULL
      );

      CREATE TABLE tasks (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE "C" PRIMARY KEY,
        type TEXT NOT NULL,
        priority DOUBLE PRECISION NOT NULL CHECK (priority <> 'NaN'),
        requirements TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'assigned', 'completed', 'failed')),
        node_id TEXT COLLATE "C",
        attempts BIGINT NOT NULL,
        max_attempts BIGINT NOT NULL,
        payload TEXT,
        result TEXT,
        error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX tasks_status ON tasks (status);
      CREATE INDEX tasks_node ON tasks (node_id);

      CREATE TABLE models (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE "C" CONSTRAINT models_pkey PRIMARY KEY,
        name TEXT NOT NULL,
        architecture TEXT,
        hyperparameters TEXT NOT NULL,
        latest_version BIGINT NOT NULL,
        created_at BIGINT NOT NULL
      );

      CREATE TABLE model_versions (
        model_id TEXT COLLATE "C" NOT NULL CONSTRAINT model_versions_model_fkey REFERENCES models (id) ON DELETE CASCADE,
        version BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        parent_version BIGINT,
        weights BYTEA NOT NULL,
        metrics TEXT NOT NULL,
        round_id TEXT COLLATE "C",
        created_at BIGINT NOT NULL,
        CONSTRAINT model_versions_pkey PRIMARY KEY (model_id, version)
      );
      ALTER TABLE model_versions ALTER COLUMN weights SET STORAGE EXTERNAL;

      CREATE TABLE jobs (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        config TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        model_id TEXT COLLATE "C",
        report TEXT,
        created_at BIGINT NOT NULL,
        finished_at BIGINT
      );

      CREATE TABLE rounds (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE "C" PRIMARY KEY,
        job_id TEXT COLLATE "C" NOT NULL,
        model_id TEXT COLLATE "C" NOT NULL CONSTRAINT rounds_model_fkey REFERENCES models (id),
        number BIGINT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'aggregating', 'finalized', 'failed')),
        participants TEXT NOT NULL,
        quorum BIGINT NOT NULL,
        deadline BIGINT NOT NULL,
        base_version BIGINT NOT NULL,
        result_version BIGINT,
        metrics TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        error TEXT
      );
      CREATE INDEX rounds_job ON rounds (job_id, number);

      CREATE TABLE updates (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        round_id TEXT COLLATE "C" NOT NULL CONSTRAINT updates_round_fkey REFERENCES rounds (id) ON DELETE CASCADE,
        client_id TEXT COLLATE "C" NOT NULL,
        num_examples BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        metrics TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        CONSTRAINT updates_round_client_key UNIQUE (round_id, client_id)
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
        scope_kind TEXT COLLATE "C" NOT NULL CHECK (scope_kind IN ('dataset', 'participant')),
        scope_id TEXT COLLATE "C" NOT NULL,
        epsilon DOUBLE PRECISION NOT NULL CHECK (epsilon > 0 AND epsilon <> 'NaN'),
        delta DOUBLE PRECISION NOT NULL CHECK (delta > 0 AND delta < 1),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (scope_kind, scope_id)
      );

      CREATE TABLE privacy_charges (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE "C" PRIMARY KEY,
        scope_kind TEXT COLLATE "C" NOT NULL,
        scope_id TEXT COLLATE "C" NOT NULL,
        job_id TEXT COLLATE "C" NOT NULL,
        round BIGINT NOT NULL CHECK (round >= 0),
        events TEXT NOT NULL,
        orders TEXT NOT NULL,
        rdp TEXT NOT NULL,
        epsilon_after DOUBLE PRECISION NOT NULL CHECK (epsilon_after <> 'NaN'),
        delta DOUBLE PRECISION NOT NULL CHECK (delta <> 'NaN'),
        conversion TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        CONSTRAINT privacy_charges_budget_fkey FOREIGN KEY (scope_kind, scope_id) REFERENCES privacy_budgets (scope_kind, scope_id),
        CONSTRAINT privacy_charges_scope_round_key UNIQUE (scope_kind, scope_id, job_id, round)
      );
      CREATE INDEX privacy_charges_scope ON privacy_charges (scope_kind, scope_id, created_at);
    `,
  },
  {
    version: 3,
    name: 'update payloads',
    // Accepted updates' bytes survive a coordinator crash until their round is finalised; a separate
    // nullable column so listing a round's updates never reads them.
    sql: `
      ALTER TABLE updates ADD COLUMN payload BYTEA;
      ALTER TABLE updates ALTER COLUMN payload SET STORAGE EXTERNAL;
    `,
  },
  {
    version: 4,
    name: 'strategy state',
    // One row per model: the server optimiser's state as of the newest version it produced.
    sql: `
      CREATE TABLE strategy_states (
        model_id TEXT COLLATE "C" CONSTRAINT strategy_states_pkey PRIMARY KEY
          CONSTRAINT strategy_states_model_fkey REFERENCES models (id) ON DELETE CASCADE,
        strategy TEXT NOT NULL,
        version BIGINT NOT NULL,
        state BYTEA NOT NULL,
        updated_at BIGINT NOT NULL
      );
      ALTER TABLE strategy_states ALTER COLUMN state SET STORAGE EXTERNAL;
    `,
  },
  {
    version: 5,
    name: 'marketplace',
    // Prices are uint256 NXS base units: kept as 78-digit zero-padded text, as in SQLite, so that text order is numeric order.
    sql: `
      CREATE TABLE market_assets (
        id TEXT COLLATE "C" CONSTRAINT market_assets_pkey PRIMARY KEY,
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
        rows BIGINT NOT NULL CHECK (rows >= 0),
        budget_epsilon DOUBLE PRECISION NOT NULL,
        budget_delta DOUBLE PRECISION NOT NULL,
        unit_rounds INTEGER NOT NULL CHECK (unit_rounds > 0),
        unit_epsilon DOUBLE PRECISION NOT NULL,
        quality TEXT NOT NULL,
        listed_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE market_orders (
        hash TEXT COLLATE "C" CONSTRAINT market_orders_pkey PRIMARY KEY,
        asset_id TEXT COLLATE "C" NOT NULL CONSTRAINT market_orders_asset_fkey REFERENCES market_assets (id),
        side TEXT NOT NULL CHECK (side IN ('bid', 'ask')),
        price TEXT COLLATE "C" NOT NULL,
        units BIGINT NOT NULL CHECK (units > 0),
        remaining BIGINT NOT NULL CHECK (remaining >= 0),
        expiry BIGINT NOT NULL,
        nonce TEXT COLLATE "C" NOT NULL,
        maker TEXT COLLATE "C" NOT NULL,
        signature TEXT NOT NULL,
        intent TEXT,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        seq BIGSERIAL
      );
      CREATE INDEX market_orders_asset ON market_orders (asset_id, status, side, price);
      CREATE INDEX market_orders_nonce ON market_orders (maker, nonce);
      CREATE TABLE market_fills (
        id TEXT COLLATE "C" CONSTRAINT market_fills_pkey PRIMARY KEY,
        asset_id TEXT COLLATE "C" NOT NULL CONSTRAINT market_fills_asset_fkey REFERENCES market_assets (id),
        bid_hash TEXT COLLATE "C" NOT NULL CONSTRAINT market_fills_bid_fkey REFERENCES market_orders (hash),
        ask_hash TEXT COLLATE "C" NOT NULL CONSTRAINT market_fills_ask_fkey REFERENCES market_orders (hash),
        buyer TEXT NOT NULL,
        seller TEXT NOT NULL,
        units BIGINT NOT NULL CHECK (units > 0),
        price TEXT COLLATE "C" NOT NULL,
        status TEXT NOT NULL,
        chain_fill_id TEXT,
        tx_hash TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        seq BIGSERIAL
      );
      CREATE INDEX market_fills_asset ON market_fills (asset_id, created_at);
      CREATE TABLE market_grants (
        id TEXT COLLATE "C" CONSTRAINT market_grants_pkey PRIMARY KEY,
        fill_id TEXT COLLATE "C" NOT NULL CONSTRAINT market_grants_fill_key UNIQUE
          CONSTRAINT market_grants_fill_fkey REFERENCES market_fills (id),
        asset_id TEXT COLLATE "C" NOT NULL CONSTRAINT market_grants_asset_fkey REFERENCES market_assets (id),
        buyer TEXT COLLATE "C" NOT NULL,
        job_config_hash TEXT NOT NULL,
        units BIGINT NOT NULL CHECK (units > 0),
        used BIGINT NOT NULL CHECK (used >= 0),
        epsilon_per_unit DOUBLE PRECISION NOT NULL,
        expiry BIGINT NOT NULL,
        signed TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        seq BIGSERIAL
      );
      CREATE TABLE market_ratings (
        asset_id TEXT COLLATE "C" NOT NULL CONSTRAINT market_ratings_asset_fkey REFERENCES market_assets (id),
        fill_id TEXT COLLATE "C" NOT NULL CONSTRAINT market_ratings_fill_fkey REFERENCES market_fills (id),
        rater TEXT COLLATE "C" NOT NULL,
        score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
        created_at BIGINT NOT NULL,
        seq BIGSERIAL,
        CONSTRAINT market_ratings_pkey PRIMARY KEY (fill_id, rater)
      );
    `,
  },
  {
    version: 6,
    name: 'model weights in the model store',
    // The model store here is large objects named in model_blobs. The foreign key keeps a blob that a
    // version refers to from being deleted, even by a collection racing a writer. DISTINCT ON sits in
    // a subquery so that lo_from_bytea runs once per distinct blob, not once per version.
    sql: `
      CREATE TABLE model_blobs (
        digest TEXT COLLATE "C" CONSTRAINT model_blobs_pkey PRIMARY KEY,
        oid OID NOT NULL,
        bytes BIGINT NOT NULL
      );
      ALTER TABLE model_versions ADD COLUMN weights_digest TEXT COLLATE "C"
        CONSTRAINT model_versions_blob_fkey REFERENCES model_blobs (digest);
      CREATE INDEX model_versions_weights ON model_versions (weights_digest);
      INSERT INTO model_blobs (digest, oid, bytes)
        SELECT digest, lo_from_bytea(0, weights), length(weights)
        FROM (SELECT DISTINCT ON (digest) encode(sha256(weights), 'hex') AS digest, weights FROM model_versions ORDER BY digest) AS distinct_weights;
      UPDATE model_versions SET weights_digest = encode(sha256(weights), 'hex');
      ALTER TABLE model_versions DROP COLUMN weights;
    `,
  },
];

/**
 * Brings the schema `client` is on (its search_path) up to the newest of `migrations`, all pending
 * steps in one transaction under an advisory lock, so that of several processes starting at once
 * exactly one migrates and the others see its result. Returns the versions it applied.
 */
export async function applyPostgresMigrations(
  client: pg.ClientBase,
  migrations: readonly Migration[] = POSTGRES_MIGRATIONS,
): Promise<number[]> {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new StateError(
        'STORAGE_MIGRATIONS_INVALID',
        `migration '${migration.name}' has version ${migration.version}, expected ${index + 1}; versions must be 1, 2, 3, ... in order`,
      );
    }
  });
  await client.query('BEGIN');
  try {
    const applied = await applyPostgresMigrationsWithin(client, migrations);
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    // The original error says more than a failed ROLLBACK would; a broken connection is discarded by the caller.
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * The steps of `applyPostgresMigrations` inside a transaction the caller opened and ends (a restore
 * creates the schema and fills it in one transaction). Returns the versions it applied.
 */
export async function applyPostgresMigrationsWithin(client: pg.ClientBase, migrations: readonly Migration[] = POSTGRES_MIGRATIONS): Promise<number[]> {
  const { rows } = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  const schema = rows[0].schema;
  if (schema === null) {
    throw new InvalidInputError(
      'STORAGE_SCHEMA_MISSING',
      `no schema on the search_path exists (${await searchPath(client)}); create the schema first (CREATE SCHEMA name) or choose an existing one`,
    );
  }
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK, schema]);
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`);
  const current = (await client.query<{ current: number | null }>('SELECT MAX(version) AS current FROM schema_migrations')).rows[0].current ?? 0;
  if (current > migrations.length) {
    throw new StateError(
      'STORAGE_SCHEMA_TOO_NEW',
      `schema '${schema}' is at version ${current} but this Cipher Nexus knows only up to ${migrations.length}; upgrade Cipher Nexus or use another database or schema`,
      { current, known: migrations.length },
    );
  }
  const applied: number[] = [];
  for (const migration of migrations.slice(current)) {
    await client.query(migration.sql);
    await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
      migration.version,
      migration.name,
      Date.now(),
    ]);
    applied.push(migration.version);
  }
  return applied;
}

async function searchPath(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ path: string }>("SELECT current_setting('search_path') AS path");
  return `search_path is '${rows[0].path}'`;
}
