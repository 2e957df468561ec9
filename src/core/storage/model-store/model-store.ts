import { createHash } from 'node:crypto';
import { InvalidInputError, StateError } from '../../errors.js';

/**
 * Content-addressed storage of model weights: a blob is named by the sha256 of its bytes, so equal
 * weights are stored once however many versions carry them, and every read can prove it got back
 * what was written.
 */
export interface ModelStore {
  /** Where the blobs live, for messages: a folder, or `postgres large objects`. */
  readonly location: string;
  /** Stores `bytes` (once: equal bytes are already there) and returns their sha256 in hex. */
  put(bytes: Uint8Array): Promise<string>;
  /** The blob named `digest`, its sha256 checked (MODEL_BLOB_CORRUPT, MODEL_BLOB_MISSING). */
  get(digest: string): Promise<Uint8Array>;
  /** True when a blob named `digest` is stored. */
  has(digest: string): Promise<boolean>;
  /** Removes the blob named `digest`; false when there was none. */
  delete(digest: string): Promise<boolean>;
  /** Every stored blob and its size, ordered by digest. */
  list(): Promise<StoredBlob[]>;
}

/** One blob in a model store. */
export interface StoredBlob {
  digest: string;
  bytes: number;
}

const DIGEST = /^[0-9a-f]{64}$/;

/** sha256 of `bytes` in lowercase hex: the blob's name. */
export function blobDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Refuses anything but 64 lowercase hex digits, so a digest can never name a path outside the store. */
export function assertDigest(digest: string): void {
  if (!DIGEST.test(digest)) {
    throw new InvalidInputError('MODEL_DIGEST_INVALID', `'${digest}' is not a sha256 digest; give 64 lowercase hex digits`, { digest });
  }
}

/** A stored blob whose bytes no longer hash to its name: the store was damaged on disk or in the database. */
export class ModelBlobCorruptError extends StateError {
  constructor(digest: string, actual: string, location: string) {
    super(
      'MODEL_BLOB_CORRUPT',
      `model blob ${digest} in ${location} is damaged: its bytes hash to ${actual}; restore the store from a backup (\`cipher-nexus backup restore\`)`,
      { digest, actual },
    );
  }
}

/** A blob the database refers to is not in the store. */
export class ModelBlobMissingError extends StateError {
  constructor(digest: string, location: string) {
    super('MODEL_BLOB_MISSING', `model blob ${digest} is not in ${location}; restore the store from a backup (\`cipher-nexus backup restore\`)`, { digest });
  }
}

/** Returns `bytes` when they hash to `digest`, throws ModelBlobCorruptError otherwise. */
export function verifiedBlob(digest: string, bytes: Uint8Array, location: string): Uint8Array {
  const actual = blobDigest(bytes);
  if (actual !== digest) throw new ModelBlobCorruptError(digest, actual, location);
  return bytes;
}

/** A version whose weights garbage collection removed: its record and lineage stay, its weights are gone. */
export class ModelWeightsCollectedError extends StateError {
  constructor(modelId: string, version: number) {
    super(
      'MODEL_WEIGHTS_COLLECTED',
      `the weights of model '${modelId}' version ${version} were removed by \`cipher-nexus models gc\`; use a newer version, or restore a backup taken before the collection`,
      { modelId, version },
    );
  }
}
