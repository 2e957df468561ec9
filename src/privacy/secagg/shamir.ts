import { randomFillSync } from 'node:crypto';
import { SecAggError } from './errors.js';

/**
 * Shamir t-of-m secret sharing over the prime field GF(65537) (Shamir 1979; Bonawitz et al. 2017 §3.1).
 * A secret is cut into 2-byte chunks, each a field element since 2^16 < p = 2^16 + 1 (the Fermat prime
 * F4); every chunk gets its own independent random polynomial of degree t - 1, so any t - 1 shares are
 * independent of the whole secret. Products stay below 2^34, exact in doubles: no BigInt on the hot path.
 * A share is the chunks' evaluations at the holder's point x, 3 bytes each.
 */

/** The field modulus, the Fermat prime 2^16 + 1. */
export const FIELD_PRIME = 65537;
/** Bytes of one secret chunk. */
export const CHUNK_BYTES = 2;
/** Bytes of one field element in a share (17 bits, big-endian). */
export const ELEMENT_BYTES = 3;

/** One share: the evaluation point x (the holder's 1-based index, below p) and the encoded evaluations. */
export interface Share {
  x: number;
  y: Uint8Array;
}

const P = FIELD_PRIME;
// Rejection bound making `word % P` uniform for uint32 words.
const UNIFORM_LIMIT = Math.floor(0x100000000 / P) * P;

/** a^-1 mod p (Fermat: a^(p-2)). */
function inverse(a: number): number {
  let result = 1;
  let base = a % P;
  for (let e = P - 2; e > 0; e = Math.floor(e / 2)) {
    if (e & 1) result = (result * base) % P;
    base = (base * base) % P;
  }
  return result;
}

/** Replaces every (non-zero) element of `values` by its inverse with one field inversion (Montgomery's trick). */
function batchInvert(values: Float64Array): void {
  const prefix = new Float64Array(values.length);
  let product = 1;
  for (let i = 0; i < values.length; i++) {
    prefix[i] = product;
    product = (product * values[i]) % P;
  }
  let inv = inverse(product);
  for (let i = values.length - 1; i >= 0; i--) {
    const value = values[i];
    values[i] = (inv * prefix[i]) % P;
    inv = (inv * value) % P;
  }
}

/** `count` uniform field elements from node:crypto. */
function randomElements(count: number): Uint32Array {
  const out = new Uint32Array(count);
  const words = new Uint32Array(count + 16);
  let filled = 0;
  while (filled < count) {
    randomFillSync(words);
    for (let i = 0; i < words.length && filled < count; i++) if (words[i] < UNIFORM_LIMIT) out[filled++] = words[i] % P;
  }
  words.fill(0);
  return out;
}

function checkPoints(xs: readonly number[], threshold: number): void {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new SecAggError('SECAGG_SHAMIR_INVALID', `threshold must be an integer from 1 to ${xs.length} (the number of shares), got ${threshold}`);
  }
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isInteger(x) || x < 1 || x >= P || seen.has(x)) {
      throw new SecAggError('SECAGG_SHAMIR_INVALID', `share points must be distinct integers from 1 to ${P - 1}, got ${x}`);
    }
    seen.add(x);
  }
}

function readElement(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 16) | (bytes[offset + 1] << 8) | bytes[offset + 2];
}

function writeElement(value: number, bytes: Uint8Array, offset: number): void {
  bytes[offset] = value >>> 16;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = value & 0xff;
}

/** Splits `secret` (an even number of bytes) into one share per point in `xs`, any `threshold` of which rebuild it. */
export function splitSecret(secret: Uint8Array, threshold: number, xs: readonly number[]): Share[] {
  checkPoints(xs, threshold);
  if (secret.length === 0 || secret.length % CHUNK_BYTES !== 0) {
    throw new SecAggError('SECAGG_SHAMIR_INVALID', `a secret must be a non-empty multiple of ${CHUNK_BYTES} bytes, got ${secret.length}`);
  }
  const chunks = secret.length / CHUNK_BYTES;
  const shares = xs.map((x) => ({ x, y: new Uint8Array(chunks * ELEMENT_BYTES) }));
  // Coefficients a_1 .. a_{t-1} of every chunk's polynomial, wiped below.
  const coefficients = randomElements(chunks * (threshold - 1));
  for (let c = 0; c < chunks; c++) {
    const constant = (secret[c * CHUNK_BYTES] << 8) | secret[c * CHUNK_BYTES + 1];
    const base = c * (threshold - 1);
    for (const share of shares) {
      // Horner: f(x) = s + a_1 x + ... + a_{t-1} x^{t-1} (Shamir 1979).
      let value = 0;
      for (let k = threshold - 2; k >= 0; k--) value = (value * share.x + coefficients[base + k]) % P;
      value = (value * share.x + constant) % P;
      writeElement(value, share.y, c * ELEMENT_BYTES);
    }
  }
  coefficients.fill(0);
  return shares;
}

