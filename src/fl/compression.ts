import { z } from 'zod';
import { parseWithSchema } from '../core/config.js';
import { InvalidInputError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

const fraction = z.number().gt(0).lte(1);

/** How a client update travels: dense float32, top-k sparse, 8-bit quantised, or top-k then 8-bit. */
export const CompressionConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z.object({ kind: z.literal('topk'), fraction, errorFeedback: z.boolean().default(true) }).strict(),
  z.object({ kind: z.literal('q8') }).strict(),
  z.object({ kind: z.literal('topk-q8'), fraction, errorFeedback: z.boolean().default(true) }).strict(),
]);
export type CompressionConfig = z.input<typeof CompressionConfigSchema>;
export type ParsedCompressionConfig = z.output<typeof CompressionConfigSchema>;

/** Options of {@link decompress}. */
export interface DecompressOptions {
  /** The model's parameter count; a message for any other length is rejected before anything is allocated. */
  expectedLength?: number;
}

// Wire format, version 1, little-endian. Header (16 bytes):
//   0 'C' 'N' magic · 2 version · 3 kind · 4 flags (bit 0: indices as uint32, else delta varints)
//   5 reserved (0) · 6 u16 quantisation block size (0 when not quantised) · 8 u32 d · 12 u32 k
// Body: none: d × f32 | q8: ⌈d/B⌉ × f32 scales, d × i8 | topk: k × f32 values, indices
//       | topk-q8: ⌈k/B⌉ × f32 scales, k × i8, indices. Indices are ascending.
const MAGIC0 = 0x43;
const MAGIC1 = 0x4e;
const VERSION = 1;
const HEADER_BYTES = 16;
const Q8_BLOCK = 256;
const FLAG_UINT32_INDICES = 1;
const KIND = { none: 0, topk: 1, q8: 2, 'topk-q8': 3 } as const;

/** Largest d a message may declare (1 GiB dense), so a 16-byte header cannot ask for more memory. */
export const MAX_DIMENSION = 2 ** 28;

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

/** Size in bytes of the same update sent as dense float32, for compression ratios in reports. */
export function denseBytes(d: number): number {
  return 4 * d;
}

/** k = ⌈fraction·d⌉ (at least 1 when d > 0), the number of coordinates top-k keeps. */
export function topKCount(fraction: number, d: number): number {
  if (d === 0) return 0;
  // 0.07·100 is 7.000000000000001 in binary floating point; a relative slack keeps the ceiling at 7.
  return Math.min(d, Math.max(1, Math.ceil(fraction * d * (1 - 1e-12))));
}

/**
 * One client's compressor. For top-k with error feedback it keeps the memory e of what was not sent
 * (Seide et al. 2014, 1-bit SGD; Stich et al. 2018, "Sparsified SGD with memory", Alg. 1): it
 * compresses Δ + e and keeps e ← Δ + e − decode(sent), so that nothing is lost, only delayed.
 */
export class UpdateCompressor {
  readonly config: ParsedCompressionConfig;
  private memory: Float32Array | undefined;

  /** A compressor for `config`, resuming from the residual of a previous round (e.g. from another worker). */
  constructor(config: CompressionConfig, previousResidual?: Float32Array) {
    this.config = parseWithSchema(config, CompressionConfigSchema, 'compression config', { code: 'COMPRESSION_CONFIG_INVALID' });
    if (previousResidual !== undefined) {
      if (!hasErrorFeedback(this.config)) {
        throw new InvalidInputError('COMPRESSION_INPUT_INVALID', `a residual was given but compression '${this.config.kind}' has no error feedback; drop the residual or enable errorFeedback`);
      }
      checkFinite(previousResidual, 'residual');
      this.memory = Float32Array.from(previousResidual);
    }
  }

