import { InvalidInputError } from '../../core/errors.js';

// Wire format, version 1, little-endian. Header (16 bytes):
//   0 'C' 'N' magic · 2 version · 3 kind · 4 flags (bit 0: indices as uint32, else delta varints)
//   5 reserved (0) · 6 u16 quantisation block size (0 when not quantised) · 8 u32 d · 12 u32 k
// Body: none: d × f32 | q8: ⌈d/B⌉ × f32 scales, d × i8 | topk: k × f32 values, indices
//       | topk-q8: ⌈k/B⌉ × f32 scales, k × i8, indices. Indices are ascending.
export const MAGIC0 = 0x43;
export const MAGIC1 = 0x4e;
export const VERSION = 1;
export const HEADER_BYTES = 16;
export const FLAG_UINT32_INDICES = 1;
export const KIND = { none: 0, topk: 1, q8: 2, 'topk-q8': 3 } as const;

/** Largest d a message may declare (1 GiB dense), so a 16-byte header cannot ask for more memory. */
export const MAX_DIMENSION = 2 ** 28;

/** Size in bytes of the same update sent as dense float32, for compression ratios in reports. */
export function denseBytes(d: number): number {
  return 4 * d;
}

/** The error for a malformed message: the coordinator refuses it and the client may resend. */
export function corrupt(message: string): InvalidInputError {
  return new InvalidInputError('COMPRESSION_CORRUPT', `compressed update is corrupt: ${message}; ask the client to resend it`);
}

/** A message being written: its bytes, a view on them, and where the body continues. */
export interface Writer {
  bytes: Uint8Array;
  view: DataView;
  offset: number;
}

/** A message of `bodyBytes` after a filled-in header, positioned at the body. */
export function allocate(kind: number, flags: number, block: number, d: number, k: number, bodyBytes: number): Writer {
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

/** A dense float32 message, for compression `none`. */
export function encodeDense(x: Float32Array): Uint8Array {
  const out = allocate(KIND.none, 0, 0, x.length, x.length, 4 * x.length);
  for (let i = 0; i < x.length; i++) out.view.setFloat32(HEADER_BYTES + 4 * i, x[i], true);
  return out.bytes;
}

/** The n float32 values right after the header; a non-finite one makes the message corrupt. */
export function readFloats(view: DataView, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = view.getFloat32(HEADER_BYTES + 4 * i, true);
    if (!Number.isFinite(v)) throw corrupt(`value ${i} is not finite`);
    out[i] = v;
  }
  return out;
}
