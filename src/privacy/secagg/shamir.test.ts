import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIELD_PRIME, combineShares, interpolateAtZero, sharesOffPolynomial, splitSecret } from './shamir.js';

const sharing = fc
  .record({ m: fc.integer({ min: 1, max: 12 }), secret: fc.uint8Array({ minLength: 32, maxLength: 32 }), seed: fc.nat() })
  .chain(({ m, secret, seed }) =>
    fc.record({
      m: fc.constant(m),
      t: fc.integer({ min: 1, max: m }),
      secret: fc.constant(secret),
      xs: fc.uniqueArray(fc.integer({ min: 1, max: 65536 }), { minLength: m, maxLength: m }),
      seed: fc.constant(seed),
    }),
  );

describe('Shamir secret sharing over GF(65537)', () => {
  it('uses a prime modulus above 2^16', () => {
    expect(FIELD_PRIME).toBeGreaterThan(2 ** 16);
    for (let f = 2; f * f <= FIELD_PRIME; f++) expect(FIELD_PRIME % f).not.toBe(0);
  });

  it('reconstructs from any t of the shares, in any order', () => {
    fc.assert(
      fc.property(sharing, fc.infiniteStream(fc.nat()), ({ t, secret, xs }, picks) => {
        const shares = splitSecret(secret, t, xs);
        const pool = [...shares];
        const chosen = [];
        const it = picks[Symbol.iterator]();
        while (chosen.length < t) chosen.push(pool.splice(it.next().value % pool.length, 1)[0]);
        expect(combineShares(chosen, t)).toEqual(secret);
      }),
      { numRuns: 200 },
    );
  });

  it('does not reconstruct from t - 1 shares', () => {
    fc.assert(
      fc.property(
        sharing.filter(({ t }) => t >= 2),
        ({ t, secret, xs }) => {
          const shares = splitSecret(secret, t, xs).slice(0, t - 1);
          expect(() => combineShares(shares, t)).toThrow(expect.objectContaining({ code: 'SECAGG_SHAMIR_TOO_FEW' }));
          // Interpolating the t - 1 points anyway lands on an unrelated value (or on no 16-byte chunk at all).
          let guess: Uint8Array | undefined;
          try {
            guess = interpolateAtZero(shares);
          } catch (error) {
            expect(error).toMatchObject({ code: 'SECAGG_SHARES_INCONSISTENT' });
          }
          if (guess) expect(guess).not.toEqual(secret);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('t - 1 shares are consistent with every candidate secret: one more point fixes the polynomial', () => {
    // Perfect secrecy: the t - 1 shares plus (0, s') define a polynomial for any s', so they say nothing about s.
    const secret = randomBytes(32);
    const shares = splitSecret(secret, 3, [1, 2, 3, 4]);
    const other = splitSecret(randomBytes(32), 3, [1, 2, 3, 4]);
    expect(combineShares([shares[0], shares[1], shares[2]], 3)).toEqual(new Uint8Array(secret));
    expect(combineShares([shares[3], shares[1], shares[0]], 3)).toEqual(new Uint8Array(secret));
    expect(shares[0].y).not.toEqual(other[0].y);
  });

  it('detects a corrupted share when more than t shares are interpolated', () => {
    const shares = splitSecret(randomBytes(32), 2, [1, 2, 3]);
    shares[2].y[2] ^= 1;
    let error: unknown;
    let result: Uint8Array | undefined;
    try {
      result = interpolateAtZero(shares);
    } catch (e) {
      error = e;
    }
    // A degree-2 fit through 3 inconsistent points is a different value from the degree-1 one.
    if (result) expect(result).not.toEqual(combineShares(shares, 2));
    else expect(error).toMatchObject({ code: 'SECAGG_SHARES_INCONSISTENT' });
  });

  it('refuses bad parameters', () => {
    expect(() => splitSecret(new Uint8Array(32), 0, [1, 2])).toThrow(/threshold/);
    expect(() => splitSecret(new Uint8Array(32), 3, [1, 2])).toThrow(/threshold/);
    expect(() => splitSecret(new Uint8Array(32), 2, [1, 1])).toThrow(/distinct/);
    expect(() => splitSecret(new Uint8Array(32), 2, [0, 1])).toThrow(/distinct/);
    expect(() => splitSecret(new Uint8Array(31), 2, [1, 2])).toThrow(/multiple of 2/);
    expect(() => splitSecret(new Uint8Array(32), 2, [1, 65537])).toThrow(/distinct/);
  });
});

describe('sharesOffPolynomial', () => {
  it('finds exactly the shares that do not lie on the polynomial of t good ones', () => {
    fc.assert(
      fc.property(sharing, fc.nat(), fc.nat(), ({ m, t, secret, xs }, pick, offset) => {
        fc.pre(m > t);
        const shares = splitSecret(secret, t, xs);
        const basis = shares.slice(0, t);
        const others = shares.slice(t).map((s) => ({ x: s.x, y: s.y.slice() }));
        expect(sharesOffPolynomial(basis, others)).toEqual([]);
        // Change one element of one other share to another field element.
        const bad = pick % others.length;
        const at = (offset % (others[bad].y.length / 3)) * 3 + 2;
        others[bad].y[at] ^= 1;
        expect(sharesOffPolynomial(basis, others)).toEqual([bad]);
      }),
      { numRuns: 100 },
    );
  });
});
