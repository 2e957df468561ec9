import { HeCiphertextError } from './errors.js';

/*
 * Microsoft SEAL 4.1's own serialisation, uncompressed (compr_mode_type::none), read and written here so that the
 * multi-party protocol can compute on the polynomials SEAL stores and hand SEAL objects it built itself.
 *
 * Layouts (native/src/seal/serialization.h, plaintext.cpp, ciphertext.cpp, dynarray.h; all integers little-endian):
 *   SEALHeader (16 bytes): magic u16 0xA15E, header size u8 = 16, version major u8, minor u8, compr_mode u8,
 *     reserved u16 = 0, total size u64 (header included).
 *   DynArray<u64>: its own SEALHeader, then the element count u64, then the elements.
 *   Plaintext: SEALHeader, parms_id (4 x u64), coeff_count u64, scale f64, DynArray of coefficients.
 *   Ciphertext: SEALHeader, parms_id (4 x u64), is_ntt_form u8, size u64, poly_modulus_degree u64,
 *     coeff_modulus_size u64, scale f64, correction_factor u64 (new in 4.0), DynArray of size x moduli x N words,
 *     polynomial-major, then prime-major (RNS), then coefficient.
 *   PublicKey is a Ciphertext of size 2 at the key level; SecretKey is a Plaintext at the key level, both NTT form.
 */

const MAGIC = 0xa15e;
/** Bytes of a SEALHeader. */
export const SEAL_HEADER_BYTES = 16;
const VERSION_MAJOR = 4;
/** The minor version written: SEAL 4.1, what node-seal 6 embeds. */
const VERSION_MINOR = 1;
const COMPR_NONE = 0;
const PARMS_ID_BYTES = 32;
const DYNARRAY_PREFIX = SEAL_HEADER_BYTES + 8;
const PLAINTEXT_PREFIX = SEAL_HEADER_BYTES + PARMS_ID_BYTES + 8 + 8 + DYNARRAY_PREFIX;
const CIPHERTEXT_PREFIX = SEAL_HEADER_BYTES + PARMS_ID_BYTES + 1 + 8 * 3 + 8 + 8 + DYNARRAY_PREFIX;

/** A SEAL Plaintext (or SecretKey) as stored: `parmsId` in hex of its 32 stored bytes, `data` prime-major. */
export interface SealPlaintextData {
  readonly parmsId: string;
  readonly scale: number;
  readonly data: BigUint64Array;
}

/** A SEAL Ciphertext (or PublicKey) as stored; `data` holds `size` polynomials of `coeffModulusSize` x `polyModulusDegree` words. */
export interface SealCiphertextData {
  readonly parmsId: string;
  readonly nttForm: boolean;
  readonly size: number;
  readonly polyModulusDegree: number;
  readonly coeffModulusSize: number;
  readonly scale: number;
  readonly data: BigUint64Array;
}

/** The hex form `SealPlaintextData.parmsId` uses, from node-seal's `ParmsIdType.values`. */
export function parmsIdHex(values: BigUint64Array): string {
  const bytes = new Uint8Array(PARMS_ID_BYTES);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigUint64(8 * i, v, true));
  return Buffer.from(bytes).toString('hex');
}

/** Serialised size of a ciphertext of `size` polynomials under `moduli` primes of degree `degree`. */
export function sealCiphertextBytes(size: number, moduli: number, degree: number): number {
  return CIPHERTEXT_PREFIX + 8 * size * moduli * degree;
}

function fail(what: string, problem: string): never {
  throw new HeCiphertextError(`${what} is not an uncompressed SEAL 4 object: ${problem}`, { problem });
}

