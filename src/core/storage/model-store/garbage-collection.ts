import { CipherNexusError } from '../../errors.js';
import type { Storage } from '../repository.js';

/** What a collection found, and (unless a dry run) removed. */
export interface ModelGarbageReport {
  dryRun: boolean;
  /** Versions whose weights some job, model head or checkpoint needs; their blobs stay. */
  versionsKept: number;
  /** Versions whose weights were dropped (their records and lineage stay). */
  versionsDropped: number;
  /** Blobs deleted from the model store, and their bytes. */
  blobsDeleted: number;
  bytesFreed: number;
  /** Blobs left in the store. */
  blobsKept: number;
}

const key = (modelId: string, version: number): string => `${version}@${modelId}`;

/**
 * The model versions whose weights something still needs: each model's newest version (what a new
 * job starts from), the version each strategy checkpoint was taken at (a resumed optimiser pairs its
 * state with those weights), the base of every round not yet closed (a resumed round aggregates onto
 * it), and the first and last version of every job (what it started from and what it produced).
 */
export async function neededModelVersions(storage: Storage): Promise<Set<string>> {
  const needed = new Set<string>();
  for (const model of await storage.models.listModels()) {
    if (model.latestVersion > 0) needed.add(key(model.id, model.latestVersion));
    const checkpoint = await storage.models.getStrategyState(model.id);
    if (checkpoint) needed.add(key(model.id, checkpoint.version));
  }
  const jobs = new Map<string, { modelId: string; first: number; last: number }>();
  for (const round of await storage.rounds.list()) {
    if (round.status === 'open' || round.status === 'aggregating') needed.add(key(round.modelId, round.baseVersion));
    const span = jobs.get(`${round.jobId}\u0000${round.modelId}`) ?? { modelId: round.modelId, first: round.baseVersion, last: round.baseVersion };
    span.first = Math.min(span.first, round.baseVersion);
    span.last = Math.max(span.last, round.resultVersion ?? round.baseVersion);
    jobs.set(`${round.jobId}\u0000${round.modelId}`, span);
  }
  for (const span of jobs.values()) {
    needed.add(key(span.modelId, span.first));
    needed.add(key(span.modelId, span.last));
  }
  return needed;
}

/**
 * Deletes a blob; false when a version committed by another process since the listing refers to it
 * (PostgreSQL's foreign key says so: MODEL_BLOB_IN_USE), which keeps it.
 */
async function deleteUnlessInUse(storage: Storage, digest: string): Promise<boolean> {
  try {
    return await storage.modelStore.delete(digest);
  } catch (error) {
    if (error instanceof CipherNexusError && error.code === 'MODEL_BLOB_IN_USE') return false;
    throw error;
  }
}

/**
 * Garbage collection of the model store: drops the weights of versions nothing needs (see
 * `neededModelVersions`) and deletes every blob no remaining version refers to, including blobs left
 * by writes that rolled back. One transaction: writers wait, so a blob being stored for a new
 * version is never taken for garbage. A dry run reports the same figures and changes nothing.
 */
export function collectModelGarbage(storage: Storage, options: { dryRun?: boolean } = {}): Promise<ModelGarbageReport> {
  const dryRun = options.dryRun ?? false;
  return storage.transaction(async () => {
    const needed = await neededModelVersions(storage);
    const references = (await storage.models.listWeightReferences()).filter((r) => r.digest !== null);
    const dropped = references.filter((r) => !needed.has(key(r.modelId, r.version)));
    const live = new Set(references.filter((r) => needed.has(key(r.modelId, r.version))).map((r) => r.digest));
    const blobs = await storage.modelStore.list();
    let garbage = blobs.filter((b) => !live.has(b.digest));
    if (!dryRun) {
      // Rows first: in PostgreSQL a blob still referenced cannot be deleted.
      for (const r of dropped) await storage.models.dropWeights(r.modelId, r.version);
      const deleted = new Set<string>();
      for (const blob of garbage) if (await deleteUnlessInUse(storage, blob.digest)) deleted.add(blob.digest);
      garbage = garbage.filter((b) => deleted.has(b.digest));
    }
    return {
      dryRun,
      versionsKept: references.length - dropped.length,
      versionsDropped: dropped.length,
      blobsDeleted: garbage.length,
      bytesFreed: garbage.reduce((sum, b) => sum + b.bytes, 0),
      blobsKept: blobs.length - garbage.length,
    };
  });
}