  /** Encodes one model delta into a self-describing message; `rng` turns on unbiased stochastic rounding for q8. */
  compress(delta: Float32Array, rng?: Rng): Uint8Array {
    checkFinite(delta, 'delta');
    const config = this.config;
    if (config.kind === 'none') return encodeDense(delta);
    if (config.kind === 'q8') {
      const { scales, codes } = quantise(delta, rng);
      const out = allocate(KIND.q8, 0, Q8_BLOCK, delta.length, delta.length, 4 * scales.length + codes.length);
      writeQuantised(out, scales, codes);
      return out.bytes;
    }
    const corrected = this.corrected(delta, config.errorFeedback);
    const d = corrected.length;
    const k = topKCount(config.fraction, d);
    const indices = selectTopK(corrected, k);
    const values = new Float32Array(k);
    for (let j = 0; j < k; j++) values[j] = corrected[indices[j]];
    const varintBytes = varintIndexBytes(indices);
    const uint32 = 4 * k < varintBytes;
    const indexBytes = uint32 ? 4 * k : varintBytes;
    const flags = uint32 ? FLAG_UINT32_INDICES : 0;
    let sent: Float32Array = values;
    let out: Writer;
    if (config.kind === 'topk') {
      out = allocate(KIND.topk, flags, 0, d, k, 4 * k + indexBytes);
      for (let j = 0; j < k; j++) out.view.setFloat32(out.offset + 4 * j, values[j], true);
      out.offset += 4 * k;
    } else {
      const { scales, codes } = quantise(values, rng);
      out = allocate(KIND['topk-q8'], flags, Q8_BLOCK, d, k, 4 * scales.length + k + indexBytes);
      writeQuantised(out, scales, codes);
      sent = dequantise(scales, codes, Q8_BLOCK);
    }
    if (uint32) for (let j = 0; j < k; j++) out.view.setUint32(out.offset + 4 * j, indices[j], true);
    else writeVarintIndices(out.bytes, out.offset, indices);
    if (config.errorFeedback) {
      for (let j = 0; j < k; j++) corrected[indices[j]] -= sent[j];
      this.memory = corrected;
    }
    return out.bytes;
  }

  /** A copy of the error-feedback memory to carry into the next round, or undefined when there is none yet. */
  residual(): Float32Array | undefined {
    return this.memory === undefined ? undefined : Float32Array.from(this.memory);
  }

  /** Δ + e in a fresh array when error feedback is on (it becomes the next memory), else Δ itself. */
  private corrected(delta: Float32Array, errorFeedback: boolean): Float32Array {
    if (!errorFeedback) return delta;
    const memory = this.memory;
    if (memory === undefined) return Float32Array.from(delta);
    if (memory.length !== delta.length) {
      throw new InvalidInputError('COMPRESSION_INPUT_INVALID', `delta has ${delta.length} values but the carried residual has ${memory.length}; start a new compressor when the model changes shape`, { expected: memory.length, actual: delta.length });
    }
    const out = new Float32Array(delta.length);
    for (let i = 0; i < out.length; i++) out[i] = delta[i] + memory[i];
    checkFinite(out, 'delta plus residual');
    return out;
  }
}

