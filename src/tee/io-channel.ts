import { createCipheriv, createDecipheriv, createHash, createPublicKey, diffieHellman, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { generateCurveKeyPair } from '../core/index.js';
import { EnclaveError } from './errors.js';

/**
 * Encrypted input to an attested enclave: the enclave makes an X25519 key pair (RFC 7748) and binds
 * SHA-256 of its public key into its evidence's report data; a participant that verified the evidence
 * encrypts to that key with an ephemeral X25519 key, HKDF-SHA-256 (RFC 5869) of the shared secret
 * and AES-256-GCM, the round context as HKDF info and as AAD, so a ciphertext opens only in that
 * enclave and only for that round. The shape is HPKE's base mode (RFC 9180) without its labels.
 */

const IO_DOMAIN = 'cipher-nexus/tee/io/v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** An enclave's I/O key pair: the raw 32-byte public key, and the private key that never leaves the enclave. */
export interface IoKeyPair {
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

function x25519Public(raw: Uint8Array): KeyObject {
  if (raw.byteLength !== KEY_BYTES) throw new EnclaveError('TEE_IO_KEY_INVALID', `an enclave's I/O key is a 32-byte X25519 public key, got ${raw.byteLength} bytes`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function rawPublic(key: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url'));
}

/** A fresh X25519 key pair for an enclave's inputs. */
export function createIoKeyPair(): IoKeyPair {
  const { publicKey, privateKey } = generateCurveKeyPair('x25519');
  return { publicKey: rawPublic(publicKey), privateKey };
}

/** What an enclave binds into its evidence's report data for its I/O key: SHA-256 of the raw public key, hex. */
export function ioKeyReportData(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

function channelKey(shared: Buffer, ephemeral: Uint8Array, recipient: Uint8Array, context: string): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), Buffer.from(`${IO_DOMAIN}\0${context}`), 32));
}

/** Encrypts `plaintext` to the enclave's I/O key for `context` (the round): ephemeral public key, IV, ciphertext, tag. */
export function encryptToEnclave(enclavePublicKey: Uint8Array, plaintext: Uint8Array, context: string): Uint8Array {
  const recipient = x25519Public(enclavePublicKey);
  const ephemeral = generateCurveKeyPair('x25519');
  const ephemeralRaw = rawPublic(ephemeral.publicKey);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const key = channelKey(shared, ephemeralRaw, enclavePublicKey, context);
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`${IO_DOMAIN}\0${context}`));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return new Uint8Array(Buffer.concat([ephemeralRaw, iv, body, cipher.getAuthTag()]));
  } finally {
    // The ephemeral private key is dropped with its KeyObject; the derived secrets are wiped here.
    shared.fill(0);
    key.fill(0);
  }
}

/** Opens, inside the enclave, what a participant encrypted for `context`; throws TEE_IO_DECRYPT_FAILED for anything else. */
export function decryptInEnclave(keys: IoKeyPair, envelope: Uint8Array, context: string): Uint8Array {
  if (envelope.byteLength < KEY_BYTES + IV_BYTES + TAG_BYTES) throw new EnclaveError('TEE_IO_DECRYPT_FAILED', `an encrypted input of ${envelope.byteLength} bytes is shorter than its header`);
  const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  const ephemeralRaw = bytes.subarray(0, KEY_BYTES);
  const shared = diffieHellman({ privateKey: keys.privateKey, publicKey: x25519Public(ephemeralRaw) });
  const key = channelKey(shared, ephemeralRaw, keys.publicKey, context);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(KEY_BYTES, KEY_BYTES + IV_BYTES));
    decipher.setAAD(Buffer.from(`${IO_DOMAIN}\0${context}`));
    decipher.setAuthTag(bytes.subarray(bytes.byteLength - TAG_BYTES));
    return new Uint8Array(Buffer.concat([decipher.update(bytes.subarray(KEY_BYTES + IV_BYTES, bytes.byteLength - TAG_BYTES)), decipher.final()]));
  } catch {
    throw new EnclaveError('TEE_IO_DECRYPT_FAILED', 'an encrypted input does not open: it was encrypted to another enclave key or for another round, or altered on the way');
  } finally {
    shared.fill(0);
    key.fill(0);
  }
}

