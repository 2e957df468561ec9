import { SqliteStorage } from './sqlite.js';
import type { Storage } from './repository.js';

export type * from './repository.js';
export { SqliteStorage, type SqliteStorageOptions } from './sqlite.js';
export { MIGRATIONS, applyMigrations, type Migration } from './migrations.js';

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
