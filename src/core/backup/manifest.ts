import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { z } from 'zod';
import { canonicalJson } from '../canonical-json.js';
import { formatZodIssue } from '../config.js';
import { InvalidInputError } from '../errors.js';

/** File name of a backup's manifest inside its folder. */
export const MANIFEST_FILE = 'manifest.json';

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** A part's path inside the backup folder: relative, forward slashes, never leaving the folder. */
const PartPath = z.string().regex(/^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/);

/** One file of a backup and what it must hash to. */
export const BackupPartSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('database'), path: PartPath, bytes: z.number().int().min(0), sha256: Sha256 }).strict(),
  z
    .object({
      kind: z.literal('audit'),
      path: PartPath,
      bytes: z.number().int().min(0),
      sha256: Sha256,
      /** Entries in the copied trail, and its last entry's hash. */
      entries: z.number().int().min(0),
      head: Sha256,
    })
    .strict(),
  z
    .object({
      kind: z.literal('model'),
      path: PartPath,
      bytes: z.number().int().min(0),
      /** Also the registry's content address of the version: sha256 over its little-endian float32 weights. */
      sha256: Sha256,
      modelId: z.string().min(1),
      version: z.number().int().min(1),
    })
    .strict(),
  /** A model-store blob, named by its sha256 as in the store: every version's weights the database refers to. */
  z.object({ kind: z.literal('blob'), path: PartPath, bytes: z.number().int().min(0), sha256: Sha256 }).strict(),
]);

/** One file of a backup. */
export type BackupPart = z.output<typeof BackupPartSchema>;

/** What a backup holds and how each part hashes; `manifestSha256` covers everything else in it. */
export const BackupManifestSchema = z
  .object({
    format: z.literal('cipher-nexus-backup'),
    formatVersion: z.literal(1),
    createdAt: z.string().datetime(),
    /** Where the database came from (a PostgreSQL URL without its password) and how it was copied. */
    source: z
      .object({
        kind: z.enum(['sqlite', 'postgres']),
        location: z.string(),
        method: z.enum(['sqlite-online-backup', 'postgres-snapshot-export']),
      })
      .strict(),
    /** The database's schema version (the last migration applied). */
    schemaVersion: z.number().int().min(1),
    parts: z.array(BackupPartSchema).min(1),
    manifestSha256: Sha256,
  })
  .strict();

/** A backup's manifest. */
export type BackupManifest = z.output<typeof BackupManifestSchema>;

/** A backup whose manifest or parts do not check out; restoring it is refused (exit 2 at the CLI). */
export class BackupCorruptError extends InvalidInputError {}

/** The hash a manifest must carry: sha256 over the canonical JSON of every field but `manifestSha256`. */
export function manifestHash(manifest: Omit<BackupManifest, 'manifestSha256'> & { manifestSha256?: string }): string {
  const { manifestSha256: _own, ...rest } = manifest;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** Reads and checks a manifest file: JSON, its schema and its own hash; throws BackupCorruptError otherwise. */
export function readManifest(file: string): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist' : code ? `it cannot be read (${code})` : 'it is not JSON';
    throw new BackupCorruptError('BACKUP_CORRUPT', `backup manifest '${file}' is unusable: ${why}; choose another backup (\`cipher-nexus backup list\`)`, { file });
  }
  const parsed = BackupManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const line = formatZodIssue(parsed.error.issues[0], { what: 'manifest', input: raw, schema: BackupManifestSchema });
    throw new BackupCorruptError('BACKUP_CORRUPT', `backup manifest '${file}' is not a Cipher Nexus backup manifest: ${line}; choose another backup`, { file });
  }
  // Hash what was stored, not zod's copy, so that no field can slip past the check.
  if (manifestHash(raw as BackupManifest) !== parsed.data.manifestSha256) {
    throw new BackupCorruptError('BACKUP_CORRUPT', `backup manifest '${file}' was altered: its contents do not match its manifestSha256; choose another backup`, { file });
  }
  return parsed.data;
}

/** sha256 and size of a file, read as a stream so that large databases need not fit in memory. */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}