/** Checks the SEALHeader at `at` and returns the size it records; only version 4 and no compression are accepted. */
function readHeader(view: DataView, at: number, what: string): number {
  if (view.byteLength - at < SEAL_HEADER_BYTES) fail(what, 'shorter than a SEAL header');
  if (view.getUint16(at, true) !== MAGIC) fail(what, 'bad magic');
  if (view.getUint8(at + 2) !== SEAL_HEADER_BYTES) fail(what, 'bad header size');
  if (view.getUint8(at + 3) !== VERSION_MAJOR) fail(what, `SEAL version ${view.getUint8(at + 3)}.x, expected ${VERSION_MAJOR}.x`);
  if (view.getUint8(at + 5) !== COMPR_NONE) fail(what, `compression mode ${view.getUint8(at + 5)}, expected none`);
  if (view.getUint16(at + 6, true) !== 0) fail(what, 'reserved bytes set');
  const size = view.getBigUint64(at + 8, true);
  if (size > BigInt(view.byteLength - at)) fail(what, `recorded size ${size} is more than the ${view.byteLength - at} bytes present`);
  return Number(size);
}

function writeHeader(view: DataView, at: number, size: number): void {
  view.setUint16(at, MAGIC, true);
  view.setUint8(at + 2, SEAL_HEADER_BYTES);
  view.setUint8(at + 3, VERSION_MAJOR);
  view.setUint8(at + 4, VERSION_MINOR);
  view.setUint8(at + 5, COMPR_NONE);
  view.setUint16(at + 6, 0, true);
  view.setBigUint64(at + 8, BigInt(size), true);
}

/** Checks the DynArray<u64> header at `at`: exactly `expected` words, ending the object; returns where the words start. */
function checkWords(bytes: Uint8Array, view: DataView, at: number, expected: number, what: string): number {
  const size = readHeader(view, at, `${what} (data)`);
  const count = view.getBigUint64(at + SEAL_HEADER_BYTES, true);
  if (count !== BigInt(expected)) fail(what, `holds ${count} words, expected ${expected}`);
  if (size !== DYNARRAY_PREFIX + 8 * expected || at + size !== bytes.length) fail(what, 'data size disagrees with its header');
  return at + DYNARRAY_PREFIX;
}

/** A copy of `count` words at `at`: BigUint64Array needs 8-byte alignment, which the data after SEAL's headers lacks. */
function copyWords(bytes: Uint8Array, at: number, count: number): BigUint64Array {
  const start = bytes.byteOffset + at;
  return new BigUint64Array(bytes.buffer.slice(start, start + 8 * count));
}

function writeWords(out: Uint8Array, view: DataView, at: number, words: BigUint64Array): void {
  writeHeader(view, at, DYNARRAY_PREFIX + 8 * words.length);
  view.setBigUint64(at + SEAL_HEADER_BYTES, BigInt(words.length), true);
  out.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength), at + DYNARRAY_PREFIX);
}

function readParmsId(bytes: Uint8Array, at: number): string {
  return Buffer.from(bytes.subarray(at, at + PARMS_ID_BYTES)).toString('hex');
}

function writeParmsId(out: Uint8Array, at: number, hex: string): void {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new HeCiphertextError(`parms_id must be 64 lowercase hex digits, got '${hex}'`);
  out.set(Buffer.from(hex, 'hex'), at);
}

/** Parses an uncompressed SEAL Plaintext or SecretKey; structure only, the caller checks parms_id, scale and values. */
export function parseSealPlaintext(bytes: Uint8Array, what = 'plaintext'): SealPlaintextData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (readHeader(view, 0, what) !== bytes.length) fail(what, `recorded size differs from the ${bytes.length} bytes received`);
  if (bytes.length < PLAINTEXT_PREFIX) fail(what, 'too short');
  let at = SEAL_HEADER_BYTES;
  const parmsId = readParmsId(bytes, at);
  at += PARMS_ID_BYTES;
  const coeffCount = view.getBigUint64(at, true);
  const scale = view.getFloat64(at + 8, true);
  at += 16;
  if (coeffCount > BigInt(bytes.length)) fail(what, `implausible coefficient count ${coeffCount}`);
  const words = Number(coeffCount);
  return { parmsId, scale, data: copyWords(bytes, checkWords(bytes, view, at, words, what), words) };
}

