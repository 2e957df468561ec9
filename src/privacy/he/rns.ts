import { createCipheriv, randomBytes } from 'node:crypto';
import { HeCiphertextError } from './errors.js';

/*
 * Polynomials in SEAL's residue number system: one block of `degree` words per prime, prime-major, the layout of
 * SEAL's Plaintext and of each Ciphertext polynomial. In NTT form multiplication is pointwise, so every operation the
 * multi-party protocol needs (sums of shares, a * s, e + b) is a word-by-word operation modulo the block's prime.
 */

/** The primes of one level and the ring degree N. */
export interface RnsBasis {
  readonly moduli: readonly bigint[];
  readonly degree: number;
}

/** Words of one polynomial in `basis`. */
export function polyWords(basis: RnsBasis): number {
  return basis.moduli.length * basis.degree;
}

/** Throws `HE_CIPHERTEXT_CORRUPT` unless every word of `count` polynomials is below its prime (SEAL's is_data_valid_for). */
export function checkReduced(data: BigUint64Array, basis: RnsBasis, what: string, count = 1): void {
  const n = basis.degree;
  for (let p = 0; p < count; p++) {
    for (let j = 0; j < basis.moduli.length; j++) {
      const q = basis.moduli[j];
      const start = (p * basis.moduli.length + j) * n;
      for (let i = start; i < start + n; i++) {
        if (data[i] >= q) throw new HeCiphertextError(`${what}: word ${i} is not reduced modulo its prime`, { index: i });
      }
    }
  }
}

/** acc[i] += x[xOffset + i] modulo the prime of i's block, for one polynomial (or `count` consecutive ones). */
export function addInto(acc: BigUint64Array, x: BigUint64Array, basis: RnsBasis, count = 1, accOffset = 0, xOffset = 0): void {
  const n = basis.degree;
  for (let p = 0; p < count * basis.moduli.length; p++) {
    const q = basis.moduli[p % basis.moduli.length];
    const a0 = accOffset + p * n;
    const x0 = xOffset + p * n;
    for (let i = 0; i < n; i++) {
      const s = acc[a0 + i] + x[x0 + i];
      acc[a0 + i] = s >= q ? s - q : s;
    }
  }
}

/** acc[i] -= times * x[xOffset + i] modulo the prime of i's block, for one polynomial. */
export function subMultipleInto(acc: BigUint64Array, x: BigUint64Array, times: number, basis: RnsBasis, xOffset = 0): void {
  const n = basis.degree;
  const k = BigInt(times);
  basis.moduli.forEach((q, j) => {
    for (let i = j * n; i < (j + 1) * n; i++) {
      const s = (acc[i] + q - ((k * x[xOffset + i]) % q)) % q;
      acc[i] = s;
    }
  });
}

/** acc[i] *= x[i] modulo the prime of i's block, for one polynomial: in NTT form, the product of the two polynomials. */
export function multiplyInto(acc: BigUint64Array, x: BigUint64Array, basis: RnsBasis): void {
  const n = basis.degree;
  basis.moduli.forEach((q, j) => {
    for (let i = j * n; i < (j + 1) * n; i++) acc[i] = (acc[i] * x[i]) % q;
  });
}

/** -x modulo each prime, for one polynomial. */
export function negated(x: BigUint64Array, basis: RnsBasis): BigUint64Array {
  const n = basis.degree;
  const out = new BigUint64Array(polyWords(basis));
  basis.moduli.forEach((q, j) => {
    for (let i = j * n; i < (j + 1) * n; i++) out[i] = x[i] === 0n ? 0n : q - x[i];
  });
  return out;
}

/** (-a * s + e) modulo each prime, pointwise: an RLWE sample b in NTT form (Mouchet et al. 2021, §4.1 key generation). */
export function rlweSample(a: BigUint64Array, s: BigUint64Array, e: BigUint64Array, basis: RnsBasis): BigUint64Array {
  const n = basis.degree;
  const out = new BigUint64Array(polyWords(basis));
  basis.moduli.forEach((q, j) => {
    for (let i = j * n; i < (j + 1) * n; i++) out[i] = (q - ((a[i] * s[i]) % q) + e[i]) % q;
  });
  return out;
}

/** (b + a * s) modulo each prime, pointwise: the error of an RLWE sample (b, a) under s. */
export function rlweError(b: BigUint64Array, a: BigUint64Array, s: BigUint64Array, basis: RnsBasis, aOffset = 0): BigUint64Array {
  const n = basis.degree;
  const out = new BigUint64Array(polyWords(basis));
  basis.moduli.forEach((q, j) => {
    for (let i = j * n; i < (j + 1) * n; i++) out[i] = (b[i] + a[aOffset + i] * s[i]) % q;
  });
  return out;
}

function bitLength(q: bigint): number {
  return q.toString(2).length;
}

/**
 * A uniformly random polynomial expanded from a 32-byte key: AES-256-CTR as the PRG (NIST SP 800-90A's CTR_DRBG core
 * without reseeding, which a public common reference string needs none of), one 64-bit draw per word, masked to the
 * prime's bit length and rejected when not below the prime, so each residue is exactly uniform.
 */
export function uniformFromKey(key: Uint8Array, basis: RnsBasis): BigUint64Array {
  if (key.length !== 32) throw new RangeError('the PRG key must be 32 bytes');
  const stream = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const out = new BigUint64Array(polyWords(basis));
  const n = basis.degree;
  const block = Buffer.alloc(8 * n);
  basis.moduli.forEach((q, j) => {
    const mask = (1n << BigInt(bitLength(q))) - 1n;
    let i = 0;
    while (i < n) {
      const draws = stream.update(block);
      for (let at = 0; at < draws.length && i < n; at += 8) {
        const v = draws.readBigUInt64LE(at) & mask;
        if (v < q) out[j * n + i++] = v;
      }
    }
  });
  stream.final();
  return out;
}

/**
 * N integers uniform in [-2^bits, 2^bits) from the operating system's CSPRNG, in coefficient form and reduced modulo
 * each prime: the flooding noise of a decryption share (Asharov et al., Eurocrypt 2012, smudging lemma 2.1).
 */
export function uniformSignedCoefficients(bits: number, basis: RnsBasis): BigUint64Array {
  if (!Number.isInteger(bits) || bits < 1 || bits > 1000) throw new RangeError(`flooding bits ${bits} out of range`);
  const bytesPer = Math.ceil((bits + 1) / 8);
  const n = basis.degree;
  const raw = randomBytes(bytesPer * n);
  const mask = (1n << BigInt(bits + 1)) - 1n;
  const offset = 1n << BigInt(bits);
  const out = new BigUint64Array(polyWords(basis));
  for (let i = 0; i < n; i++) {
    const value = (BigInt(`0x${raw.toString('hex', i * bytesPer, (i + 1) * bytesPer)}`) & mask) - offset;
    basis.moduli.forEach((q, j) => {
      const r = value % q;
      out[j * n + i] = r < 0n ? r + q : r;
    });
  }
  raw.fill(0);
  return out;
}
