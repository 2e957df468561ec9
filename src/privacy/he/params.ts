import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parseWithSchema } from '../../core/index.js';
import { HeParamsError } from './errors.js';

/** CKKS encryption parameters: ring degree N, the bit sizes of the RNS primes (the last one is SEAL's special key-switching prime) and the encoding scale 2^scaleBits. */
export interface EncryptionParams {
  readonly polyModulusDegree: number;
  readonly coeffModulusBits: readonly number[];
  readonly scaleBits: number;
}

/**
 * Largest total coefficient-modulus bit count for 128-bit classical security with a ternary secret, per ring degree:
 * Homomorphic Encryption Security Standard (Albrecht et al., 2018), Table 1; SEAL enforces the same figures
 * (native/src/seal/util/hestdparms.h, `CoeffModulus::MaxBitCount`).
 */
export const HE_STANDARD_MAX_COEFF_BITS: Readonly<Record<number, number>> = Object.freeze({
  1024: 27,
  2048: 54,
  4096: 109,
  8192: 218,
  16384: 438,
  32768: 881,
});

/**
 * Presets. The middle primes equal the scale so that a rescale after each multiplication brings the scale back to
 * about 2^scaleBits (SEAL examples/5_ckks_basics); the first prime is 20 bits above the scale for integer headroom.
 */
export const PRESETS = Object.freeze({
  /** Adds and unrescaled plaintext operations only (one data prime); |values| below 2^13. Small and fast. */
  n4096: Object.freeze({ polyModulusDegree: 4096, coeffModulusBits: Object.freeze([54, 55]), scaleBits: 40 }),
  /** Default: 4,096 slots, two multiplications deep, 200 of the 218 bits allowed. */
  n8192: Object.freeze({ polyModulusDegree: 8192, coeffModulusBits: Object.freeze([60, 40, 40, 60]), scaleBits: 40 }),
  /** 8,192 slots, six multiplications deep, 360 of the 438 bits allowed. */
  n16384: Object.freeze({
    polyModulusDegree: 16384,
    coeffModulusBits: Object.freeze([60, 40, 40, 40, 40, 40, 40, 60]),
    scaleBits: 40,
  }),
} satisfies Record<string, EncryptionParams>);

/** Name of a preset in `PRESETS`. */
export type PresetName = keyof typeof PRESETS;

// SEAL accepts primes of at most 60 bits (SEAL_USER_MOD_BIT_COUNT_MAX) and needs at least two: one for data and the
// special prime that key switching (relinearisation) uses.
const ParamsSchema = z
  .object({
    polyModulusDegree: z.number().int(),
    coeffModulusBits: z.array(z.number().int().min(20).max(60)).min(2).max(64),
    scaleBits: z.number().int().min(20).max(60),
  })
  .strict();

/** Checks parameters against SEAL's limits and the HE Standard's 128-bit table and returns a frozen copy; throws `HeParamsError`. */
export function checkParams(input: unknown): EncryptionParams {
  const p = parseWithSchema(input, ParamsSchema, 'HE parameters', { code: 'HE_PARAMS_INVALID' });
  const limit = HE_STANDARD_MAX_COEFF_BITS[p.polyModulusDegree];
  if (limit === undefined) {
    throw new HeParamsError(
      'HE_PARAMS_INVALID',
      `polyModulusDegree ${p.polyModulusDegree} is not one of ${Object.keys(HE_STANDARD_MAX_COEFF_BITS).join(', ')}`,
      { polyModulusDegree: p.polyModulusDegree },
    );
  }
  const total = p.coeffModulusBits.reduce((s, b) => s + b, 0);
  if (total > limit) {
    throw new HeParamsError(
      'HE_PARAMS_INSECURE',
      `coefficient modulus of ${total} bits exceeds ${limit} bits, the HE Standard's 128-bit limit for N = ${p.polyModulusDegree}; ` +
        'use fewer or smaller primes or a larger polyModulusDegree',
      { polyModulusDegree: p.polyModulusDegree, totalBits: total, limit },
    );
  }
  const dataBits = total - p.coeffModulusBits[p.coeffModulusBits.length - 1];
  if (p.scaleBits >= dataBits) {
    throw new HeParamsError(
      'HE_PARAMS_INVALID',
      `scaleBits ${p.scaleBits} leaves no room below the ${dataBits}-bit data modulus; use a smaller scale or more primes`,
      { scaleBits: p.scaleBits, dataBits },
    );
  }
  return Object.freeze({ ...p, coeffModulusBits: Object.freeze([...p.coeffModulusBits]) });
}

/** A preset by name, or checked custom parameters. */
export function resolveParams(params: EncryptionParams | PresetName): EncryptionParams {
  if (typeof params === 'string') {
    if (!(params in PRESETS)) {
      throw new HeParamsError('HE_PARAMS_INVALID', `unknown preset '${params}'; known: ${Object.keys(PRESETS).join(', ')}`, { preset: params });
    }
    return PRESETS[params];
  }
  return checkParams(params);
}

/** sha256 (hex) of the canonical parameters: the tag every ciphertext and key carries, so that mixing parameters is caught. */
export function paramsHash(params: EncryptionParams): string {
  // SEAL's CoeffModulus::Create picks the primes deterministically from (N, bit sizes), so these fields fix the context.
  const canonical = JSON.stringify({
    scheme: 'ckks',
    polyModulusDegree: params.polyModulusDegree,
    coeffModulusBits: [...params.coeffModulusBits],
    scaleBits: params.scaleBits,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** Values one ciphertext packs: N/2 complex slots, of which we use the real parts. */
export function slotCount(params: EncryptionParams): number {
  return params.polyModulusDegree / 2;
}

/** Highest data level (SEAL's chain index): every prime but the special one. */
export function topLevel(params: EncryptionParams): number {
  return params.coeffModulusBits.length - 2;
}

/** Bits of the modulus a ciphertext at `level` (chain index) lives under. */
export function levelBits(params: EncryptionParams, level: number): number {
  return params.coeffModulusBits.slice(0, level + 1).reduce((s, b) => s + b, 0);
}

// A sum of client updates needs no multiplication, only room for its magnitude above the scale: 2^40 covers sample
// weights times parameters far beyond what training produces.
const SUM_HEADROOM_BITS = 40;

/**
 * Lowest level whose modulus still holds a weighted sum: a ciphertext under fewer primes is smaller on the wire and
 * cheaper to add (SEAL native/examples/3_levels.cpp on modulus switching).
 */
export function sumLevel(params: EncryptionParams): number {
  for (let level = 0; level <= topLevel(params); level++) {
    if (levelBits(params, level) >= params.scaleBits + SUM_HEADROOM_BITS) return level;
  }
  return topLevel(params);
}
