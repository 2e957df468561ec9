export {
  assertDigest,
  blobDigest,
  ModelBlobCorruptError,
  ModelBlobMissingError,
  ModelWeightsCollectedError,
  type ModelStore,
  type StoredBlob,
} from './model-store.js';
export { defaultModelStoreDir, FileModelStore } from './file-model-store.js';
export { PostgresModelStore } from './postgres-model-store.js';
export { collectModelGarbage, neededModelVersions, type ModelGarbageReport } from './garbage-collection.js';