/** Rebuilds the secret by Lagrange interpolation at 0 from the first `threshold` of `shares`; fewer is an error. */
export function combineShares(shares: readonly Share[], threshold: number): Uint8Array {
  if (shares.length < threshold) {
    throw new SecAggError('SECAGG_SHAMIR_TOO_FEW', `reconstruction needs ${threshold} shares, got ${shares.length}`, {
      needed: threshold,
      present: shares.length,
    });
  }
  return interpolateAtZero(shares.slice(0, threshold));
}

/** The value at 0 of the unique polynomial of degree < shares.length through the shares (Lagrange). */
export function interpolateAtZero(shares: readonly Share[]): Uint8Array {
  checkPoints(
    shares.map((s) => s.x),
    shares.length,
  );
  const length = shares[0].y.length;
  if (length === 0 || length % ELEMENT_BYTES !== 0 || shares.some((s) => s.y.length !== length)) {
    throw new SecAggError('SECAGG_SHAMIR_INVALID', `shares must all be the same non-empty multiple of ${ELEMENT_BYTES} bytes`);
  }
  // Lagrange basis at 0: l_i(0) = prod_{j != i} x_j / (x_j - x_i).
  const basis = shares.map((si, i) => {
    let numerator = 1;
    let denominator = 1;
    shares.forEach((sj, j) => {
      if (j === i) return;
      numerator = (numerator * sj.x) % P;
      denominator = (denominator * (sj.x - si.x + P)) % P;
    });
    return (numerator * inverse(denominator)) % P;
  });
  const chunks = length / ELEMENT_BYTES;
  const secret = new Uint8Array(chunks * CHUNK_BYTES);
  for (let c = 0; c < chunks; c++) {
    let value = 0;
    shares.forEach((s, i) => {
      const y = readElement(s.y, c * ELEMENT_BYTES);
      if (y >= P) throw new SecAggError('SECAGG_SHAMIR_INVALID', `the share of point ${s.x} is not a field element`);
      value = (value + y * basis[i]) % P;
    });
    // 2^16 is a field element but no 2-byte chunk: the shares are inconsistent or too few.
    if (value === 0x10000) {
      secret.fill(0);
      throw new SecAggError('SECAGG_SHARES_INCONSISTENT', 'the shares do not lie on one polynomial of a shared secret; one of them is corrupt');
    }
    secret[c * CHUNK_BYTES] = value >>> 8;
    secret[c * CHUNK_BYTES + 1] = value & 0xff;
  }
  return secret;
}

/**
 * Which of `others` do not lie on the polynomial through `basis` (distinct points; none of `others`
 * at a basis point): once `basis` has rebuilt a secret that its commitment confirms, these are the
 * corrupt shares. Barycentric Lagrange evaluation (Berrut and Trefethen 2004): O(t²) once, then
 * O(t) per chunk and share, with one field inversion per share (Montgomery's batch trick).
 */
export function sharesOffPolynomial(basis: readonly Share[], others: readonly Share[]): number[] {
  checkPoints(
    [...basis, ...others].map((s) => s.x),
    basis.length,
  );
  const t = basis.length;
  const length = basis[0].y.length;
  const chunks = length / ELEMENT_BYTES;
  const xs = basis.map((s) => s.x);
  // values[c * t + i]: chunk c of basis share i, so that one chunk's values are contiguous.
  const values = new Float64Array(chunks * t);
  for (let i = 0; i < t; i++) for (let c = 0; c < chunks; c++) values[c * t + i] = readElement(basis[i].y, c * ELEMENT_BYTES);
  // w_i = 1 / prod_{j != i} (x_i - x_j), all inverted at once.
  const weights = new Float64Array(t);
  for (let i = 0; i < t; i++) {
    let d = 1;
    for (let j = 0; j < t; j++) if (j !== i) d = (d * ((xs[i] - xs[j] + P) % P)) % P;
    weights[i] = d;
  }
  batchInvert(weights);
  const prefix = new Float64Array(t);
  const coefficients = new Float64Array(t);
  const bad: number[] = [];
  others.forEach((target, index) => {
    if (target.y.length !== length) {
      bad.push(index);
      return;
    }
    // 1/(x - x_i) for all i with one inversion; l(x) = prod (x - x_i).
    let product = 1;
    for (let i = 0; i < t; i++) {
      prefix[i] = product;
      product = (product * ((target.x - xs[i] + P) % P)) % P;
    }
    const ell = product;
    let inv = inverse(product);
    for (let i = t - 1; i >= 0; i--) {
      coefficients[i] = (((((inv * prefix[i]) % P) * weights[i]) % P) * ell) % P;
      inv = (inv * ((target.x - xs[i] + P) % P)) % P;
    }
    for (let c = 0; c < chunks; c++) {
      // Each product is below 2^34; a sum of up to 2^18 of them stays exact in a double: reduce once.
      let value = 0;
      for (let i = 0; i < t; i++) value += coefficients[i] * values[c * t + i];
      if (value % P !== readElement(target.y, c * ELEMENT_BYTES)) {
        bad.push(index);
        return;
      }
    }
  });
  values.fill(0);
  prefix.fill(0);
  coefficients.fill(0);
  return bad;
}
