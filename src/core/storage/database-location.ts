import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { InvalidInputError } from '../errors.js';
import { connectionFailure, describeTarget, parsePostgresUrl, postgresPoolConfig } from './postgres-connection.js';

/** A database as the CLI's --db names it: an SQLite file, or a PostgreSQL URL (and schema). */
export type DatabaseLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; schema?: string };

/** `scheme://` at the start: a URL, not a file name. */
const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** Reads `--db`: a postgres:// URL is PostgreSQL, anything else an SQLite file (STORAGE_URL_UNSUPPORTED for other URLs). */
export function parseDatabaseLocation(location: string, options: { schema?: string } = {}): DatabaseLocation {
  const scheme = URL_SCHEME.exec(location)?.[1].toLowerCase();
  if (scheme === undefined) return { kind: 'sqlite', path: location };
  if (scheme === 'postgres' || scheme === 'postgresql') {
    parsePostgresUrl(location);
    return { kind: 'postgres', url: location, ...(options.schema ? { schema: options.schema } : {}) };
  }
  throw new InvalidInputError('STORAGE_URL_UNSUPPORTED', `storage location '${scheme}://...' is not supported; give a postgres:// URL or a SQLite file path`, { scheme });
}

/** The location for messages and manifests: a file path, or `postgres://host:port/database` without credentials. */
export function describeDatabaseLocation(location: DatabaseLocation): string {
  if (location.kind === 'sqlite') return location.path;
  const target = describeTarget(parsePostgresUrl(location.url));
  return `postgres://${target}${location.schema ? ` (schema ${location.schema})` : ''}`;
}

/** Opens an existing SQLite database file without creating or migrating it (STORAGE_NOT_FOUND when absent). */
export function openExistingSqlite(path: string, options: { readonly?: boolean } = {}): Database.Database {
  if (path === ':memory:' || !existsSync(path)) {
    throw new InvalidInputError('STORAGE_NOT_FOUND', `database file '${path}' does not exist; give the --db the coordinator uses`, { path });
  }
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** A single connection to a PostgreSQL location, int8 as numbers, its search_path on the location's schema. */
export async function connectPostgres(location: Extract<DatabaseLocation, { kind: 'postgres' }>): Promise<pg.Client> {
  const config = postgresPoolConfig({ url: location.url, schema: location.schema });
  const client = new pg.Client({ connectionString: config.connectionString, options: config.options, types: config.types, connectionTimeoutMillis: config.connectionTimeoutMillis });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectionFailure(error, parsePostgresUrl(location.url)) ?? error;
  }
  return client;
}
