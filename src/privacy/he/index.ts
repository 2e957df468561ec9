export { aggregateEncrypted, decryptAggregate, encryptUpdate, type EncryptedSummer, type UpdateEncryptor } from './aggregation.js';
export {
  generateHolderIdentity,
  generateParticipantIdentity,
  type AggregateExpectation,
  type HolderIdentity,
  type HolderInfo,
  type MultipartySetup,
  type ParticipantIdentity,
  type ParticipantInfo,
  type RoundInfo,
} from './committee.js';
export { contributionCheck, encryptContribution, sumContributions, type ContributionCheck, type ContributionInput } from './contribution.js';
export { decryptionShares, type DecryptionShareOptions, type SealedShare } from './decryption-share.js';
export { decodeEncryptedData, encodeEncryptedData, encodedSize, type EncryptedData } from './encrypted-data.js';
export {
  HeAggregateRefusedError,
  HeCiphertextError,
  HeKeyError,
  HeMismatchError,
  HeOperationError,
  HeParamsError,
  HeRoundSpentError,
  HeShareError,
} from './errors.js';
export { HomomorphicEncryption, type EncryptOptions, type NumericInput } from './homomorphic-encryption.js';
export {
  DEFAULT_SCRYPT_LOG2N,
  scryptKey,
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
  combinePublicKey,
  generateKeyShare,
  openKeyShareAtRest,
  sealKeyShareAtRest,
  zeroiseKeyShare,
  type KeyShare,
  type KeyShareSecret,
} from './key-share.js';
export { multipartyPlanOf } from './multiparty-context.js';
export type { MultipartyPlan } from './multiparty-plan.js';
export { openAggregate, type OpenedAggregate } from './open-aggregate.js';
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
