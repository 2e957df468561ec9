import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/index.js';
import { HE_STANDARD_MAX_COEFF_BITS, PRESETS, checkParams, levelBits, paramsHash, resolveParams, sumLevel, topLevel } from './params.js';
import { SealRuntime } from './seal.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('EncryptionParams', () => {
  it('has presets inside the HE Standard table', () => {
    for (const preset of Object.values(PRESETS)) {
      expect(checkParams(preset)).toEqual(preset);
      expect(preset.coeffModulusBits.reduce((s, b) => s + b, 0)).toBeLessThanOrEqual(HE_STANDARD_MAX_COEFF_BITS[preset.polyModulusDegree]);
    }
  });

  it('matches SEAL: CoeffModulus.MaxBitCount(N, tc128) is the HE Standard 128-bit table', async () => {
    const { lib } = await SealRuntime.shared();
    for (const [n, bits] of Object.entries(HE_STANDARD_MAX_COEFF_BITS)) {
      expect(lib.CoeffModulus.MaxBitCount(Number(n), lib.SecurityLevel.tc128)).toBe(bits);
    }
  });

  it('refuses N = 4096 with 150 bits, naming the 109-bit limit', () => {
    const insecure = { polyModulusDegree: 4096, coeffModulusBits: [50, 50, 50], scaleBits: 40 };
    expect(() => checkParams(insecure)).toThrow(InvalidInputError);
    expect(() => checkParams(insecure)).toThrow(/150 bits exceeds 109 bits/);
    expect(codeOf(() => checkParams(insecure))).toBe('HE_PARAMS_INSECURE');
  });

  it('accepts every limit exactly and refuses one bit more', () => {
    for (const [n, limit] of Object.entries(HE_STANDARD_MAX_COEFF_BITS)) {
      const primes = Math.ceil(limit / 60) + 1;
      const bits = Array.from({ length: primes }, (_, i) => Math.floor(limit / primes) + (i < limit % primes ? 1 : 0));
      if (bits.some((b) => b < 20)) continue; // N = 1024 cannot hold two primes of SEAL's minimum size used here
      expect(() => checkParams({ polyModulusDegree: Number(n), coeffModulusBits: bits, scaleBits: 20 })).not.toThrow();
      const over = [...bits.slice(0, -1), bits[bits.length - 1] + 1];
      expect(codeOf(() => checkParams({ polyModulusDegree: Number(n), coeffModulusBits: over, scaleBits: 20 }))).toBe('HE_PARAMS_INSECURE');
    }
  });

  it('refuses malformed parameters', () => {
    expect(codeOf(() => checkParams({ polyModulusDegree: 5000, coeffModulusBits: [40, 40], scaleBits: 30 }))).toBe('HE_PARAMS_INVALID');
    expect(codeOf(() => checkParams({ polyModulusDegree: 8192, coeffModulusBits: [61, 40], scaleBits: 30 }))).toBe('HE_PARAMS_INVALID');
    expect(codeOf(() => checkParams({ polyModulusDegree: 8192, coeffModulusBits: [60], scaleBits: 30 }))).toBe('HE_PARAMS_INVALID');
    expect(codeOf(() => checkParams({ polyModulusDegree: 8192, coeffModulusBits: [40, 60], scaleBits: 40 }))).toBe('HE_PARAMS_INVALID');
    expect(codeOf(() => resolveParams('n999' as 'n8192'))).toBe('HE_PARAMS_INVALID');
  });

  it('hashes canonically: stable, field-order free, different for different parameters', () => {
    const a = paramsHash(PRESETS.n8192);
    expect(a).toBe(paramsHash({ scaleBits: 40, coeffModulusBits: [60, 40, 40, 60], polyModulusDegree: 8192 }));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(paramsHash(PRESETS.n16384));
    expect(a).not.toBe(paramsHash({ ...PRESETS.n8192, scaleBits: 39 }));
  });

  it('puts sums one level below the top for n8192 and n16384', () => {
    expect(topLevel(PRESETS.n8192)).toBe(2);
    expect(sumLevel(PRESETS.n8192)).toBe(1);
    expect(levelBits(PRESETS.n8192, 1)).toBe(100);
    expect(sumLevel(PRESETS.n16384)).toBe(1);
    expect(sumLevel(PRESETS.n4096)).toBe(0);
  });
});
