export { aggregateEncrypted, decryptAggregate, encryptUpdate, type EncryptedSummer, type UpdateEncryptor } from './aggregation.js';
export { decodeEncryptedData, encodeEncryptedData, encodedSize, type EncryptedData } from './encrypted-data.js';
export { HeCiphertextError, HeKeyError, HeMismatchError, HeOperationError, HeParamsError } from './errors.js';
export { HomomorphicEncryption, type EncryptOptions, type NumericInput } from './homomorphic-encryption.js';
export {
  DEFAULT_SCRYPT_LOG2N,
  checkKeyBinding,
  computeKeyId,
  evaluationKeysOf,
  generateJobKeys,
  generateTransportKeyPair,
  openKeysAtRest,
  openSharedSecretKey,
  rotateJobKeys,
  sealKeysAtRest,
  shareSecretKey,
  zeroiseKeys,
  type EvaluationKeys,
  type JobKeyInfo,
  type ParticipantKeys,
  type SharedSecretKey,
} from './keys.js';
export {
  HE_STANDARD_MAX_COEFF_BITS,
  PRESETS,
  checkParams,
  levelBits,
  paramsHash,
  resolveParams,
  slotCount,
  sumLevel,
  topLevel,
  type EncryptionParams,
  type PresetName,
} from './params.js';
export { HeWorkerPool } from './worker-pool.js';
