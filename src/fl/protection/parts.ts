import { UpdateRejectedError } from '../round-errors.js';

/** Most parts a protocol message may carry (one per participant of a large round, twice over). */
const MAX_PARTS = 1 << 16;

/**
 * A protocol message body as a list of byte strings: a u32 count, then each part as a u32 length
 * and its bytes (little-endian). Protections send keys, signatures and ciphertexts this way.
 */
export function packParts(parts: readonly Uint8Array[]): Uint8Array {
  const total = 4 + parts.reduce((sum, part) => sum + 4 + part.byteLength, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, parts.length, true);
  let at = 4;
  for (const part of parts) {
    view.setUint32(at, part.byteLength, true);
    out.set(part, at + 4);
    at += 4 + part.byteLength;
  }
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
