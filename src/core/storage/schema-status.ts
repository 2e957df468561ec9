import type Database from 'better-sqlite3';
import type pg from 'pg';
import { StateError } from '../errors.js';
import { connectPostgres, describeDatabaseLocation, openExistingSqlite, type DatabaseLocation } from './database-location.js';
import { applyMigrations, MIGRATIONS, type Migration } from './migrations.js';
import { defaultModelStoreDir, FileModelStore } from './model-store/file-model-store.js';
import { applyPostgresMigrations, POSTGRES_MIGRATIONS } from './postgres-migrations.js';

/** One migration as a database has it: applied (and when) or pending. */
export interface MigrationState {
  version: number;
  name: string;
  appliedAt: number | null;
}

/** Where a database's schema stands against this release's migrations. */
export interface SchemaStatus {
  location: string;
  /** The last migration applied, 0 for a database without a schema yet. */
  current: number;
  /** The newest migration this release knows. */
  latest: number;
  migrations: MigrationState[];
  pending: number[];
}

interface AppliedRow {
  version: number;
  name: string;
  applied_at: number;
}

function statusOf(location: DatabaseLocation, migrations: readonly Migration[], rows: readonly AppliedRow[]): SchemaStatus {
  const applied = new Map(rows.map((row) => [row.version, row]));
  const current = rows.reduce((max, row) => Math.max(max, row.version), 0);
  if (current > migrations.length) {
    throw new StateError(
      'STORAGE_SCHEMA_TOO_NEW',
      `database ${describeDatabaseLocation(location)} is at schema version ${current} but this Cipher Nexus knows only up to ${migrations.length}; upgrade Cipher Nexus`,
      { current, known: migrations.length },
    );
  }
  const states = migrations.map((m) => ({ version: m.version, name: m.name, appliedAt: applied.get(m.version)?.applied_at ?? null }));
  return { location: describeDatabaseLocation(location), current, latest: migrations.length, migrations: states, pending: states.filter((s) => s.appliedAt === null).map((s) => s.version) };
}

function sqliteApplied(db: Database.Database): AppliedRow[] {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  return table ? (db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as AppliedRow[]) : [];
}

async function postgresApplied(client: pg.Client): Promise<AppliedRow[]> {
  const { rows } = await client.query<{ present: string | null }>("SELECT to_regclass('schema_migrations')::text AS present");
  if (rows[0].present === null) return [];
  return (await client.query<AppliedRow>('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')).rows;
}

/** Applied and pending migrations of an existing database, without changing it. */
export async function schemaStatus(location: DatabaseLocation): Promise<SchemaStatus> {
  if (location.kind === 'sqlite') {
    const db = openExistingSqlite(location.path, { readonly: true });
    try {
      return statusOf(location, MIGRATIONS, sqliteApplied(db));
    } finally {
      db.close();
    }
  }
  const client = await connectPostgres(location);
  try {
    return statusOf(location, POSTGRES_MIGRATIONS, await postgresApplied(client));
  } finally {
    await client.end();
  }
}

/** Applies every pending migration of an existing database in one transaction; returns the versions applied. */
export async function migrateUp(location: DatabaseLocation): Promise<number[]> {
  if (location.kind === 'sqlite') {
    const db = openExistingSqlite(location.path);
    try {
      db.pragma('foreign_keys = ON');
      return applyMigrations(db, MIGRATIONS, { modelStore: new FileModelStore(defaultModelStoreDir(location.path)) });
    } finally {
      db.close();
    }
  }
  const client = await connectPostgres(location);
  try {
    return await applyPostgresMigrations(client, POSTGRES_MIGRATIONS);
  } finally {
    await client.end();
  }
}
