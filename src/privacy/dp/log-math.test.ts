import { describe, expect, it } from 'vitest';
import { logAdd, logErfc, logSub } from './log-math.js';

describe('log-space arithmetic', () => {
  it('adds and subtracts in log space, with -Infinity as log(0)', () => {
    expect(logAdd(Math.log(2), Math.log(3))).toBeCloseTo(Math.log(5), 14);
    expect(logAdd(-Infinity, 1.5)).toBe(1.5);
    expect(logAdd(1000, 1000)).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logSub(Math.log(5), Math.log(3))).toBeCloseTo(Math.log(2), 14);
    expect(logSub(2, -Infinity)).toBe(2);
    expect(logSub(2, 2)).toBe(-Infinity);
    expect(() => logSub(1, 2)).toThrow(RangeError);
  });
});

describe('logErfc', () => {
  // Reference values from Python's math.erfc (C libm), to 16 digits.
  it.each([
    [0, 1],
    [0.5, 0.4795001221869535],
    [1, 0.15729920705028513],
    [3, 2.209049699858544e-5],
    [10, 2.088487583762545e-45],
    [-1, 1.8427007929497148],
    [-4, 1.999999984582742],
  ])('erfc(%d) = %d', (x, expected) => {
    expect(Math.abs(Math.exp(logErfc(x)) - expected) / expected).toBeLessThan(1e-10);
  });

  it('stays finite where erfc underflows a double', () => {
    // log erfc(x) ~ -x^2 - log(x sqrt(pi)) - 1/(2x^2) for large x (A&S 7.1.23).
    const x = 40;
    expect(logErfc(x)).toBeCloseTo(-x * x - Math.log(x * Math.sqrt(Math.PI)) - 1 / (2 * x * x), 6);
  });

  it('is continuous across the switch between series and continued fraction', () => {
    expect(Math.abs(logErfc(3 + 1e-12) - logErfc(3))).toBeLessThan(1e-9);
  });
});
