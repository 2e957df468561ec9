import { randomBytes } from 'node:crypto';
import { SecAggError } from './errors.js';

/**
 * Shamir t-of-m secret sharing over the prime field GF(2^130 - 5) (Shamir 1979; Bonawitz et al. 2017 §3.1).
 * A secret is cut into 16-byte chunks, each of which is a field element since 2^128 < p; every chunk
 * gets its own random polynomial of degree t - 1, and a share is the chunks' evaluations at one point x.
 */

/** The field modulus, the Poly1305 prime 2^130 - 5: the smallest well-known prime above 2^128. */
export const FIELD_PRIME = (1n << 130n) - 5n;
/** Bytes of one secret chunk. */
export const CHUNK_BYTES = 16;
/** Bytes of one field element in a share (130 bits, big-endian). */
export const ELEMENT_BYTES = 17;

/** One share: the evaluation point x (the holder's 1-based index) and the encoded evaluations. */
export interface Share {
  x: number;
  y: Uint8Array;
}

function toBigInt(bytes: Uint8Array, start: number, length: number): bigint {
  let value = 0n;
  for (let i = start; i < start + length; i++) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

function writeBigInt(value: bigint, out: Uint8Array, start: number, length: number): void {
  let v = value;
  for (let i = start + length - 1; i >= start; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** A uniform field element by rejection sampling 130-bit strings. */
function randomElement(): bigint {
  const buffer = randomBytes(ELEMENT_BYTES);
  try {
    for (;;) {
      buffer[0] &= 0x03;
      const value = toBigInt(buffer, 0, ELEMENT_BYTES);
      if (value < FIELD_PRIME) return value;
      randomBytes(ELEMENT_BYTES).copy(buffer);
    }
  } finally {
    buffer.fill(0);
  }
}

function mod(a: bigint): bigint {
  const r = a % FIELD_PRIME;
  return r < 0n ? r + FIELD_PRIME : r;
}

/** a^-1 mod p by the extended Euclidean algorithm. */
function inverse(a: bigint): bigint {
  let [r0, r1] = [mod(a), FIELD_PRIME];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0);
}

function checkPoints(xs: readonly number[], threshold: number): void {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new SecAggError('SECAGG_SHAMIR_INVALID', `threshold must be an integer from 1 to ${xs.length} (the number of shares), got ${threshold}`);
  }
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isInteger(x) || x < 1 || x > 0xffff || seen.has(x)) {
      throw new SecAggError('SECAGG_SHAMIR_INVALID', `share points must be distinct integers from 1 to 65535, got ${x}`);
    }
    seen.add(x);
  }
}

/** Splits `secret` (a multiple of 16 bytes) into one share per point in `xs`, any `threshold` of which reconstruct it. */
export function splitSecret(secret: Uint8Array, threshold: number, xs: readonly number[]): Share[] {
  checkPoints(xs, threshold);
  if (secret.length === 0 || secret.length % CHUNK_BYTES !== 0) {
    throw new SecAggError('SECAGG_SHAMIR_INVALID', `a secret must be a non-empty multiple of ${CHUNK_BYTES} bytes, got ${secret.length}`);
  }
  const chunks = secret.length / CHUNK_BYTES;
  const shares = xs.map((x) => ({ x, y: new Uint8Array(chunks * ELEMENT_BYTES) }));
  for (let c = 0; c < chunks; c++) {
    // f(X) = secret_c + a_1 X + ... + a_{t-1} X^{t-1}; the share of x is f(x) (Shamir 1979).
    const coefficients = [toBigInt(secret, c * CHUNK_BYTES, CHUNK_BYTES)];
    for (let k = 1; k < threshold; k++) coefficients.push(randomElement());
    for (const share of shares) {
      const x = BigInt(share.x);
      let value = 0n;
      for (let k = coefficients.length - 1; k >= 0; k--) value = mod(value * x + coefficients[k]);
      writeBigInt(value, share.y, c * ELEMENT_BYTES, ELEMENT_BYTES);
    }
    // BigInts are immutable and cannot be wiped; dropping the only references is all JavaScript allows.
    coefficients.length = 0;
  }
  return shares;
}

/** Reconstructs the secret by Lagrange interpolation at 0 from the first `threshold` of `shares`; fewer is an error. */
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
    let numerator = 1n;
    let denominator = 1n;
    shares.forEach((sj, j) => {
      if (j === i) return;
      numerator = mod(numerator * BigInt(sj.x));
      denominator = mod(denominator * BigInt(sj.x - si.x));
    });
    return mod(numerator * inverse(denominator));
  });
  const chunks = length / ELEMENT_BYTES;
  const secret = new Uint8Array(chunks * CHUNK_BYTES);
  for (let c = 0; c < chunks; c++) {
    let value = 0n;
    shares.forEach((s, i) => {
      const y = toBigInt(s.y, c * ELEMENT_BYTES, ELEMENT_BYTES);
      if (y >= FIELD_PRIME) throw new SecAggError('SECAGG_SHAMIR_INVALID', `share of point ${s.x} is not a field element`);
      value = mod(value + y * basis[i]);
    });
    // A value of 2^128 or more cannot come from a 16-byte chunk: the shares are inconsistent or too few.
    if (value >> 128n !== 0n) {
      secret.fill(0);
      throw new SecAggError('SECAGG_SHARES_INCONSISTENT', 'the shares do not lie on one polynomial of a shared secret; one of them is corrupt');
    }
    writeBigInt(value, secret, c * CHUNK_BYTES, CHUNK_BYTES);
  }
  return secret;
}