/** Decodes a message from {@link UpdateCompressor.compress} into a dense delta; throws COMPRESSION_CORRUPT on any malformed input. */
export function decompress(bytes: Uint8Array, options: DecompressOptions = {}): Float32Array {
  const length = bytes.length;
  if (length < HEADER_BYTES) throw corrupt(`message has ${length} bytes, fewer than the ${HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  if (bytes[0] !== MAGIC0 || bytes[1] !== MAGIC1) throw corrupt('message does not start with the compression magic');
  if (bytes[2] !== VERSION) throw corrupt(`compression version ${bytes[2]} is not supported (expected ${VERSION})`);
  const kind = bytes[3];
  const flags = bytes[4];
  const block = view.getUint16(6, true);
  const d = view.getUint32(8, true);
  const k = view.getUint32(12, true);
  if (bytes[5] !== 0) throw corrupt('reserved header byte is not zero');
  if (options.expectedLength !== undefined && d !== options.expectedLength) throw corrupt(`message is for ${d} parameters, expected ${options.expectedLength}`);
  if (d > MAX_DIMENSION) throw corrupt(`message declares ${d} parameters, more than ${MAX_DIMENSION}`);
  const sparse = kind === KIND.topk || kind === KIND['topk-q8'];
  const quantised = kind === KIND.q8 || kind === KIND['topk-q8'];
  if (kind > KIND['topk-q8']) throw corrupt(`unknown compression kind ${kind}`);
  if (flags > (sparse ? FLAG_UINT32_INDICES : 0)) throw corrupt(`flags ${flags} are not valid for kind ${kind}`);
  if (quantised !== (block > 0)) throw corrupt(`block size ${block} is not valid for kind ${kind}`);
  if (sparse ? k > d : k !== d) throw corrupt(`k = ${k} is not valid for d = ${d}`);
  const valueBytes = quantised ? 4 * Math.ceil(k / block) + k : 4 * k;
  const body = HEADER_BYTES + valueBytes;
  if (sparse ? length < body : length !== body) throw corrupt(`message has ${length} bytes, the header implies ${sparse ? 'at least ' : ''}${body}`);
  const values = quantised ? readQuantised(bytes, view, k, block) : readFloats(view, k);
  if (!sparse) return values;
  const indices = flags === FLAG_UINT32_INDICES ? readUint32Indices(view, body, k, d) : readVarintIndices(bytes, body, k, d);
  const out = new Float32Array(d);
  for (let j = 0; j < k; j++) out[indices[j]] = values[j];
  return out;
}

function hasErrorFeedback(config: ParsedCompressionConfig): boolean {
  return (config.kind === 'topk' || config.kind === 'topk-q8') && config.errorFeedback;
}

function corrupt(message: string): InvalidInputError {
  return new InvalidInputError('COMPRESSION_CORRUPT', `compressed update is corrupt: ${message}; ask the client to resend it`);
}

function checkFinite(x: Float32Array, what: string): void {
  if (x.length > MAX_DIMENSION) throw new InvalidInputError('COMPRESSION_INPUT_INVALID', `${what} has ${x.length} values, more than ${MAX_DIMENSION}`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      throw new InvalidInputError('COMPRESSION_INPUT_INVALID', `${what} has a non-finite value at index ${i}; clip or drop the update before compressing`, { index: i, value: x[i] });
    }
  }
}

interface Writer {
  bytes: Uint8Array;
  view: DataView;
  offset: number;
}

function allocate(kind: number, flags: number, block: number, d: number, k: number, bodyBytes: number): Writer {
  const bytes = new Uint8Array(HEADER_BYTES + bodyBytes);
  const view = new DataView(bytes.buffer);
  bytes[0] = MAGIC0;
  bytes[1] = MAGIC1;
  bytes[2] = VERSION;
  bytes[3] = kind;
  bytes[4] = flags;
  view.setUint16(6, block, true);
  view.setUint32(8, d, true);
  view.setUint32(12, k, true);
  return { bytes, view, offset: HEADER_BYTES };
}

function encodeDense(x: Float32Array): Uint8Array {
  const out = allocate(KIND.none, 0, 0, x.length, x.length, 4 * x.length);
  for (let i = 0; i < x.length; i++) out.view.setFloat32(HEADER_BYTES + 4 * i, x[i], true);
  return out.bytes;
}

function readFloats(view: DataView, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = view.getFloat32(HEADER_BYTES + 4 * i, true);
    if (!Number.isFinite(v)) throw corrupt(`value ${i} is not finite`);
    out[i] = v;
  }
  return out;
}

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
function quantise(x: Float32Array, rng: Rng | undefined): { scales: Float32Array; codes: Int8Array } {
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

function dequantise(scales: Float32Array, codes: Int8Array, block: number): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = codes[i] * scales[Math.floor(i / block)];
  return out;
}

function writeQuantised(out: Writer, scales: Float32Array, codes: Int8Array): void {
  for (let b = 0; b < scales.length; b++) out.view.setFloat32(out.offset + 4 * b, scales[b], true);
  out.offset += 4 * scales.length;
  out.bytes.set(new Uint8Array(codes.buffer, codes.byteOffset, codes.length), out.offset);
  out.offset += codes.length;
}

function readQuantised(bytes: Uint8Array, view: DataView, n: number, block: number): Float32Array {
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

function varintLength(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Bytes of the indices as LEB128 varints of the gaps i_j − i_(j−1) − 1 (i_(−1) = −1). */
function varintIndexBytes(indices: Uint32Array): number {
  let n = 0;
  let prev = -1;
  for (let j = 0; j < indices.length; j++) {
    n += varintLength(indices[j] - prev - 1);
    prev = indices[j];
  }
  return n;
}

function writeVarintIndices(bytes: Uint8Array, offset: number, indices: Uint32Array): void {
  let p = offset;
  let prev = -1;
  for (let j = 0; j < indices.length; j++) {
    let gap = indices[j] - prev - 1;
    prev = indices[j];
    while (gap >= 0x80) {
      bytes[p++] = (gap & 0x7f) | 0x80;
      gap >>>= 7;
    }
    bytes[p++] = gap;
  }
}

function readVarintIndices(bytes: Uint8Array, offset: number, k: number, d: number): Uint32Array {
  const out = new Uint32Array(k);
  let p = offset;
  let prev = -1;
  for (let j = 0; j < k; j++) {
    let gap = 0;
    for (let shift = 1, n = 0; ; shift *= 128, n++) {
      if (p >= bytes.length) throw corrupt(`index ${j} runs past the end of the message`);
      if (n === 5) throw corrupt(`index ${j} is longer than 5 varint bytes`);
      const b = bytes[p++];
      gap += (b & 0x7f) * shift;
      if (b < 0x80) break;
    }
    const index = prev + 1 + gap;
    if (index >= d) throw corrupt(`index ${j} (${index}) is not below d = ${d}`);
    out[j] = index;
    prev = index;
  }
  if (p !== bytes.length) throw corrupt(`${bytes.length - p} trailing bytes after the indices`);
  return out;
}

function readUint32Indices(view: DataView, offset: number, k: number, d: number): Uint32Array {
  if (view.byteLength !== offset + 4 * k) throw corrupt(`message has ${view.byteLength} bytes, the header implies ${offset + 4 * k}`);
  const out = new Uint32Array(k);
  let prev = -1;
  for (let j = 0; j < k; j++) {
    const index = view.getUint32(offset + 4 * j, true);
    if (index <= prev || index >= d) throw corrupt(`index ${j} (${index}) is not ascending and below d = ${d}`);
    out[j] = index;
    prev = index;
  }
  return out;
}

/**
 * Ascending indices of the k largest |x_i|, exactly k, ties going to the lower index. The k-th largest
 * magnitude is found in O(d) expected time by Floyd–Rivest selection (Floyd & Rivest 1975, Algorithm
 * 489: select from a random sample to narrow the range, then partition), not by sorting all d values.
 */
function selectTopK(x: Float32Array, k: number): Uint32Array {
  const d = x.length;
  const out = new Uint32Array(k);
  if (k === d) {
    for (let i = 0; i < d; i++) out[i] = i;
    return out;
  }
  if (k === 0) return out;
  const magnitudes = new Float32Array(d);
  for (let i = 0; i < d; i++) magnitudes[i] = Math.abs(x[i]);
  floydRivest(magnitudes, d - k, 0, d - 1);
  const threshold = magnitudes[d - k];
  // Everything right of d − k is ≥ threshold; those strictly above are all taken, the rest are ties.
  let ties = k;
  for (let i = d - k + 1; i < d; i++) if (magnitudes[i] > threshold) ties--;
  let n = 0;
  for (let i = 0; n < k; i++) {
    const a = Math.abs(x[i]);
    if (a > threshold) out[n++] = i;
    else if (a === threshold && ties > 0) {
      out[n++] = i;
      ties--;
    }
  }
  return out;
}

/** Rearranges a[left..right] so that a[k] is its (k − left)-th smallest, smaller ones before, larger after. */
function floydRivest(a: Float32Array, k: number, left: number, right: number): void {
  while (right > left) {
    if (right - left > 600) {
      // Recurse on a sample-sized window expected to contain the k-th element (Floyd & Rivest 1975).
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m - n / 2 < 0 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (m * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - m) * s) / n + sd));
      floydRivest(a, k, newLeft, newRight);
    }
    const t = a[k];
    let i = left;
    let j = right;
    swap(a, left, k);
    if (a[right] > t) swap(a, left, right);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while (a[i] < t) i++;
      while (a[j] > t) j--;
    }
    if (a[left] === t) swap(a, left, j);
    else {
      j++;
      swap(a, j, right);
    }
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
