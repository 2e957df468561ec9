import { InvalidInputError } from '../errors.js';
import { PostgresStorage } from './postgres/index.js';
import { SqliteStorage } from './sqlite/index.js';
import type { Storage } from './repository.js';

export type * from './repository.js';
export { SqliteStorage, type SqliteStorageOptions } from './sqlite/index.js';
export { PostgresStorage, type PostgresStorageOptions } from './postgres/index.js';
export { StorageUnreachableError, type PostgresConnectionOptions } from './postgres-connection.js';
export { MIGRATIONS, applyMigrations, type Migration, type MigrationContext, type SqliteMigration } from './migrations.js';
export * from './model-store/index.js';
export { POSTGRES_MIGRATIONS, applyPostgresMigrations } from './postgres-migrations.js';
export { describeDatabaseLocation, parseDatabaseLocation, type DatabaseLocation } from './database-location.js';
export { migrateUp, schemaStatus, type MigrationState, type SchemaStatus } from './schema-status.js';
export { CoordinatorActiveError, takeCoordinatorLease, type CoordinatorLease, type LeaseOptions } from './coordinator-lease.js';

/** Where and how to open storage. */
export interface OpenStorageOptions {
  /** SQLite database file (parent directories are created), or ':memory:'. */
  path: string;
  /** How long a write waits for another process's lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
}

/** Opens (creating and migrating if needed) the embedded SQLite store at `options.path`. */
export function openStorage(options: OpenStorageOptions): Storage {
  return new SqliteStorage({ path: options.path, busyTimeoutMs: options.busyTimeoutMs });
}

/** How to open the store `connectStorage` is given; each option names the stores it applies to. */
export interface ConnectStorageOptions {
  /** Both: how long a write waits for another process's lock (PostgreSQL: its transaction), in ms. Default 5000. */
  busyTimeoutMs?: number;
  /** PostgreSQL: schema that holds the tables; it must exist. Default: the server's search_path, usually `public`. */
  schema?: string;
  /** PostgreSQL: most connections open at once. Default 10. */
  poolSize?: number;
  /** PostgreSQL: how long opening a connection may take, in ms. Default 10000. */
  connectTimeoutMs?: number;
}

/** `scheme://` at the start: a URL, not a file name. */
const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * Opens the store at `location`, creating and migrating its schema if needed: PostgreSQL for a
 * `postgres://` or `postgresql://` URL, otherwise SQLite for a file path or ':memory:'.
 */
export async function connectStorage(location: string, options: ConnectStorageOptions = {}): Promise<Storage> {
  const scheme = URL_SCHEME.exec(location)?.[1].toLowerCase();
  if (scheme === undefined) return new SqliteStorage({ path: location, busyTimeoutMs: options.busyTimeoutMs });
  if (scheme === 'postgres' || scheme === 'postgresql') return PostgresStorage.open({ url: location, ...options });
  throw new InvalidInputError(
    'STORAGE_URL_UNSUPPORTED',
    `storage location '${scheme}://...' is not supported; give a postgres:// URL or a SQLite file path`,
    { scheme },
  );
}
