import type { Rng } from '../../core/rng.js';
import { HEADER_BYTES, corrupt, type Writer } from './wire-format.js';

/** Values per quantisation block, each block with its own float32 scale. */
export const Q8_BLOCK = 256;

const F32_MAX = 3.4028234663852886e38;
const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** The float32 next to a non-negative float32 x, one step up (+1) or down (−1). */
function adjacentF32(x: number, step: 1 | -1): number {
  f32[0] = x;
  f32Bits[0] += step;
  return f32[0];
}

// The largest scale s with 127·s ≤ F32_MAX, so that no decoded value can overflow to Infinity.
const MAX_SCALE = (() => {
  let s = Math.fround(F32_MAX / 127);
  while (s * 127 > F32_MAX) s = adjacentF32(s, -1);
  return s;
})();

/** The scale of a block with largest magnitude m: the smallest float32 s ≥ m/127, capped so 127·s stays finite. */
function blockScale(m: number): number {
  let s = Math.fround(m / 127);
  if (s * 127 < m) s = adjacentF32(s, 1);
  return Math.min(s, MAX_SCALE);
}

/**
 * Per-block 8-bit quantisation q = x/s with s = max|x|/127 (QSGD-style, Alistarh et al. 2017):
 * stochastic rounding ⌊x/s⌋ + Bernoulli(frac(x/s)) is unbiased, E[q·s] = x; without an Rng it rounds
 * to nearest, |x − q·s| ≤ s/2.
 */
export function quantise(x: Float32Array, rng: Rng | undefined): { scales: Float32Array; codes: Int8Array } {
  const scales = new Float32Array(Math.ceil(x.length / Q8_BLOCK));
  const codes = new Int8Array(x.length);
  for (let b = 0; b < scales.length; b++) {
    const start = b * Q8_BLOCK;
    const end = Math.min(x.length, start + Q8_BLOCK);
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(x[i]));
    if (m === 0) continue;
    const s = blockScale(m);
    scales[b] = s;
    for (let i = start; i < end; i++) {
      const v = x[i] / s;
      let q: number;
      if (rng === undefined) q = Math.round(v);
      else {
        const floor = Math.floor(v);
        q = rng.next() < v - floor ? floor + 1 : floor;
      }
      codes[i] = Math.max(-127, Math.min(127, q));
    }
  }
  return { scales, codes };
}

/** Codes times their block's scale: the values a q8 message stands for. */
export function dequantise(scales: Float32Array, codes: Int8Array, block: number): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = codes[i] * scales[Math.floor(i / block)];
  return out;
}

/** Writes the scales, then the codes, at the writer's offset. */
export function writeQuantised(out: Writer, scales: Float32Array, codes: Int8Array): void {
  for (let b = 0; b < scales.length; b++) out.view.setFloat32(out.offset + 4 * b, scales[b], true);
  out.offset += 4 * scales.length;
  out.bytes.set(new Uint8Array(codes.buffer, codes.byteOffset, codes.length), out.offset);
  out.offset += codes.length;
}

/** Reads n quantised values after the header; out-of-range scales or a −128 code make the message corrupt. */
export function readQuantised(bytes: Uint8Array, view: DataView, n: number, block: number): Float32Array {
  const scales = new Float32Array(Math.ceil(n / block));
  for (let b = 0; b < scales.length; b++) {
    const s = view.getFloat32(HEADER_BYTES + 4 * b, true);
    // Finite and at most MAX_SCALE (also false for NaN), so that q·s cannot overflow.
    if (!(s >= 0 && s <= MAX_SCALE)) throw corrupt(`scale ${b} (${s}) is out of range`);
    scales[b] = s;
  }
  const codes = new Int8Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES + 4 * scales.length, n);
  for (let i = 0; i < n; i++) if (codes[i] === -128) throw corrupt(`quantised value ${i} is −128, outside ±127`);
  return dequantise(scales, codes, block);
}
