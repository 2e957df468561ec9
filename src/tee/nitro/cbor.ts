import { decode, type DecodeOptions } from 'cbor2';

/**
 * CBOR as Nitro writes it, read strictly (RFC 8949 §5.2 "strict mode"): definite lengths, no
 * duplicate keys, no floats, bignums, undefined or other simple values, and tags left uninterpreted
 * so that a tagged value is never silently turned into a Date or a RegExp. Maps always decode as
 * `Map` so integer and text keys are not mixed up.
 */
const STRICT: DecodeOptions = {
  preferMap: true,
  rejectDuplicateKeys: true,
  rejectStreaming: true,
  ignoreGlobalTags: true,
  rejectSimple: true,
  rejectUndefined: true,
  rejectFloats: true,
  rejectBigInts: true,
  // COSE_Sign1 and the attestation document nest three levels at most (document → pcrs → bstr).
  maxDepth: 4,
};

/** The outcome of reading untrusted bytes: the value, or what was wrong with them. */
export type Read<T> = { ok: true; value: T } | { ok: false; detail: string };

/** Decodes one CBOR data item filling all of `bytes`, strictly; the decoder's complaint otherwise. */
export function readCbor(bytes: Uint8Array): Read<unknown> {
  if (bytes.length === 0) return { ok: false, detail: 'no bytes' };
  try {
    return { ok: true, value: decode(bytes, STRICT) };
  } catch (error) {
    // cbor2 signals every malformation by throwing; for untrusted input that is an answer, not a fault.
    return { ok: false, detail: `not well-formed CBOR: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** A byte string as a plain `Uint8Array` view (the decoder may hand out `Buffer`s, which cbor2 would re-encode as objects). */
export function plainBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** Lower-case hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Names a decoded CBOR value's kind for a refusal's detail. */
export function describe(value: unknown): string {
  if (value === undefined) return 'absent';
  if (value === null) return 'null';
  if (value instanceof Map) return 'a map';
  if (value instanceof Uint8Array) return `a ${value.length}-byte string`;
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'an array' : 'a tagged item';
}

/** A refusal of untrusted bytes, saying what was wrong. */
export function fail(detail: string): { ok: false; detail: string } {
  return { ok: false, detail };
}
