import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { assertDigest, blobDigest, ModelBlobMissingError, verifiedBlob, type ModelStore, type StoredBlob } from './model-store.js';

/** Where an SQLite database's blobs go by default: beside the file, as SQLite's own `-wal` and `-shm` are. */
export function defaultModelStoreDir(databasePath: string): string {
  return `${databasePath}-models`;
}

/**
 * Blobs as files, `<dir>/sha256/<first two hex digits>/<digest>`, the fan-out keeping any one folder
 * small. Each is written to a temporary name, flushed and renamed into place, so a crash leaves either
 * no blob or a whole one. The synchronous methods serve the SQLite adapter, which writes a blob inside
 * its write transaction so that garbage collection in another process cannot interleave.
 */
export class FileModelStore implements ModelStore {
  readonly location: string;

  /**
   * @param dir the store's folder, created with the first blob
   * @param options.durable flush each blob to disk before renaming it into place (default true); a
   *   throw-away store (that of an in-memory database) skips the flush
   */
  constructor(
    readonly dir: string,
    private readonly options: { durable?: boolean } = {},
  ) {
    this.location = `folder ${dir}`;
  }

  /** The file a blob lives in. */
  pathOf(digest: string): string {
    assertDigest(digest);
    return join(this.dir, 'sha256', digest.slice(0, 2), digest);
  }

  /** `put`, synchronously. */
  putSync(bytes: Uint8Array): string {
    const digest = blobDigest(bytes);
    const path = this.pathOf(digest);
    if (existsSync(path)) return digest;
    const folder = join(path, '..');
    mkdirSync(folder, { recursive: true });
    const temporary = join(folder, `.${digest}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const fd = openSync(temporary, 'wx');
      try {
        for (let written = 0; written < bytes.byteLength; ) written += writeSync(fd, bytes, written);
        if (this.options.durable !== false) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, path);
    } finally {
      rmSync(temporary, { force: true });
    }
    return digest;
  }

  /** `get`, synchronously. */
  getSync(digest: string): Uint8Array {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.pathOf(digest));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ModelBlobMissingError(digest, this.location);
      throw error;
    }
    return verifiedBlob(digest, bytes, this.location);
  }

  /** `delete`, synchronously. */
  deleteSync(digest: string): boolean {
    try {
      unlinkSync(this.pathOf(digest));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** `list`, synchronously; temporary files of an interrupted write are not blobs. */
  listSync(): StoredBlob[] {
    const root = join(this.dir, 'sha256');
    if (!existsSync(root)) return [];
    const blobs: StoredBlob[] = [];
    for (const fan of readdirSync(root).sort()) {
      if (!/^[0-9a-f]{2}$/.test(fan)) continue;
      for (const name of readdirSync(join(root, fan)).sort()) {
        if (/^[0-9a-f]{64}$/.test(name) && name.startsWith(fan)) blobs.push({ digest: name, bytes: statSync(join(root, fan, name)).size });
      }
    }
    return blobs;
  }

  put(bytes: Uint8Array): Promise<string> {
    return Promise.resolve().then(() => this.putSync(bytes));
  }

  get(digest: string): Promise<Uint8Array> {
    return Promise.resolve().then(() => this.getSync(digest));
  }

  has(digest: string): Promise<boolean> {
    return Promise.resolve().then(() => existsSync(this.pathOf(digest)));
  }

  delete(digest: string): Promise<boolean> {
    return Promise.resolve().then(() => this.deleteSync(digest));
  }

  list(): Promise<StoredBlob[]> {
    return Promise.resolve().then(() => this.listSync());
  }
}
