import { InvalidInputError } from '../../core/index.js';
import type { EncryptedData } from './encrypted-data.js';
import type { EncryptOptions, HomomorphicEncryption } from './homomorphic-encryption.js';
import { sumLevel, type EncryptionParams } from './params.js';

/** Anything that can add encrypted vectors: an in-process instance or a worker pool. */
export interface EncryptedSummer {
  sum(list: readonly EncryptedData[]): Promise<EncryptedData>;
}

/** Anything that can encrypt a client's update: an in-process instance or a worker pool. */
export interface UpdateEncryptor {
  readonly params: EncryptionParams;
  encrypt(values: Float64Array, options: EncryptOptions): Promise<EncryptedData>;
}

function checkWeight(weight: number, what: string): void {
  if (!Number.isFinite(weight) || weight <= 0) {
    throw new InvalidInputError('HE_INPUT_INVALID', `${what} must be a positive finite number, got ${weight}`, { weight });
  }
}

/**
 * Client step of an encrypted FedAvg round (McMahan et al. 2017, Alg. 1, weights n_k / n): multiplies the update by the
 * client's sample weight in plaintext, where it is exact and free, then encrypts at the sum level, the smallest
 * ciphertext that still holds the round's sum.
 */
export async function encryptUpdate(he: UpdateEncryptor, update: Float32Array, weight: number): Promise<EncryptedData> {
  checkWeight(weight, 'the client weight');
  const scaled = new Float64Array(update.length);
  for (let i = 0; i < update.length; i++) scaled[i] = update[i] * weight;
  try {
    return await he.encrypt(scaled, { level: sumLevel(he.params) });
  } finally {
    // The scaled copy is the client's update in the clear.
    scaled.fill(0);
  }
}

/** Coordinator step: the sum of the clients' ciphertexts, which is the encrypted weighted sum; needs no secret key. */
export async function aggregateEncrypted(summer: EncryptedSummer, updates: readonly EncryptedData[]): Promise<EncryptedData> {
  return summer.sum(updates);
}

/** Client step after the round: decrypts the weighted sum and divides by the total weight, giving the FedAvg update. */
export async function decryptAggregate(he: HomomorphicEncryption, aggregate: EncryptedData, totalWeight: number): Promise<Float32Array> {
  checkWeight(totalWeight, 'the total weight');
  const sum = await he.decrypt(aggregate);
  const out = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = sum[i] / totalWeight;
  sum.fill(0);
  return out;
}
