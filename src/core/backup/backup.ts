import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { verifyAuditTrail } from '../audit-trail.js';
import { InvalidInputError } from '../errors.js';
import { describeDatabaseLocation, type DatabaseLocation } from '../storage/database-location.js';
import { MIGRATIONS } from '../storage/migrations.js';
import { defaultModelStoreDir, FileModelStore } from '../storage/model-store/file-model-store.js';
import { ModelBlobMissingError } from '../storage/model-store/model-store.js';
import { defaultUpdateJournalDir, UpdateJournal } from '../storage/sqlite/update-journal.js';
import { restoreDatabase } from './database-restore.js';
import { snapshotDatabase, sqliteSchemaVersion } from './database-snapshot.js';
import { BackupCorruptError, hashFile, manifestHash, MANIFEST_FILE, readManifest, type BackupManifest, type BackupPart } from './manifest.js';

const DATABASE_PART = 'database.sqlite';
const AUDIT_PART = 'audit.jsonl';
/** The backup's copy of the model store, laid out as a file model store. */
const BLOBS_DIR = 'blobs';

/** True when the database keeps weights in the model store (schema 6 on), not in a column. */
const weightsInStore = (db: Database.Database): boolean =>
  (db.prepare('PRAGMA table_info(model_versions)').all() as { name: string }[]).some((c) => c.name === 'weights_digest');

/** The blobs a database's versions refer to. */
const referencedBlobs = (db: Database.Database): { digest: string; modelId: string; version: number }[] =>
  weightsInStore(db)
    ? (db.prepare('SELECT weights_digest AS digest, model_id AS modelId, version FROM model_versions WHERE weights_digest IS NOT NULL ORDER BY weights_digest').all() as { digest: string; modelId: string; version: number }[])
    : [];

/**
 * Copies each blob the snapshot refers to from the SQLite database's model store, its digest checked.
 * A blob missing here was collected after the snapshot was taken: the backup is refused, not partial.
 */
function copySqliteBlobs(snapshot: string, source: FileModelStore, target: FileModelStore): void {
  const db = new Database(snapshot, { readonly: true });
  try {
    for (const { digest } of referencedBlobs(db)) {
      try {
        target.putSync(source.getSync(digest));
      } catch (error) {
        if (error instanceof ModelBlobMissingError) {
          throw new InvalidInputError('BACKUP_BLOB_MISSING', `model blob ${digest} that the database refers to is not in ${source.location}; if \`models gc\` was running, take the backup again, otherwise restore the store from an earlier backup`, { digest });
        }
        throw error;
      }
    }
  } finally {
    db.close();
  }
}

/**
 * Puts the bytes of open rounds' updates, which a database file keeps in its journal, into the
 * snapshot's rows, so a backup is one self-contained database. A record newer than the snapshot
 * (its row is not there) is left out.
 */
async function copyJournaledPayloads(snapshot: string, journal: UpdateJournal): Promise<void> {
  const db = new Database(snapshot);
  try {
    const rounds = db.prepare('SELECT DISTINCT round_id FROM updates WHERE payload IS NULL').pluck().all() as string[];
    const fill = db.prepare('UPDATE updates SET payload = ? WHERE round_id = ? AND client_id = ? AND payload IS NULL');
    for (const roundId of rounds) await journal.forEach(roundId, (clientId, payload) => fill.run(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), roundId, clientId));
  } finally {
    db.close();
  }
}

/** One manifest part per blob in the backup's store. */
const blobParts = (store: FileModelStore): BackupPart[] =>
  store.listSync().map((blob) => ({ kind: 'blob', path: `${BLOBS_DIR}/sha256/${blob.digest.slice(0, 2)}/${blob.digest}`, bytes: blob.bytes, sha256: blob.digest }));

/** What to back up and where. */
export interface CreateBackupOptions {
  database: DatabaseLocation;
  /** An SQLite database's model store; default: the folder beside the file (`<path>-models`). */
  modelStoreDir?: string;
  /** The coordinator's audit trail; omitted, the backup has no audit part. */
  auditFile?: string;
  /** Folder that holds backups; each backup is a folder inside it. */
  dir: string;
  /** The backup's folder name; default `backup-<UTC time>`. */
  name?: string;
  now?: () => Date;
}

