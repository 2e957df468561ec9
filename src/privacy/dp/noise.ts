import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { Rng, parseWithSchema } from '../../core/index.js';

/** Where differential-privacy noise comes from. */
export interface NoiseSource {
  /** n independent draws of N(0, sigma^2). */
  gaussian(n: number, sigma: number): Float64Array;
  /** n independent draws of Laplace(0, b), whose variance is 2 b^2. */
  laplace(n: number, b: number): Float64Array;
}

const count = z.number().int().min(0).max(2 ** 32);
const scale = z.number().min(0).finite();

function checkDraw(n: number, spread: number, name: string): void {
  parseWithSchema(n, count, 'noise sample count', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(spread, scale, name, { code: 'DP_INPUT_INVALID' });
}

const TWO_POW_32 = 2 ** 32;
const TWO_POW_53 = 2 ** 53;
// Uniforms are made in chunks of this many values: one randomBytes call each, bounded memory.
const CHUNK = 8192;

/** Fills `out` with uniforms on the open interval (0, 1). */
type UniformFill = (out: Float64Array) => void;

/** 53-bit uniforms from node:crypto randomBytes, one call per chunk. */
function secureUniforms(out: Float64Array): void {
  const bytes = randomBytes(out.length * 8);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, out.length * 2);
  for (let k = 0; k < out.length; k++) {
    // (i + 1/2) / 2^53 keeps the value off 0 and 1, where the logarithms below would be infinite.
    out[k] = ((words[2 * k] >>> 11) * TWO_POW_32 + words[2 * k + 1] + 0.5) / TWO_POW_53;
  }
  // Whoever learns the noise can subtract it: do not leave its seed material in memory.
  bytes.fill(0);
}

/** Box–Muller transform (Box & Muller 1958): two uniforms on (0, 1) give two independent N(0, 1) draws. */
function gaussianFrom(n: number, sigma: number, fill: UniformFill): Float64Array {
  const out = new Float64Array(n);
  // An even length keeps every Box–Muller pair inside one chunk.
  const u = new Float64Array(Math.min(CHUNK, n + (n % 2)));
  for (let start = 0; start < n; start += u.length) {
    fill(u);
    const end = Math.min(n, start + u.length);
    for (let k = start; k < end; k += 2) {
      const i = k - start;
      const radius = sigma * Math.sqrt(-2 * Math.log(u[i]));
      out[k] = radius * Math.cos(2 * Math.PI * u[i + 1]);
      if (k + 1 < end) out[k + 1] = radius * Math.sin(2 * Math.PI * u[i + 1]);
    }
  }
  u.fill(0);
  return out;
}

/** Inverse CDF of Laplace(0, b): x = -b sgn(u - 1/2) ln(1 - 2|u - 1/2|) for u uniform on (0, 1). */
function laplaceFrom(n: number, b: number, fill: UniformFill): Float64Array {
  const out = new Float64Array(n);
  const u = new Float64Array(Math.min(CHUNK, n));
  for (let start = 0; start < n; start += u.length) {
    fill(u);
    const end = Math.min(n, start + u.length);
    for (let k = start; k < end; k++) {
      const v = u[k - start] - 0.5;
      out[k] = -b * Math.sign(v) * Math.log1p(-2 * Math.abs(v));
    }
  }
  u.fill(0);
  return out;
}

/**
 * Noise from the operating system's CSPRNG (node:crypto randomBytes): the source to use for real
 * privacy. Values are IEEE doubles; the floating-point attack of Mironov 2012 ("On significance of
 * the least significant bits for differential privacy") is not mitigated here.
 */
export class SecureNoiseSource implements NoiseSource {
  /** n Gaussian draws with standard deviation sigma. */
  gaussian(n: number, sigma: number): Float64Array {
    checkDraw(n, sigma, 'gaussian sigma');
    return gaussianFrom(n, sigma, secureUniforms);
  }

  /** n Laplace draws with scale b. */
  laplace(n: number, b: number): Float64Array {
    checkDraw(n, b, 'laplace scale');
    return laplaceFrom(n, b, secureUniforms);
  }
}

/**
 * FOR TESTS ONLY: reproducible noise from the seeded, non-cryptographic core `Rng`. Anyone who knows
 * the seed can remove the noise, so it gives no privacy at all; use `SecureNoiseSource` for real data.
 */
export class SeededNoiseSource implements NoiseSource {
  private readonly rng: Rng;

  /** A reproducible stream for the given seed. */
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  private readonly uniforms: UniformFill = (out) => {
    // Half a step keeps the value off 0, like the secure source.
    for (let k = 0; k < out.length; k++) out[k] = (this.rng.nextUint32() + 0.5) / TWO_POW_32;
  };

  /** n Gaussian draws with standard deviation sigma (seeded, not secure). */
  gaussian(n: number, sigma: number): Float64Array {
    checkDraw(n, sigma, 'gaussian sigma');
    return gaussianFrom(n, sigma, this.uniforms);
  }

  /** n Laplace draws with scale b (seeded, not secure). */
  laplace(n: number, b: number): Float64Array {
    checkDraw(n, b, 'laplace scale');
    return laplaceFrom(n, b, this.uniforms);
  }
}
