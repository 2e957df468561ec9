import { describe, expect, it } from 'vitest';
import { addInto, checkReduced, rlweError, rlweSample, subMultipleInto, uniformFromKey, uniformSignedCoefficients, type RnsBasis } from './rns.js';

// SEAL's primes for n8192 [60, 40, 40, 60] (CoeffModulus::Create), on a small degree to keep the references cheap.
const basis: RnsBasis = { moduli: [1152921504606748673n, 1099510890497n, 1099511480321n], degree: 64 };

function random(seed: number): BigUint64Array {
  return uniformFromKey(Buffer.alloc(32, seed), basis);
}

describe('RNS polynomial arithmetic', () => {
  it('expands a key into the same uniform residues every time, all reduced, different for another key', () => {
    const a = random(1);
    expect(Array.from(a)).toEqual(Array.from(random(1)));
    expect(Array.from(a)).not.toEqual(Array.from(random(2)));
    expect(() => checkReduced(a, basis, 'a')).not.toThrow();
    // Uniform residues of a 60-bit prime have their top bit set about half of the time.
    const big = uniformFromKey(Buffer.alloc(32, 3), { moduli: [basis.moduli[0]], degree: 4096 });
    const high = big.reduce((n, w) => n + (w >= 1n << 59n ? 1 : 0), 0);
    expect(high).toBeGreaterThan(1900);
    expect(high).toBeLessThan(2200);
  });

  it('adds, subtracts multiples and forms RLWE samples like BigInt arithmetic modulo each prime', () => {
    const [a, s, e, x] = [random(4), random(5), random(6), random(7)];
    const n = basis.degree;
    const sum = a.slice();
    addInto(sum, x, basis);
    const diff = a.slice();
    subMultipleInto(diff, x, 3, basis);
    const b = rlweSample(a, s, e, basis);
    const back = rlweError(b, a, s, basis);
    for (let i = 0; i < a.length; i++) {
      const q = basis.moduli[Math.floor(i / n)];
      expect(sum[i]).toBe((a[i] + x[i]) % q);
      expect(diff[i]).toBe((((a[i] - 3n * x[i]) % q) + q) % q);
      expect(b[i]).toBe((((e[i] - a[i] * s[i]) % q) + q) % q);
      expect(back[i]).toBe(e[i]);
    }
  });

  it('samples flooding noise uniform in [-2^bits, 2^bits) with residues of one integer', () => {
    const noise = uniformSignedCoefficients(70, basis);
    const n = basis.degree;
    const [q0, q1, q2] = basis.moduli;
    let negative = 0;
    for (let i = 0; i < n; i++) {
      // Recover the integer from the 60-bit residue (|value| <= 2^70 exceeds q0, so use two primes' CRT).
      const r0 = noise[i];
      const r1 = noise[n + i];
      const m = q0 * q1;
      const inv = modInverse(q0 % q1, q1);
      let v = r0 + q0 * ((((r1 - r0) % q1) + q1) % q1 * inv % q1);
      if (v > m / 2n) v -= m;
      expect(v >= -(1n << 70n) && v < 1n << 70n).toBe(true);
      expect(noise[2 * n + i]).toBe(((v % q2) + q2) % q2);
      if (v < 0n) negative++;
    }
    expect(negative).toBeGreaterThan(16);
    expect(negative).toBeLessThan(48);
  });

  it('refuses unreduced words with HE_CIPHERTEXT_CORRUPT', () => {
    const a = random(8);
    a[basis.degree + 3] = basis.moduli[1];
    expect(() => checkReduced(a, basis, 'a')).toThrow(expect.objectContaining({ code: 'HE_CIPHERTEXT_CORRUPT' }));
  });
});

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, t0, t1] = [a, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return ((t0 % m) + m) % m;
}