/** A backup on disk and its manifest. */
export interface BackupInfo {
  name: string;
  path: string;
  manifest: BackupManifest;
  bytes: number;
}

/** The `backup-20261204T190532Z` form: sorts by time and is safe in any file system. */
const defaultName = (at: Date): string => `backup-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;

/**
 * Copies the trail up to its last complete line: a line still being appended was never acknowledged,
 * and the coordinator keeps writing while the copy is taken. Refuses a trail that does not verify.
 */
function copyAuditTrail(source: string, target: string): { entries: number; head: string } {
  if (!existsSync(source)) throw new InvalidInputError('AUDIT_NOT_FOUND', `audit trail '${source}' does not exist; give the trail the coordinator writes with --audit`, { file: source });
  const bytes = readFileSync(source);
  const end = bytes.lastIndexOf(0x0a) + 1;
  writeFileSync(target, bytes.subarray(0, end));
  const check = verifyAuditTrail(target);
  if (!check.ok) {
    throw new InvalidInputError('BACKUP_AUDIT_BROKEN', `audit trail '${source}' fails at entry ${check.firstBadSeq}: ${check.reason}; it is not backed up as if intact: keep it as evidence and run \`cipher-nexus audit verify ${source}\``);
  }
  return { entries: check.entries, head: check.head };
}

/**
 * Writes each model's newest version as raw little-endian float32 bytes, named after the model and
 * version: read from the snapshot's column before schema 6, from the backup's blobs since.
 */
function exportModels(snapshot: string, folder: string, blobs: FileModelStore): BackupPart[] {
  const db = new Database(snapshot, { readonly: true });
  try {
    const inStore = weightsInStore(db);
    const rows = (
      db
        .prepare(`SELECT v.model_id AS modelId, v.version AS version, v.sha256 AS sha256, ${inStore ? 'v.weights_digest AS digest' : 'v.weights AS weights'} FROM models m JOIN model_versions v ON v.model_id = m.id AND v.version = m.latest_version ORDER BY m.rowid`)
        .all() as { modelId: string; version: number; sha256: string; weights?: Buffer; digest?: string | null }[]
    ).flatMap((row) => {
      if (!inStore) return [{ ...row, weights: row.weights as Buffer }];
      return row.digest ? [{ ...row, weights: Buffer.from(blobs.getSync(row.digest)) }] : [];
    });
    if (rows.length > 0) mkdirSync(join(folder, 'models'));
    return rows.map((row, index) => {
      // Model ids are UUID-based; the index keeps a file name unique and safe whatever an id holds.
      const path = `models/${index + 1}-${row.modelId.replace(/[^A-Za-z0-9_-]/g, '_')}-v${row.version}.f32`;
      writeFileSync(join(folder, path), row.weights);
      return { kind: 'model', path, bytes: row.weights.length, sha256: createHash('sha256').update(row.weights).digest('hex'), modelId: row.modelId, version: row.version };
    });
  } finally {
    db.close();
  }
}

/**
 * Backs up the database (one consistent snapshot, taken while the coordinator runs), the model-store
 * blobs it refers to, each model's newest weights and the audit trail into a new folder with a
 * manifest of their sha256; the folder appears only once complete.
 */
