import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { connectStorage } from './index.js';
import type { Migration } from './migrations.js';
import { postgresPoolConfig, StorageUnreachableError } from './postgres-connection.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { blobDigest } from './model-store/model-store.js';
import { PostgresStorage } from './postgres/index.js';
import { describeMarketContract } from './market-contract.js';
import { describeStorageContract, expectCode, model, node, round, type OpenedStorage } from './storage-contract.js';

/**
 * PostgreSQL tests run against a real server: the test run's global setup starts a throwaway one
 * (or takes CIPHER_NEXUS_TEST_PG_URL). Every test works in a schema of its own, dropped afterwards,
 * so test files running in parallel on one database do not meet.
 */
const url = inject('postgresUrl');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const admin = new pg.Pool({ connectionString: url, max: 2 });
afterAll(() => admin.end());

const freshSchema = async (): Promise<string> => {
  const schema = `cn_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  return schema;
};
const dropSchema = (schema: string): Promise<unknown> => admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
const tablesIn = async (schema: string): Promise<string[]> =>
  (await admin.query<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema])).rows.map(
    (row) => row.name,
  );
const appliedIn = async (schema: string): Promise<number[]> =>
  (await admin.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`)).rows.map((row) => row.version);
/** `url` with another user or database, to reach the same server in a way it refuses. */
const variant = (change: (target: URL) => void): string => {
  const target = new URL(url);
  change(target);
  return target.toString();
};
const allVersions = POSTGRES_MIGRATIONS.map((m) => m.version);

const openFresh = async (): Promise<OpenedStorage> => {
  const schema = await freshSchema();
  try {
    return { storage: await PostgresStorage.open({ url, schema }), dispose: async () => void (await dropSchema(schema)) };
  } catch (error) {
    await dropSchema(schema);
    throw error;
  }
};
describeStorageContract('PostgresStorage', openFresh);
describeMarketContract('PostgresStorage', openFresh);

