import { randomFillSync } from 'node:crypto';
import { z } from 'zod';
import { Rng, parseWithSchema } from '../../core/index.js';
import { MAX_DISCRETE_SIGMA, discreteGaussianParameters, sampleDiscreteGaussian, sampleDiscreteLaplace, type RandomWords } from './discrete-gaussian.js';

/**
 * Where differential-privacy noise comes from. Every draw is an integer from an exact sampler
 * (Canonne, Kamath & Steinke 2020): the noise is added on a fixed-point grid, so no released value
 * carries floating-point noise whose low-order bits could give the input away (Mironov 2012).
 */
export interface NoiseSource {
  /** n independent draws of the discrete Gaussian N_Z(0, sigma^2) (integers, P(x) proportional to exp(-x^2 / (2 sigma^2))). */
  discreteGaussian(n: number, sigma: number): Float64Array;
  /** n independent draws of the discrete Laplace on Z with P(x) proportional to exp(-|x| / scale), for an integer scale >= 1. */
  discreteLaplace(n: number, scale: number): Float64Array;
}

const count = z.number().int().min(0).max(2 ** 32);
const sigmaSchema = z.number().min(0).max(MAX_DISCRETE_SIGMA);
const laplaceScale = z.number().int().min(1).max(2 ** 31);

function gaussianFrom(n: number, sigma: number, bits: RandomWords): Float64Array {
  parseWithSchema(n, count, 'noise sample count', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(sigma, sigmaSchema, 'discrete gaussian sigma (in grid steps)', { code: 'DP_INPUT_INVALID' });
  const out = new Float64Array(n);
  if (sigma === 0) return out;
  const parameters = discreteGaussianParameters(sigma * sigma);
  for (let k = 0; k < n; k++) out[k] = sampleDiscreteGaussian(bits, parameters);
  return out;
}

function laplaceFrom(n: number, scale: number, bits: RandomWords): Float64Array {
  parseWithSchema(n, count, 'noise sample count', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(scale, laplaceScale, 'discrete laplace scale (a whole number of grid steps)', { code: 'DP_INPUT_INVALID' });
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = sampleDiscreteLaplace(bits, scale);
  return out;
}

// Words are drawn in pools of this many: one randomFillSync call each.
const POOL = 16_384;

/** Uniform words from the operating system's CSPRNG (node:crypto). */
class CryptoWords implements RandomWords {
  private readonly pool = new Uint32Array(POOL);
  private used = POOL;

  next(): number {
    if (this.used === POOL) {
      randomFillSync(this.pool);
      this.used = 0;
    }
    const word = this.pool[this.used];
    // Whoever learns the words can rebuild the noise: none outlives its use.
    this.pool[this.used++] = 0;
    return word;
  }
}

/** Noise from the operating system's CSPRNG (node:crypto randomFillSync): the source to use for real privacy. */
export class SecureNoiseSource implements NoiseSource {
  private readonly bits = new CryptoWords();

  /** n discrete Gaussian draws with parameter sigma (in grid steps). */
  discreteGaussian(n: number, sigma: number): Float64Array {
    return gaussianFrom(n, sigma, this.bits);
  }

  /** n discrete Laplace draws with an integer scale (in grid steps). */
  discreteLaplace(n: number, scale: number): Float64Array {
    return laplaceFrom(n, scale, this.bits);
  }
}

/**
 * FOR TESTS ONLY: reproducible noise from the seeded, non-cryptographic core `Rng`, through the same
 * exact samplers. Anyone who knows the seed can remove the noise, so it gives no privacy at all; use
 * `SecureNoiseSource` for real data.
 */
export class SeededNoiseSource implements NoiseSource {
  private readonly bits: RandomWords;

  /** A reproducible stream for the given seed. */
  constructor(seed: number) {
    const rng = new Rng(seed);
    this.bits = { next: () => rng.nextUint32() };
  }

  /** n discrete Gaussian draws with parameter sigma (seeded, not secure). */
  discreteGaussian(n: number, sigma: number): Float64Array {
    return gaussianFrom(n, sigma, this.bits);
  }

  /** n discrete Laplace draws with an integer scale (seeded, not secure). */
  discreteLaplace(n: number, scale: number): Float64Array {
    return laplaceFrom(n, scale, this.bits);
  }
}