/** Writes an uncompressed SEAL Plaintext; in NTT form (any parms_id but zero) it loads into SEAL as a CKKS plaintext. */
export function writeSealPlaintext(plain: SealPlaintextData): Uint8Array {
  const out = new Uint8Array(PLAINTEXT_PREFIX + 8 * plain.data.length);
  const view = new DataView(out.buffer);
  writeHeader(view, 0, out.length);
  let at = SEAL_HEADER_BYTES;
  writeParmsId(out, at, plain.parmsId);
  at += PARMS_ID_BYTES;
  view.setBigUint64(at, BigInt(plain.data.length), true);
  view.setFloat64(at + 8, plain.scale, true);
  writeWords(out, view, at + 16, plain.data);
  return out;
}

/** A ciphertext's metadata, checked without copying its words. */
export type SealCiphertextMeta = Omit<SealCiphertextData, 'data'>;

function ciphertextMeta(bytes: Uint8Array, what: string): { meta: SealCiphertextMeta; dataAt: number; words: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (readHeader(view, 0, what) !== bytes.length) fail(what, `recorded size differs from the ${bytes.length} bytes received`);
  if (bytes.length < CIPHERTEXT_PREFIX) fail(what, 'too short');
  let at = SEAL_HEADER_BYTES;
  const parmsId = readParmsId(bytes, at);
  at += PARMS_ID_BYTES;
  const ntt = view.getUint8(at);
  at += 1;
  const [size, degree, moduli] = [0, 1, 2].map((i) => view.getBigUint64(at + 8 * i, true));
  at += 24;
  const scale = view.getFloat64(at, true);
  const correction = view.getBigUint64(at + 8, true);
  at += 16;
  if (ntt > 1) fail(what, `NTT flag ${ntt}`);
  // CKKS ciphertexts always carry correction factor 1 (valcheck.cpp); BGV is not used here.
  if (correction !== 1n) fail(what, `correction factor ${correction}, expected 1`);
  if (size > 16n || degree > 32768n || moduli > 64n) fail(what, `implausible dimensions ${size} x ${moduli} x ${degree}`);
  const words = Number(size * degree * moduli);
  const dataAt = checkWords(bytes, view, at, words, what);
  const meta = { parmsId, nttForm: ntt === 1, size: Number(size), polyModulusDegree: Number(degree), coeffModulusSize: Number(moduli), scale };
  return { meta, dataAt, words };
}

/** Checks the structure of an uncompressed SEAL Ciphertext or PublicKey and returns its metadata; the words are not read. */
export function parseSealCiphertextMeta(bytes: Uint8Array, what = 'ciphertext'): SealCiphertextMeta {
  return ciphertextMeta(bytes, what).meta;
}

/** Parses an uncompressed SEAL Ciphertext or PublicKey; structure only, the caller checks level, scale and values. */
export function parseSealCiphertext(bytes: Uint8Array, what = 'ciphertext'): SealCiphertextData {
  const { meta, dataAt, words } = ciphertextMeta(bytes, what);
  return { ...meta, data: copyWords(bytes, dataAt, words) };
}

/** Writes an uncompressed SEAL Ciphertext (a PublicKey when it is of size 2 at the key level in NTT form). */
export function writeSealCiphertext(cipher: SealCiphertextData): Uint8Array {
  const words = cipher.size * cipher.polyModulusDegree * cipher.coeffModulusSize;
  if (cipher.data.length !== words) {
    throw new HeCiphertextError(`ciphertext data has ${cipher.data.length} words, ${words} expected for ${cipher.size} x ${cipher.coeffModulusSize} x ${cipher.polyModulusDegree}`);
  }
  const out = new Uint8Array(sealCiphertextBytes(cipher.size, cipher.coeffModulusSize, cipher.polyModulusDegree));
  const view = new DataView(out.buffer);
  writeHeader(view, 0, out.length);
  let at = SEAL_HEADER_BYTES;
  writeParmsId(out, at, cipher.parmsId);
  at += PARMS_ID_BYTES;
  view.setUint8(at, cipher.nttForm ? 1 : 0);
  at += 1;
  [cipher.size, cipher.polyModulusDegree, cipher.coeffModulusSize].forEach((v, i) => view.setBigUint64(at + 8 * i, BigInt(v), true));
  at += 24;
  view.setFloat64(at, cipher.scale, true);
  view.setBigUint64(at + 8, 1n, true);
  writeWords(out, view, at + 16, cipher.data);
  return out;
}
