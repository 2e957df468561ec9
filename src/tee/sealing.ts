import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { EnclaveError } from './errors.js';

/**
 * Sealing: an enclave's state encrypted under a key only the same code on the same platform can
 * derive, the way SGX's EGETKEY derives an MRENCLAVE-policy sealing key from a CPU secret and the
 * enclave's measurement. The measurement alone is public, so the key is HKDF-SHA-384 (RFC 5869) of a
 * platform secret with the measurement as info: another bundle, or another platform, derives another key.
 */

const SEAL_DOMAIN = 'cipher-nexus/tee/seal/v1';
const MAGIC = Buffer.from('CNSEAL1\0', 'latin1');
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The 32-byte AES-256-GCM key that seals state for the enclave of `measurement` on the platform whose secret is `platformSecret`. */
export function deriveSealingKey(platformSecret: Uint8Array, measurement: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha384', platformSecret, Buffer.from(SEAL_DOMAIN), Buffer.from(`${SEAL_DOMAIN}\0${measurement.toLowerCase()}`), 32));
}

/** Seals `state` under `key`, bound to `measurement` (as AAD): magic, IV, ciphertext, GCM tag. */
export function sealState(key: Uint8Array, measurement: string, state: Uint8Array): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${SEAL_DOMAIN}\0${measurement.toLowerCase()}`));
  const body = Buffer.concat([cipher.update(state), cipher.final()]);
  return new Uint8Array(Buffer.concat([MAGIC, iv, body, cipher.getAuthTag()]));
}

/** Opens what {@link sealState} sealed; throws TEE_UNSEAL_FAILED when it was sealed by other code, on another platform, or changed. */
export function unsealState(key: Uint8Array, measurement: string, sealed: Uint8Array): Uint8Array {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (bytes.byteLength < MAGIC.byteLength + IV_BYTES + TAG_BYTES || !bytes.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
    throw new EnclaveError('TEE_UNSEAL_FAILED', 'the sealed state is not a Cipher Nexus sealed blob (bad magic or too short); give the bytes an enclave sealed');
  }
  const iv = bytes.subarray(MAGIC.byteLength, MAGIC.byteLength + IV_BYTES);
  const tag = bytes.subarray(bytes.byteLength - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(`${SEAL_DOMAIN}\0${measurement.toLowerCase()}`));
  decipher.setAuthTag(tag);
  try {
    return new Uint8Array(Buffer.concat([decipher.update(bytes.subarray(MAGIC.byteLength + IV_BYTES, bytes.byteLength - TAG_BYTES)), decipher.final()]));
  } catch {
    throw new EnclaveError('TEE_UNSEAL_FAILED', `the sealed state does not open for measurement ${measurement.slice(0, 16)}…: it was sealed by another enclave build or platform, or altered`);
  }
}
