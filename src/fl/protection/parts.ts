import { concatBytes } from '../../core/index.js';
import { UpdateRejectedError } from '../round-errors.js';

/** Most parts a protocol message may carry (one per participant of a large round, twice over). */
const MAX_PARTS = 1 << 16;

/**
 * A protocol message body as a list of byte strings: a u32 count, then each part as a u32 length
 * and its bytes (little-endian). Protections send keys, signatures and ciphertexts this way.
 */
export function packParts(parts: readonly Uint8Array[]): Uint8Array {
  return concatBytes(packedParts(parts));
}

/** Parts at least this large are not copied by `packedParts`. */
const REFERENCED_PART_BYTES = 64 * 1024;

/**
 * The bytes of `packParts` as consecutive chunks, for a message that is sent rather than kept: a large
 * part (a ciphertext of several MB) is a chunk of its own, written from where it lies instead of being
 * copied into fresh memory for each message; the framing and small parts between them are joined.
 */
export function packedParts(parts: readonly Uint8Array[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let pending: Uint8Array[] = [u32(parts.length)];
  for (const part of parts) {
    pending.push(u32(part.byteLength));
    if (part.byteLength < REFERENCED_PART_BYTES) {
      pending.push(part);
      continue;
    }
    chunks.push(concatBytes(pending), part);
    pending = [];
  }
  if (pending.length > 0) chunks.push(concatBytes(pending));
  return chunks;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

/** Parses a body written by `packParts`, checking every length; throws PROTOCOL_PARTS_MALFORMED naming `what` otherwise. */
export function unpackParts(body: Uint8Array, what: string, expected?: { min?: number; max?: number }): Uint8Array[] {
  const malformed = (why: string): UpdateRejectedError => new UpdateRejectedError('PROTOCOL_PARTS_MALFORMED', `the ${what} message is malformed: ${why}`);
  if (body.byteLength < 4) throw malformed('shorter than its part count');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const count = view.getUint32(0, true);
  const min = expected?.min ?? 0;
  const max = Math.min(expected?.max ?? MAX_PARTS, MAX_PARTS);
  if (count < min || count > max) throw malformed(`it has ${count} parts, expected ${min === max ? min : `${min} to ${max}`}`);
  const parts: Uint8Array[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 4 > body.byteLength) throw malformed(`part ${i + 1} has no length`);
    const length = view.getUint32(at, true);
    if (at + 4 + length > body.byteLength) throw malformed(`part ${i + 1} runs past the end`);
    parts.push(body.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (at !== body.byteLength) throw malformed(`${body.byteLength - at} bytes follow the last part`);
  return parts;
}

/** A part as UTF-8 text (participant ids, JSON). */
export function textPart(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

/** A part read as UTF-8 text. */
export function partText(part: Uint8Array): string {
  return Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('utf8');
}
