import { randomFillSync } from 'node:crypto';
import { z } from 'zod';
import { parseWithSchema } from '../../core/index.js';

/**
 * Fixed-point encoding of real vectors into Z_(2^32) (Bonawitz et al. 2017 §2 and Bell et al. 2020 §1
 * assume integer inputs; this is the usual bridge). Each coordinate is clipped to [-clip, clip], shifted
 * to [0, 2 clip] and scaled to [0, L] with L = floor((2^32 - 1) / maxSummands): the headroom of
 * log2(maxSummands) bits guarantees that the sum of up to maxSummands inputs never wraps around.
 * Rounding is stochastic (floor plus a Bernoulli of the fractional part), so the encoding is unbiased.
 */

/** Quantisation parameters, shared by every client and the server of a round. */
export const QuantisationSchema = z
  .object({
    /** Each coordinate is clipped to [-clip, clip] before encoding. */
    clip: z.number().positive().finite(),
    /** Most inputs the sum may hold; sets the headroom. */
    maxSummands: z.number().int().min(1).max(2 ** 20),
  })
  .strict();
/** Quantisation parameters. */
export type QuantisationParams = z.infer<typeof QuantisationSchema>;

/** Integer levels one input uses, L = floor((2^32 - 1) / maxSummands). */
export function quantisationLevels(params: QuantisationParams): number {
  return Math.floor(0xffffffff / params.maxSummands);
}

/** Width of one quantisation step in input units; a sum of m inputs is off by less than m steps. */
export function quantisationStep(params: QuantisationParams): number {
  return (2 * params.clip) / quantisationLevels(params);
}

const ROUNDING_CHUNK = 1 << 16;

/** Clips, scales and stochastically rounds `input` into [0, L] (node:crypto supplies the rounding coins). */
export function quantise(input: Float32Array, params: QuantisationParams, into?: Uint32Array): Uint32Array {
  const { clip } = parseWithSchema(params, QuantisationSchema, 'quantisation', { code: 'SECAGG_CONFIG_INVALID' });
  const levels = quantisationLevels(params);
  const scale = levels / (2 * clip);
  if (into && into.length !== input.length) throw new RangeError(`quantise: the output has ${into.length} words, the input ${input.length}`);
  const out = into ?? new Uint32Array(input.length);
  const coins = new Uint32Array(Math.min(ROUNDING_CHUNK, input.length));
  for (let start = 0; start < input.length; start += coins.length) {
    const count = Math.min(coins.length, input.length - start);
    randomFillSync(coins, 0, count);
    for (let i = 0; i < count; i++) {
      const x = input[start + i];
      // NaN is clipped to 0 rather than poisoning the whole sum.
      const clipped = x > clip ? clip : x < -clip ? -clip : x === x ? x : 0;
      const scaled = (clipped + clip) * scale;
      const floor = Math.floor(scaled);
      const q = floor + (coins[i] < (scaled - floor) * 4294967296 ? 1 : 0);
      out[start + i] = q > levels ? levels : q;
    }
  }
  coins.fill(0);
  return out;
}

/** Decodes the sum of `summands` quantised inputs back to real numbers. */
export function dequantiseSum(sum: Uint32Array, summands: number, params: QuantisationParams): Float64Array {
  const step = quantisationStep(params);
  const offset = summands * params.clip;
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = sum[i] * step - offset;
  return out;
}
