import pg from 'pg';
import { StateError } from '../../errors.js';
import type { Run } from '../postgres/query.js';
import { assertDigest, blobDigest, ModelBlobMissingError, verifiedBlob, type ModelStore, type StoredBlob } from './model-store.js';

/** SQLSTATE of a duplicate key, and of a delete that would orphan a referencing row. */
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

/**
 * Blobs as PostgreSQL large objects (lo_from_bytea / lo_get / lo_unlink), named in the table
 * `model_blobs` (digest → oid). Large objects are transactional: a blob written by a transaction
 * that rolls back disappears with it. Calls run in the storage's scope, so inside `transaction(fn)`
 * they are part of that transaction.
 */
export class PostgresModelStore implements ModelStore {
  readonly location = 'PostgreSQL large objects (table model_blobs)';

  constructor(private readonly run: Run) {}

  async put(bytes: Uint8Array): Promise<string> {
    const digest = blobDigest(bytes);
    try {
      await this.run((query) =>
        query(
          `INSERT INTO model_blobs (digest, oid, bytes)
           SELECT $1, lo_from_bytea(0, $2), $3 WHERE NOT EXISTS (SELECT 1 FROM model_blobs WHERE digest = $1)`,
          [digest, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength],
        ),
      );
    } catch (error) {
      // Another writer stored the same bytes first; the failed statement took its large object with it.
      if (!(error instanceof pg.DatabaseError && error.code === UNIQUE_VIOLATION)) throw error;
    }
    return digest;
  }

  async get(digest: string): Promise<Uint8Array> {
    assertDigest(digest);
    const { rows } = await this.run((query) => query<{ bytes: Buffer }>('SELECT lo_get(oid) AS bytes FROM model_blobs WHERE digest = $1', [digest]));
    if (rows.length === 0) throw new ModelBlobMissingError(digest, this.location);
    return verifiedBlob(digest, rows[0].bytes, this.location);
  }

  async has(digest: string): Promise<boolean> {
    assertDigest(digest);
    const { rowCount } = await this.run((query) => query('SELECT 1 FROM model_blobs WHERE digest = $1', [digest]));
    return (rowCount ?? 0) > 0;
  }

  /** Removes a blob no model version refers to (MODEL_BLOB_IN_USE otherwise). */
  async delete(digest: string): Promise<boolean> {
    assertDigest(digest);
    try {
      const { rowCount } = await this.run((query) =>
        query('WITH gone AS (DELETE FROM model_blobs WHERE digest = $1 RETURNING oid) SELECT lo_unlink(oid) FROM gone', [digest]),
      );
      return (rowCount ?? 0) > 0;
    } catch (error) {
      if (error instanceof pg.DatabaseError && error.code === FOREIGN_KEY_VIOLATION) {
        throw new StateError('MODEL_BLOB_IN_USE', `model blob ${digest} is still the weights of a model version; run \`cipher-nexus models gc\` instead of deleting blobs by hand`, { digest });
      }
      throw error;
    }
  }

  async list(): Promise<StoredBlob[]> {
    const { rows } = await this.run((query) => query<StoredBlob>('SELECT digest, bytes FROM model_blobs ORDER BY digest'));
    return rows.map((row) => ({ digest: row.digest, bytes: Number(row.bytes) }));
  }
}
