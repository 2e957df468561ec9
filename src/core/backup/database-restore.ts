import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { InvalidInputError } from '../errors.js';
import { connectPostgres, describeDatabaseLocation, type DatabaseLocation } from '../storage/database-location.js';
import { defaultModelStoreDir, FileModelStore } from '../storage/model-store/file-model-store.js';
import { verifiedBlob } from '../storage/model-store/model-store.js';
import { POSTGRES_MIGRATIONS, applyPostgresMigrationsWithin } from '../storage/postgres-migrations.js';
import { COPY_BATCH, quote, sqliteTables } from './database-snapshot.js';

/** A model-store blob of a backup: its digest and the file that holds it. */
export interface BackupBlob {
  digest: string;
  file: string;
}

/** A backup blob's bytes, checked against its name once more as they are read for restoring. */
const readBlob = (blob: BackupBlob): Uint8Array => verifiedBlob(blob.digest, readFileSync(blob.file), `the backup (${blob.file})`);

function refuseExisting(location: DatabaseLocation, why: string): never {
  throw new InvalidInputError('RESTORE_TARGET_NOT_EMPTY', `${describeDatabaseLocation(location)} ${why}; restore into a new database file or an empty PostgreSQL schema, never over a live one`);
}

/**
 * Copies the file whole: the snapshot already is an SQLite database, renamed into place so no half
 * file is ever seen. The blobs go to its model store first, so the database never refers to one absent.
 */
function restoreSqlite(snapshot: string, location: Extract<DatabaseLocation, { kind: 'sqlite' }>, blobs: readonly BackupBlob[], modelStoreDir: string | undefined): void {
  const { path } = location;
  if (path === ':memory:') throw new InvalidInputError('RESTORE_TARGET_INVALID', 'cannot restore into :memory:; give a database file path');
  if (existsSync(path) || existsSync(`${path}-wal`)) refuseExisting(location, 'already exists');
  mkdirSync(dirname(path), { recursive: true });
  const store = new FileModelStore(modelStoreDir ?? defaultModelStoreDir(path));
  for (const blob of blobs) store.putSync(readBlob(blob));
  const partial = `${path}.restoring`;
  try {
    copyFileSync(snapshot, partial);
    renameSync(partial, path);
  } finally {
    rmSync(partial, { force: true });
  }
}

/**
 * Creates the snapshot's schema version in an empty PostgreSQL schema and copies every table in rowid
 * order (which becomes `seq` order), all in one transaction: a failure leaves the schema empty.
 */
async function restorePostgres(snapshot: string, location: Extract<DatabaseLocation, { kind: 'postgres' }>, schemaVersion: number, blobs: readonly BackupBlob[]): Promise<void> {
  const db = new Database(snapshot, { readonly: true });
  const client = await connectPostgres(location);
  try {
    const tables = (await client.query<{ count: string }>("SELECT count(*)::text AS count FROM information_schema.tables WHERE table_schema = current_schema()")).rows[0].count;
    if (tables !== '0') refuseExisting(location, `already holds ${tables} table(s)`);
    await client.query('BEGIN');
    try {
      await applyPostgresMigrationsWithin(client, POSTGRES_MIGRATIONS.slice(0, schemaVersion));
      // The applied dates are the original database's, not today's.
      await client.query('DELETE FROM schema_migrations');
      for (const row of db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as { version: number; name: string; applied_at: number }[]) {
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [row.version, row.name, row.applied_at]);
      }
      // Before the versions: their foreign key needs each blob they name.
      for (const blob of blobs) {
        const bytes = readBlob(blob);
        await client.query('INSERT INTO model_blobs (digest, oid, bytes) VALUES ($1, lo_from_bytea(0, $2), $3)', [blob.digest, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength]);
      }
      for (const table of sqliteTables(db)) {
        const select = db.prepare(`SELECT ${table.columns.map(quote).join(', ')} FROM ${quote(table.name)} ORDER BY rowid`).raw();
        let batch: unknown[][] = [];
        const flush = async (): Promise<void> => {
          if (batch.length === 0) return;
          const width = table.columns.length;
          const values = batch.map((_, r) => `(${table.columns.map((__, c) => `$${r * width + c + 1}`).join(', ')})`).join(', ');
          await client.query(`INSERT INTO ${quote(table.name)} (${table.columns.map(quote).join(', ')}) VALUES ${values}`, batch.flat());
          batch = [];
        };
        for (const row of select.iterate() as Iterable<unknown[]>) {
          batch.push(row);
          if (batch.length === COPY_BATCH) await flush();
        }
        await flush();
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    db.close();
    await client.end();
  }
}

/**
 * Writes the database snapshot `snapshot` (an SQLite file of schema `schemaVersion`) into a new
 * database at `location`, and `blobs` into its model store.
 */
export async function restoreDatabase(snapshot: string, location: DatabaseLocation, schemaVersion: number, blobs: readonly BackupBlob[], modelStoreDir?: string): Promise<void> {
  if (location.kind === 'sqlite') restoreSqlite(snapshot, location, blobs, modelStoreDir);
  else await restorePostgres(snapshot, location, schemaVersion, blobs);
}
