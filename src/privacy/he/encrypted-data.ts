import { createHash, timingSafeEqual } from 'node:crypto';
import { HeCiphertextError } from './errors.js';

/** A vector encrypted under CKKS: its length, the SEAL ciphertexts its slots are packed into, and the parameters and key it belongs to. */
export interface EncryptedData {
  /** `paramsHash` of the encryption parameters (sha256, hex). */
  readonly paramsHash: string;
  /** Id of the job key it is encrypted under (hex). */
  readonly keyId: string;
  /** Number of values; the last ciphertext's unused slots hold zeros. */
  readonly length: number;
  /** SEAL-serialised ciphertexts (zstd), slots/ciphertext values each, in order. */
  readonly ciphertexts: readonly Uint8Array[];
}

const MAGIC = Uint8Array.from([0x43, 0x4e, 0x48, 0x45]); // "CNHE"
const VERSION = 1;
const HASH_BYTES = 32;
const KEY_ID_BYTES = 16;
const DIGEST_BYTES = 32;
const FIXED = MAGIC.length + 1 + HASH_BYTES + KEY_ID_BYTES + 4 + 4;

function hexBytes(hex: string, bytes: number, what: string): Buffer {
  if (!new RegExp(`^[0-9a-f]{${2 * bytes}}$`).test(hex)) throw new HeCiphertextError(`${what} must be ${2 * bytes} lowercase hex digits`, { value: hex });
  return Buffer.from(hex, 'hex');
}

/**
 * Wire form: "CNHE", version, params hash, key id, length, count, each ciphertext's size, the ciphertexts, and a sha256
 * of everything before it. The digest catches damage in transit before SEAL parses anything; it is not a signature
 * (CKKS ciphertexts are malleable: authenticate the sender at the transport).
 */
export function encodeEncryptedData(data: EncryptedData): Uint8Array {
  const body = data.ciphertexts.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(FIXED + 4 * data.ciphertexts.length + body + DIGEST_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  let at = MAGIC.length;
  view.setUint8(at, VERSION);
  at += 1;
  out.set(hexBytes(data.paramsHash, HASH_BYTES, 'paramsHash'), at);
  at += HASH_BYTES;
  out.set(hexBytes(data.keyId, KEY_ID_BYTES, 'keyId'), at);
  at += KEY_ID_BYTES;
  view.setUint32(at, data.length, true);
  view.setUint32(at + 4, data.ciphertexts.length, true);
  at += 8;
  for (const c of data.ciphertexts) {
    view.setUint32(at, c.length, true);
    at += 4;
  }
  for (const c of data.ciphertexts) {
    out.set(c, at);
    at += c.length;
  }
  out.set(createHash('sha256').update(out.subarray(0, at)).digest(), at);
  return out;
}

/** Parses the wire form; any damage (length, magic, version, digest) is a `HeCiphertextError` (`HE_CIPHERTEXT_CORRUPT`). */
export function decodeEncryptedData(bytes: Uint8Array): EncryptedData {
  if (bytes.length < FIXED + DIGEST_BYTES) throw new HeCiphertextError(`encrypted data of ${bytes.length} bytes is too short to be one`);
  const end = bytes.length - DIGEST_BYTES;
  const digest = createHash('sha256').update(bytes.subarray(0, end)).digest();
  if (!timingSafeEqual(digest, bytes.subarray(end))) throw new HeCiphertextError('encrypted data is damaged: its sha256 digest does not match');
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw new HeCiphertextError('not Cipher Nexus encrypted data: bad magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = MAGIC.length;
  const version = view.getUint8(at);
  if (version !== VERSION) throw new HeCiphertextError(`encrypted data format version ${version} is not supported (expected ${VERSION})`);
  at += 1;
  const paramsHash = Buffer.from(bytes.subarray(at, at + HASH_BYTES)).toString('hex');
  at += HASH_BYTES;
  const keyId = Buffer.from(bytes.subarray(at, at + KEY_ID_BYTES)).toString('hex');
  at += KEY_ID_BYTES;
  const length = view.getUint32(at, true);
  const count = view.getUint32(at + 4, true);
  at += 8;
  if (at + 4 * count > end) throw new HeCiphertextError(`encrypted data claims ${count} ciphertexts but is too short to list them`);
  const sizes: number[] = [];
  for (let i = 0; i < count; i++, at += 4) sizes.push(view.getUint32(at, true));
  const ciphertexts: Uint8Array[] = [];
  for (const size of sizes) {
    if (at + size > end) throw new HeCiphertextError('encrypted data is shorter than the ciphertext sizes it lists');
    ciphertexts.push(bytes.slice(at, at + size));
    at += size;
  }
  if (at !== end) throw new HeCiphertextError(`encrypted data has ${end - at} bytes after its last ciphertext`);
  return { paramsHash, keyId, length, ciphertexts };
}

/** Size of the wire form in bytes, without building it. */
export function encodedSize(data: EncryptedData): number {
  return FIXED + data.ciphertexts.reduce((s, c) => s + 4 + c.length, 0) + DIGEST_BYTES;
}