describe('PostgresStorage schema and migrations', () => {
  let schema: string;
  beforeEach(async () => {
    schema = await freshSchema();
  });
  afterEach(() => dropSchema(schema));

  it('creates its tables in the chosen schema with int8, bytea, float8 and byte-ordered text columns, and keeps data across re-opens', async () => {
    const first = await PostgresStorage.open({ url, schema });
    expect(first.appliedMigrations).toEqual(allVersions);
    await first.nodes.upsert(node('n1'));
    await first.close();

    const second = await PostgresStorage.open({ url, schema });
    expect(second.appliedMigrations).toEqual([]);
    expect(await second.nodes.get('n1')).toEqual(node('n1'));
    await second.close();

    expect(await appliedIn(schema)).toEqual(allVersions);
    expect(await tablesIn(schema)).toEqual(
      ['jobs', 'market_assets', 'market_fills', 'market_grants', 'market_orders', 'market_ratings', 'model_blobs', 'model_versions', 'models', 'nodes', 'privacy_budgets', 'privacy_charges', 'rounds', 'schema_migrations', 'strategy_states', 'tasks', 'updates'],
    );
    const columns = await admin.query<{ column: string; type: string; collation: string | null }>(
      `SELECT table_name || '.' || column_name AS column, data_type AS type, collation_name AS collation
       FROM information_schema.columns WHERE table_schema = $1 AND table_name || '.' || column_name = ANY($2) ORDER BY 1`,
      [schema, ['nodes.id', 'nodes.registered_at', 'model_versions.weights_digest', 'updates.payload', 'rounds.job_id', 'privacy_budgets.epsilon', 'privacy_budgets.scope_id', 'strategy_states.model_id', 'strategy_states.state']],
    );
    // Byte-wise collation on what lists are ordered by, whatever the database's default.
    expect(columns.rows).toEqual([
      { column: 'model_versions.weights_digest', type: 'text', collation: 'C' },
      { column: 'nodes.id', type: 'text', collation: 'C' },
      { column: 'nodes.registered_at', type: 'bigint', collation: null },
      { column: 'privacy_budgets.epsilon', type: 'double precision', collation: null },
      { column: 'privacy_budgets.scope_id', type: 'text', collation: 'C' },
      { column: 'rounds.job_id', type: 'text', collation: 'C' },
      { column: 'strategy_states.model_id', type: 'text', collation: 'C' },
      { column: 'strategy_states.state', type: 'bytea', collation: null },
      { column: 'updates.payload', type: 'bytea', collation: null },
    ]);
  });

  it('migrates once when several stores open the same fresh schema at the same time', async () => {
    const stores = await Promise.all(Array.from({ length: 5 }, () => connectStorage(url, { schema })));
    try {
      expect(stores.every((store) => store instanceof PostgresStorage)).toBe(true);
      const applied = stores.map((store) => (store as PostgresStorage).appliedMigrations);
      expect(applied.filter((versions) => versions.length > 0)).toEqual([allVersions]);
      expect(await appliedIn(schema)).toEqual(allVersions);
      await stores[0].nodes.upsert(node('n1'));
      expect(await stores[4].nodes.get('n1')).toEqual(node('n1'));
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('applies only the migrations a re-opened schema has not seen', async () => {
    const extra: Migration = { version: POSTGRES_MIGRATIONS.length + 1, name: 'node notes', sql: 'ALTER TABLE nodes ADD COLUMN notes TEXT' };
    const first = await PostgresStorage.open({ url, schema });
    await first.nodes.upsert(node('n1'));
    await first.close();

    const grown = await PostgresStorage.open({ url, schema, migrations: [...POSTGRES_MIGRATIONS, extra] });
    expect(grown.appliedMigrations).toEqual([extra.version]);
    expect(await grown.nodes.get('n1')).toEqual(node('n1'));
    await grown.close();

    const again = await PostgresStorage.open({ url, schema, migrations: [...POSTGRES_MIGRATIONS, extra] });
    expect(again.appliedMigrations).toEqual([]);
    await again.close();
  });

  it('refuses to open a schema that is newer than this code', async () => {
    const extra: Migration = { version: POSTGRES_MIGRATIONS.length + 1, name: 'future', sql: 'CREATE TABLE future (x int)' };
    await (await PostgresStorage.open({ url, schema, migrations: [...POSTGRES_MIGRATIONS, extra] })).close();
    await expectCode(PostgresStorage.open({ url, schema }), 'STORAGE_SCHEMA_TOO_NEW');
  });

  it('applies nothing, not even the bookkeeping table, when one migration of a batch fails', async () => {
    const broken: Migration[] = [...POSTGRES_MIGRATIONS, { version: POSTGRES_MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE oops (' }];
    await expect(PostgresStorage.open({ url, schema, migrations: broken })).rejects.toThrow(/syntax error/);
    expect(await tablesIn(schema)).toEqual([]);
  });

  it('moves the weights of a schema-5 database into large objects, equal weights once, and drops the column', async () => {
    await (await PostgresStorage.open({ url, schema, migrations: POSTGRES_MIGRATIONS.slice(0, 5) })).close();
    await admin.query(`INSERT INTO ${schema}.models (id, name, architecture, hyperparameters, latest_version, created_at) VALUES ('m1', 'mlp', NULL, '{}', 3, 1)`);
    const weights = [new Float32Array([1, 2, 3]), new Float32Array([1, 2, 3]), new Float32Array([-0, 0.5, 7])];
    for (const [i, w] of weights.entries()) {
      await admin.query(
        `INSERT INTO ${schema}.model_versions (model_id, version, sha256, parent_version, weights, metrics, round_id, created_at) VALUES ('m1', $1, 'x', NULL, $2, '{}', NULL, 1)`,
        [i + 1, Buffer.from(w.buffer)],
      );
    }
    const upgraded = await PostgresStorage.open({ url, schema });
    expect(upgraded.appliedMigrations).toEqual([6]);
    for (const [i, w] of weights.entries()) expect((await upgraded.models.getVersion('m1', i + 1))?.weights).toEqual(w);
    const digests = weights.map((w) => blobDigest(new Uint8Array(w.buffer)));
    expect((await upgraded.modelStore.list()).map((b) => b.digest)).toEqual([...new Set(digests)].sort());
    expect((await upgraded.models.listWeightReferences()).map((r) => r.digest)).toEqual(digests);
    await upgraded.close();
    const objects = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.model_blobs b JOIN pg_largeobject_metadata o ON o.oid = b.oid`);
    expect(objects.rows[0]).toEqual({ n: 2 });
    const column = await admin.query("SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'model_versions' AND column_name = 'weights'", [schema]);
    expect(column.rowCount).toBe(0);
  });

  it('rejects a migration list that is not numbered 1, 2, 3, ...', async () => {
    const gap: Migration[] = [POSTGRES_MIGRATIONS[0], { version: 3, name: 'skipped two', sql: '' }];
    await expectCode(PostgresStorage.open({ url, schema, migrations: gap }), 'STORAGE_MIGRATIONS_INVALID');
  });

  it('names a schema that does not exist, and refuses names that are not plain identifiers', async () => {
    const missing = await expectCode(PostgresStorage.open({ url, schema: `${schema}_missing` }), 'STORAGE_SCHEMA_MISSING');
    expect(missing.message).toContain(`${schema}_missing`);
    await expectCode(PostgresStorage.open({ url, schema: 'Bad-Name; DROP' }), 'STORAGE_SCHEMA_INVALID');
  });
});

describe('PostgresStorage connections and processes', () => {
  let schema: string;
  const opened: PostgresStorage[] = [];
  const open = async (options: { busyTimeoutMs?: number } = {}): Promise<PostgresStorage> => {
    const store = await PostgresStorage.open({ url, schema, ...options });
    opened.push(store);
    return store;
  };
  beforeEach(async () => {
    schema = await freshSchema();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    await dropSchema(schema);
  });

  it('runs a transaction on one connection: another store sees nothing of it until it commits', async () => {
    const a = await open();
    const b = await open();
    await a.transaction(async () => {
      await a.nodes.upsert(node('n1'));
      expect(await a.nodes.get('n1')).toEqual(node('n1'));
      expect(await b.nodes.get('n1')).toBeUndefined();
      await a.transaction(async () => a.nodes.upsert(node('n2')));
      expect(await b.nodes.list()).toEqual([]);
    });
    expect((await b.nodes.list()).map((n) => n.id)).toEqual(['n1', 'n2']);
  });

  it('runs transactions of different processes on one schema one at a time, as SQLite does', async () => {
    const a = await open();
    const b = await open();
    const order: string[] = [];
    const first = a.transaction(async () => {
      order.push('a:start');
      await sleep(150);
      order.push('a:end');
    });
    while (!order.includes('a:start')) await sleep(5);
    // A single call outside a transaction does not wait for the other process's transaction.
    await b.nodes.upsert(node('single'));
    expect(order).toEqual(['a:start']);
    const second = b.transaction(async () => {
      order.push('b:start');
    });
    await Promise.all([first, second]);
    expect(order).toEqual(['a:start', 'a:end', 'b:start']);
  });

  it('gives up with STORAGE_BUSY when another process holds its transaction longer than busyTimeoutMs', async () => {
    const a = await open();
    const b = await open({ busyTimeoutMs: 50 });
    let started = false;
    const holding = a.transaction(async () => {
      started = true;
      await sleep(400);
    });
    while (!started) await sleep(5);
    const busy = await expectCode(b.transaction(async () => b.nodes.upsert(node('late'))), 'STORAGE_BUSY');
    expect(busy.message).toContain('busyTimeoutMs');
    await holding;
    await b.transaction(async () => b.nodes.upsert(node('late')));
    expect((await a.nodes.list()).map((n) => n.id)).toEqual(['late']);
  });

  it("keeps a URL's own startup options beside the schema and lock timeout it sets", async () => {
    const withOptions = variant((t) => t.searchParams.set('options', '-c statement_timeout=4321'));
    const client = new pg.Client(postgresPoolConfig({ url: withOptions, schema, busyTimeoutMs: 1234 }));
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock, current_schema() AS schema, 1::int8 AS one",
      );
      expect(rows).toEqual([{ statement: '4321ms', lock: '1234ms', schema, one: 1 }]);
    } finally {
      await client.end();
    }
  });

  it('refuses values PostgreSQL cannot hold with STORAGE_VALUE_INVALID, inside a transaction without aborting it', async () => {
    const store = await open();
    await expectCode(store.nodes.upsert(node('n1', { registeredAt: 1.5 })), 'STORAGE_VALUE_INVALID');
    await expectCode(store.nodes.upsert(node('nul\u0000id')), 'STORAGE_VALUE_INVALID');
    await store.models.insertModel(model('m1'));
    await store.transaction(async () => {
      await expectCode(store.rounds.upsert({ ...round('r1', 'j1', 'm1', 1), deadline: 2 ** 64 }), 'STORAGE_VALUE_INVALID');
      await store.rounds.upsert(round('r1', 'j1', 'm1', 1));
    });
    expect(await store.rounds.get('r1')).toEqual(round('r1', 'j1', 'm1', 1));
    expect(await store.nodes.list()).toEqual([]);
  });
});

describe('connectStorage with PostgreSQL', () => {
  it('opens PostgresStorage for postgres:// and postgresql:// URLs', async () => {
    const schema = await freshSchema();
    try {
      for (const location of [url, url.replace(/^postgres(ql)?:/, 'postgresql:')]) {
        const store = await connectStorage(location, { schema });
        expect(store).toBeInstanceOf(PostgresStorage);
        await store.close();
      }
    } finally {
      await dropSchema(schema);
    }
  });

  it('names the host and what to check when nothing listens there, without a password or a driver stack', async () => {
    const error = await expectCode(connectStorage('postgres://cn:hunter2@127.0.0.1:1/cipher_nexus', { connectTimeoutMs: 2000 }), 'STORAGE_UNREACHABLE');
    expect(error).toBeInstanceOf(StorageUnreachableError);
    expect(error.message).toMatch(/^cannot reach PostgreSQL at 127\.0\.0\.1:1\/cipher_nexus: ECONNREFUSED; check that PostgreSQL is running/);
    expect(error.message).not.toContain('hunter2');
    expect(JSON.stringify(error.details)).not.toContain('hunter2');
    expect(error.cause).toBeUndefined();
  });

  it('says so when the host name does not resolve', async () => {
    const error = await expectCode(connectStorage('postgres://cn@no-such-host.invalid/db', { connectTimeoutMs: 5000 }), 'STORAGE_UNREACHABLE');
    expect(error.message).toContain("host 'no-such-host.invalid' was not found");
  });

  it('says how to fix a missing database or an unknown user', async () => {
    const database = await expectCode(connectStorage(variant((t) => (t.pathname = '/cn_no_such_database'))), 'STORAGE_UNREACHABLE');
    expect(database.message).toContain('createdb cn_no_such_database');
    const user = await expectCode(connectStorage(variant((t) => (t.username = 'cn_no_such_role'))), 'STORAGE_UNREACHABLE');
    expect(user.message).toContain('check the user name and password');
  });

  it('refuses malformed URLs with STORAGE_URL_INVALID, without echoing the password', async () => {
    const malformed = await expectCode(connectStorage('postgres://cn:hunter2@[oops/db'), 'STORAGE_URL_INVALID');
    expect(malformed.message).not.toContain('hunter2');
    expect(malformed.message).toContain('postgres://cn:***@');
    await expectCode(connectStorage('postgres://db.example:99999/db'), 'STORAGE_URL_INVALID');
  });
});
