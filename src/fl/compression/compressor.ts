import { z } from 'zod';
import { parseWithSchema } from '../../core/config.js';
import { InvalidInputError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import { Q8_BLOCK, dequantise, quantise, readQuantised, writeQuantised } from './q8.js';
import { readUint32Indices, readVarintIndices, selectTopK, topKCount, varintIndexBytes, writeVarintIndices } from './topk.js';
import { FLAG_UINT32_INDICES, HEADER_BYTES, KIND, MAGIC0, MAGIC1, MAX_DIMENSION, VERSION, allocate, corrupt, encodeDense, readFloats, type Writer } from './wire-format.js';

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

function checkFinite(x: Float32Array, what: string): void {
  if (x.length > MAX_DIMENSION) throw new InvalidInputError('COMPRESSION_INPUT_INVALID', `${what} has ${x.length} values, more than ${MAX_DIMENSION}`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      throw new InvalidInputError('COMPRESSION_INPUT_INVALID', `${what} has a non-finite value at index ${i}; clip or drop the update before compressing`, { index: i, value: x[i] });
    }
  }
}