export async function createBackup(options: CreateBackupOptions): Promise<BackupInfo> {
  const at = (options.now ?? (() => new Date()))();
  const name = options.name ?? defaultName(at);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new InvalidInputError('BACKUP_NAME_INVALID', `backup name '${name}' may hold only letters, digits, '.', '_' and '-'`);
  const path = join(options.dir, name);
  if (existsSync(path)) throw new InvalidInputError('BACKUP_EXISTS', `backup '${path}' already exists; choose another --name`);
  const partial = join(options.dir, `.${name}.partial`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    const blobs = new FileModelStore(join(partial, BLOBS_DIR));
    const snapshot = await snapshotDatabase(options.database, join(partial, DATABASE_PART), (_digest, bytes) => void blobs.putSync(bytes));
    if (options.database.kind === 'sqlite') {
      copySqliteBlobs(join(partial, DATABASE_PART), new FileModelStore(options.modelStoreDir ?? defaultModelStoreDir(options.database.path)), blobs);
      // After the snapshot: a row in it had its record written before it, so the journal holds every one it needs.
      await copyJournaledPayloads(join(partial, DATABASE_PART), new UpdateJournal(defaultUpdateJournalDir(options.database.path)));
    }
    const parts: BackupPart[] = [{ kind: 'database', path: DATABASE_PART, ...(await hashFile(join(partial, DATABASE_PART))) }];
    parts.push(...blobParts(blobs));
    parts.push(...exportModels(join(partial, DATABASE_PART), partial, blobs));
    if (options.auditFile !== undefined) {
      // After the database: the trail copied is at least as new as the state it describes.
      const chain = copyAuditTrail(options.auditFile, join(partial, AUDIT_PART));
      parts.push({ kind: 'audit', path: AUDIT_PART, ...(await hashFile(join(partial, AUDIT_PART))), ...chain });
    }
    const unsigned = {
      format: 'cipher-nexus-backup' as const,
      formatVersion: 1 as const,
      createdAt: at.toISOString(),
      source: { kind: options.database.kind, location: describeDatabaseLocation(options.database), method: snapshot.method },
      schemaVersion: snapshot.schemaVersion,
      parts,
    };
    const manifest: BackupManifest = { ...unsigned, manifestSha256: manifestHash(unsigned) };
    writeFileSync(join(partial, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(partial, path);
    return { name, path, manifest, bytes: parts.reduce((sum, p) => sum + p.bytes, 0) };
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
}

/** The backups in `dir`, oldest first; a folder whose manifest is unusable is listed with the reason. */
export function listBackups(dir: string): (BackupInfo | { name: string; path: string; error: string })[] {
  if (!existsSync(dir)) return [];
  const found = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.'));
  const listed = found.map((entry) => {
    const path = join(dir, entry.name);
    try {
      const manifest = readManifest(join(path, MANIFEST_FILE));
      return { name: entry.name, path, manifest, bytes: manifest.parts.reduce((sum, p) => sum + p.bytes, 0) };
    } catch (error) {
      return { name: entry.name, path, error: (error as Error).message };
    }
  });
  const createdAt = (entry: (typeof listed)[number]): string => ('manifest' in entry && entry.manifest ? entry.manifest.createdAt : '');
  return listed.sort((a, b) => createdAt(a).localeCompare(createdAt(b)) || a.name.localeCompare(b.name));
}

/** Result of `verifyBackup`: every fault found, none when the backup can be restored. */
export interface BackupVerification {
  ok: boolean;
  path: string;
  manifest?: BackupManifest;
  problems: string[];
}

/** Checks a backup: its manifest's own hash, every part's size and sha256 (each blob's name is its sha256), the audit chain, the database's integrity and schema version, a blob for every version's weights, and each model file against the database. */
export async function verifyBackup(path: string): Promise<BackupVerification> {
  let manifest: BackupManifest;
  try {
    manifest = readManifest(join(path, MANIFEST_FILE));
  } catch (error) {
    return { ok: false, path, problems: [(error as Error).message] };
  }
  const problems: string[] = [];
  const intact = new Set<string>();
  for (const part of manifest.parts) {
    const file = join(path, part.path);
    if (!existsSync(file) || !statSync(file).isFile()) {
      problems.push(`${part.kind} part '${part.path}' is missing`);
      continue;
    }
    const { sha256, bytes } = await hashFile(file);
    if (bytes !== part.bytes || sha256 !== part.sha256) problems.push(`${part.kind} part '${part.path}' was altered: sha256 ${sha256} (${bytes} bytes), the manifest says ${part.sha256} (${part.bytes} bytes)`);
    else intact.add(part.path);
  }
  if (manifest.schemaVersion > MIGRATIONS.length) problems.push(`the backup is at schema version ${manifest.schemaVersion}; this Cipher Nexus knows only up to ${MIGRATIONS.length}: restore it with a newer release`);
  const audit = manifest.parts.find((p) => p.kind === 'audit');
  if (audit && intact.has(audit.path)) {
    const chain = verifyAuditTrail(join(path, audit.path));
    if (!chain.ok) problems.push(`audit trail fails at entry ${chain.firstBadSeq}: ${chain.reason}`);
    else if (chain.entries !== audit.entries || chain.head !== audit.head) problems.push(`audit trail ends at entry ${chain.entries} (head ${chain.head}); the manifest says ${audit.entries} (head ${audit.head})`);
  }
  const database = manifest.parts.find((p) => p.kind === 'database');
  if (!database) problems.push('the manifest lists no database part');
  else if (intact.has(database.path)) problems.push(...checkDatabase(join(path, database.path), manifest));
  return { ok: problems.length === 0, path, manifest, problems };
}

/** SQLite's own integrity check, the schema version, the blobs its versions need, and each model file's hash against the version it claims to be. */
function checkDatabase(file: string, manifest: BackupManifest): string[] {
  const problems: string[] = [];
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') return [`the database fails SQLite's integrity check: ${String(integrity)}`];
    const version = sqliteSchemaVersion(db, 'the backed-up database');
    if (version !== manifest.schemaVersion) problems.push(`the database is at schema version ${version}; the manifest says ${manifest.schemaVersion}`);
    const present = new Set(manifest.parts.filter((p) => p.kind === 'blob').map((p) => p.sha256));
    const missing = referencedBlobs(db).filter((r) => !present.has(r.digest));
    for (const r of missing.slice(0, 5)) problems.push(`model '${r.modelId}' version ${r.version} needs model blob ${r.digest}, which the backup lacks`);
    if (missing.length > 5) problems.push(`and ${missing.length - 5} more version(s) whose blobs the backup lacks`);
    const stored = db.prepare('SELECT sha256 FROM model_versions WHERE model_id = ? AND version = ?').pluck();
    for (const part of manifest.parts) {
      if (part.kind !== 'model') continue;
      const sha256 = stored.get(part.modelId, part.version) as string | undefined;
      if (sha256 !== part.sha256) problems.push(`model file '${part.path}' is not version ${part.version} of model '${part.modelId}' in the database`);
    }
  } catch (error) {
    problems.push(`the database cannot be read: ${(error as Error).message}`);
  } finally {
    db?.close();
  }
  return problems;
}

/** Where to restore a backup. */
export interface RestoreBackupOptions {
  /** A new SQLite file, or an empty PostgreSQL schema. */
  database: DatabaseLocation;
  /** A new SQLite database's model store; default: the folder beside the file (`<path>-models`). */
  modelStoreDir?: string;
  /** Where the audit trail goes; it must not exist. Required when the backup has an audit part. */
  auditFile?: string;
}

/**
 * Restores a backup into a new database (and audit trail) after checking all of it; a backup that
 * fails any check is refused with BackupCorruptError before anything is written.
 */
export async function restoreBackup(path: string, options: RestoreBackupOptions): Promise<BackupManifest> {
  const check = await verifyBackup(path);
  if (!check.ok || !check.manifest) {
    const more = check.problems.length > 1 ? ` (and ${check.problems.length - 1} more problem(s); run \`cipher-nexus backup verify ${path}\`)` : '';
    throw new BackupCorruptError('BACKUP_CORRUPT', `backup '${basename(path)}' is refused, nothing was restored: ${check.problems[0]}${more}`, { problems: check.problems });
  }
  const { manifest } = check;
  const audit = manifest.parts.find((p) => p.kind === 'audit');
  if (audit) {
    if (options.auditFile === undefined) throw new InvalidInputError('RESTORE_AUDIT_REQUIRED', 'the backup holds an audit trail; say where to restore it (--audit <file>)');
    if (existsSync(options.auditFile)) throw new InvalidInputError('RESTORE_TARGET_NOT_EMPTY', `audit trail '${options.auditFile}' already exists; restore into a new file, never over a live trail`);
  }
  const database = manifest.parts.find((p) => p.kind === 'database') ?? { path: DATABASE_PART };
  const blobs = manifest.parts.filter((p) => p.kind === 'blob').map((p) => ({ digest: p.sha256, file: join(path, p.path) }));
  await restoreDatabase(join(path, database.path), options.database, manifest.schemaVersion, blobs, options.modelStoreDir);
  if (audit && options.auditFile !== undefined) {
    mkdirSync(join(options.auditFile, '..'), { recursive: true });
    const partial = `${options.auditFile}.restoring`;
    writeFileSync(partial, readFileSync(join(path, audit.path)));
    renameSync(partial, options.auditFile);
  }
  return manifest;
}
