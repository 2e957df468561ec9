import { z } from 'zod';
import { ClientIdSchema } from './config.js';
import { SecAggMessageRejectedError } from './errors.js';
import { KEY_BYTES, SIGNATURE_BYTES } from './keys.js';
import { CHUNK_BYTES, ELEMENT_BYTES } from './shamir.js';

/**
 * The wire format of the protocol's eleven messages (Bonawitz et al. 2017 Fig. 4; Bell et al. 2020 §3;
 * the share confirmation stage of this implementation).
 * The zod schemas below state each message's fields and give the TypeScript types; on the wire a
 * message is a compact binary layout (see LAYOUTS) parsed with explicit length and range checks.
 */

const VERSION = 3;
const HEADER_OFFSET = 8;
/** Largest body accepted (a round of 65,535 clients' survivor list fits). */
const MAX_BODY_BYTES = 1 << 23;

/** Bytes of one Shamir share of a 32-byte secret (b_u or s_u^SK): 16 field elements. */
export const SHARE_BYTES = (32 / CHUNK_BYTES) * ELEMENT_BYTES;

/** In the schemas' JSON form (logs, tools): canonical base64 of `min` to `max` bytes, decoded; the wire carries raw bytes. */
const bytes = (min: number, max = min) =>
  z.string().transform((s, ctx): Uint8Array => {
    const decoded = s.length <= Math.ceil(max / 3) * 4 ? Buffer.from(s, 'base64') : undefined;
    // Buffer.from skips characters outside the alphabet; re-encoding catches them and any non-canonical padding.
    if (!decoded || decoded.length < min || decoded.length > max || decoded.toString('base64') !== s) {
      ctx.addIssue({ code: 'custom', message: min === max ? `expected ${min} bytes in base64` : `expected ${min} to ${max} bytes in base64` });
      return z.NEVER;
    }
    return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.length);
  });
const round = z.string().regex(/^[0-9a-f]{64}$/, 'a 64-digit hex round context');
const idList = z.array(ClientIdSchema).max(65535);

const keyBundle = {
  encryptionKey: bytes(KEY_BYTES),
  maskKey: bytes(KEY_BYTES),
  selfMaskCommitment: bytes(32),
  /** The client's own random seed that picks its share holders (graph.ts). */
  holderSeed: bytes(32),
  signature: bytes(SIGNATURE_BYTES),
};

/** Why a holder blames the owner of a share: 1 the AES-GCM ciphertext does not open, 2 it opens to the wrong length. */
export const BLAME_REASONS = { 1: 'undecryptable-share', 2: 'malformed-share' } as const;
/** A blame reason's code on the wire. */
export type BlameCode = keyof typeof BLAME_REASONS;
const blameCode = z.union([z.literal(1), z.literal(2)]);

/** Message schemas by kind; the TypeScript types below come from them. */
export const MessageSchemas = {
  /** Round 0, client to server: the two X25519 public keys, a commitment to b_u and the holder seed, signed with the identity key. */
  advertiseKeys: z.object({ round, sender: ClientIdSchema, ...keyBundle }).strict(),
  /** Round 0 reply, server to client: the signed key bundles of the client's partners (its holders and who chose it) that advertised. */
  neighbourKeys: z.object({ round, keys: z.array(z.object({ id: ClientIdSchema, ...keyBundle }).strict()).max(65535) }).strict(),
  /** Round 1, client to server: one encrypted pair of shares (of b_u and of the mask key) per live holder. */
  shareKeys: z
    .object({
      round,
      sender: ClientIdSchema,
      shares: z.array(z.object({ receiver: ClientIdSchema, nonce: bytes(12), ciphertext: bytes(2 * SHARE_BYTES + 16) }).strict()).max(65535),
    })
    .strict(),
  /** Round 1 reply, server to client: the encrypted shares addressed to it. */
  forwardedShares: z
    .object({
      round,
      shares: z.array(z.object({ sender: ClientIdSchema, nonce: bytes(12), ciphertext: bytes(2 * SHARE_BYTES + 16) }).strict()).max(65535),
    })
    .strict(),
  /** Share confirmation, client to server: its signed blame of each owner whose share it could not use. */
  shareConfirmation: z
    .object({
      round,
      sender: ClientIdSchema,
      blames: z.array(z.object({ owner: ClientIdSchema, reason: blameCode, signature: bytes(SIGNATURE_BYTES) }).strict()).max(65535),
    })
    .strict(),
  /** Share confirmation reply, server to client: its partners still in, and the signed blames of it by its holders. */
  confirmedPartners: z
    .object({
      round,
      live: idList,
      blames: z.array(z.object({ blamer: ClientIdSchema, reason: blameCode, signature: bytes(SIGNATURE_BYTES) }).strict()).max(65535),
    })
    .strict(),
  /** Round 2, client to server: the masked input; `length` words follow the header. */
  maskedInput: z.object({ round, sender: ClientIdSchema, length: z.number().int().min(1).max(2 ** 28) }).strict(),
  /** Round 2 reply, server to client: the survivor set U3 of clients whose masked input arrived. */
  survivors: z.object({ round, survivors: idList }).strict(),
  /** Round 3, client to server: the client's signature of the survivor set it was shown. */
  consistencySignature: z.object({ round, sender: ClientIdSchema, signature: bytes(SIGNATURE_BYTES) }).strict(),
  /** Round 3 reply, server to client: everyone's signatures of the survivor set. */
  consistencyProof: z.object({ round, signatures: z.array(z.object({ id: ClientIdSchema, signature: bytes(SIGNATURE_BYTES) }).strict()).max(65535) }).strict(),
  /** Round 4, client to server: shares of b_v for surviving v and of v's mask key for dropped v. */
  unmaskShares: z
    .object({
      round,
      sender: ClientIdSchema,
      selfMaskShares: z.array(z.object({ owner: ClientIdSchema, share: bytes(SHARE_BYTES) }).strict()).max(65535),
      keyShares: z.array(z.object({ owner: ClientIdSchema, share: bytes(SHARE_BYTES) }).strict()).max(65535),
    })
    .strict(),
} as const;

/** The message kinds, in protocol order. */
export type MessageKind = keyof typeof MessageSchemas;
const KINDS = Object.keys(MessageSchemas) as MessageKind[];

/** A parsed message of one kind. */
export type Message<K extends MessageKind> = z.output<(typeof MessageSchemas)[K]>;
/** Masked input message: header plus the vector. */
export interface MaskedInputMessage {
  header: Message<'maskedInput'>;
  vector: Uint32Array;
}

/*
 * Binary layout (version 3). Envelope: byte 0 version, byte 1 kind, bytes 2-3 zero, bytes 4-7 the body's
 * length (uint32 LE), the body, zero padding to a multiple of 4 bytes, then for a masked input only the
 * vector as uint32 little-endian words. The body is the message's fields in schema order:
 * - round: the 32 raw bytes of the round context (64 hex digits in the parsed message);
 * - a client id: one length byte (1 to 64), then that many bytes of [A-Za-z0-9._:-];
 * - a byte field: exactly its fixed length, no prefix;
 * - a list: uint16 LE count, then the records, each its fields in order;
 * - an integer: uint32 LE.
 * Every field is length- and range-checked as it is read, and the body must be consumed exactly:
 * the same rules the zod schemas state, without JSON, base64 or a generic validator on the hot path.
 */

type Field =
  | { name: string; type: 'round' }
  | { name: string; type: 'id' }
  | { name: string; type: 'bytes'; length: number }
  | { name: string; type: 'u32'; min: number; max: number }
  | { name: string; type: 'ids' }
  | { name: string; type: 'list'; fields: Field[] };

const roundField: Field = { name: 'round', type: 'round' };
const id = (name: string): Field => ({ name, type: 'id' });
const fixed = (name: string, length: number): Field => ({ name, type: 'bytes', length });
const list = (name: string, ...fields: Field[]): Field => ({ name, type: 'list', fields });
const bundleFields = [fixed('encryptionKey', KEY_BYTES), fixed('maskKey', KEY_BYTES), fixed('selfMaskCommitment', 32), fixed('holderSeed', 32), fixed('signature', SIGNATURE_BYTES)];
const blameReason: Field = { name: 'reason', type: 'u32', min: 1, max: 2 };
const SEALED_BYTES = 2 * SHARE_BYTES + 16;

const LAYOUTS: Record<MessageKind, Field[]> = {
  advertiseKeys: [roundField, id('sender'), ...bundleFields],
  neighbourKeys: [roundField, list('keys', id('id'), ...bundleFields)],
  shareKeys: [roundField, id('sender'), list('shares', id('receiver'), fixed('nonce', 12), fixed('ciphertext', SEALED_BYTES))],
  forwardedShares: [roundField, list('shares', id('sender'), fixed('nonce', 12), fixed('ciphertext', SEALED_BYTES))],
  shareConfirmation: [roundField, id('sender'), list('blames', id('owner'), blameReason, fixed('signature', SIGNATURE_BYTES))],
  confirmedPartners: [roundField, { name: 'live', type: 'ids' }, list('blames', id('blamer'), blameReason, fixed('signature', SIGNATURE_BYTES))],
  maskedInput: [roundField, id('sender'), { name: 'length', type: 'u32', min: 1, max: 2 ** 28 }],
  survivors: [roundField, { name: 'survivors', type: 'ids' }],
  consistencySignature: [roundField, id('sender'), fixed('signature', SIGNATURE_BYTES)],
  consistencyProof: [roundField, list('signatures', id('id'), fixed('signature', SIGNATURE_BYTES))],
  unmaskShares: [roundField, id('sender'), list('selfMaskShares', id('owner'), fixed('share', SHARE_BYTES)), list('keyShares', id('owner'), fixed('share', SHARE_BYTES))],
};

const MAX_LIST = 65535;
const MAX_ID = 64;

/** Which bytes a client id may hold: [A-Za-z0-9._:-] (ClientIdSchema). */
const ID_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-') ID_BYTE[c.charCodeAt(0)] = 1;

function reject(reason: string, details?: unknown): never {
  throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `malformed secure-aggregation message: ${reason}`, details);
}

function badValue(what: string, field: string): never {
  reject(`field '${field}' of the message: ${what}`);
}

/** Bytes of `value` laid out by `fields`, checking what the layout can carry. */
function bodySize(fields: readonly Field[], value: Record<string, unknown>): number {
  let size = 0;
  for (const field of fields) {
    const v = value[field.name];
    switch (field.type) {
      case 'round':
        size += 32;
        break;
      case 'id':
        size += 1 + Buffer.byteLength(v as string, 'latin1');
        break;
      case 'bytes':
        size += field.length;
        break;
      case 'u32':
        size += 4;
        break;
      case 'ids':
        size += 2;
        for (const x of v as string[]) size += 1 + (x as string).length;
        break;
      case 'list':
        size += 2;
        for (const record of v as Record<string, unknown>[]) size += bodySize(field.fields, record);
        break;
    }
  }
  return size;
}

/** The last round context written, as bytes: a party writes the same one for every message of a round. */
let lastRound: { hex: string; bytes: Uint8Array } | undefined;

function roundBytes(hex: string): Uint8Array {
  if (lastRound?.hex === hex) return lastRound.bytes;
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) badValue('a 64-digit hex round context', 'round');
  lastRound = { hex, bytes: new Uint8Array(Buffer.from(hex, 'hex')) };
  return lastRound.bytes;
}

class Writer {
  offset: number;
  constructor(
    readonly out: Uint8Array,
    readonly view: DataView,
    start: number,
  ) {
    this.offset = start;
  }

  id(value: string, field: string): void {
    if (typeof value !== 'string' || value.length < 1 || value.length > MAX_ID) badValue('a client id of 1 to 64 characters', field);
    this.out[this.offset++] = value.length;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c > 255 || ID_BYTE[c] !== 1) badValue('letters, digits and . _ : - (1 to 64 characters)', field);
      this.out[this.offset++] = c;
    }
  }

  count(n: number, field: string): void {
    if (n > MAX_LIST) badValue(`at most ${MAX_LIST} entries`, field);
    this.view.setUint16(this.offset, n, true);
    this.offset += 2;
  }

  write(fields: readonly Field[], value: Record<string, unknown>): void {
    for (const field of fields) {
      const v = value[field.name];
      switch (field.type) {
        case 'round':
          this.out.set(roundBytes(v as string), this.offset);
          this.offset += 32;
          break;
        case 'id':
          this.id(v as string, field.name);
          break;
        case 'bytes': {
          const bytes = v as Uint8Array;
          if (!(bytes instanceof Uint8Array) || bytes.length !== field.length) badValue(`expected ${field.length} bytes`, field.name);
          this.out.set(bytes, this.offset);
          this.offset += field.length;
          break;
        }
        case 'u32': {
          const n = v as number;
          if (!Number.isInteger(n) || n < field.min || n > field.max) badValue(`an integer from ${field.min} to ${field.max}`, field.name);
          this.view.setUint32(this.offset, n, true);
          this.offset += 4;
          break;
        }
        case 'ids': {
          const ids = v as string[];
          this.count(ids.length, field.name);
          for (const x of ids) this.id(x, field.name);
          break;
        }
        case 'list': {
          const records = v as Record<string, unknown>[];
          this.count(records.length, field.name);
          for (const record of records) this.write(field.fields, record);
          break;
        }
      }
    }
  }
}

class Reader {
  offset: number;
  constructor(
    readonly data: Uint8Array,
    readonly view: DataView,
    start: number,
    readonly end: number,
  ) {
    this.offset = start;
  }

  need(n: number, field: string): void {
    if (this.offset + n > this.end) reject(`the body ends inside field '${field}'`);
  }

  id(field: string): string {
    this.need(1, field);
    const length = this.data[this.offset++];
    if (length < 1 || length > MAX_ID) badValue('a client id of 1 to 64 characters', field);
    this.need(length, field);
    let s = '';
    for (let i = 0; i < length; i++) {
      const c = this.data[this.offset + i];
      if (ID_BYTE[c] !== 1) badValue('letters, digits and . _ : - (1 to 64 characters)', field);
      s += String.fromCharCode(c);
    }
    this.offset += length;
    return s;
  }

  count(field: string): number {
    this.need(2, field);
    const n = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return n;
  }

  read(fields: readonly Field[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const field of fields) {
      switch (field.type) {
        case 'round':
          this.need(32, field.name);
          out[field.name] = Buffer.from(this.data.buffer, this.data.byteOffset + this.offset, 32).toString('hex');
          this.offset += 32;
          break;
        case 'id':
          out[field.name] = this.id(field.name);
          break;
        case 'bytes':
          this.need(field.length, field.name);
          // A copy: the receiver may keep or wipe it without touching the caller's buffer.
          out[field.name] = this.data.slice(this.offset, this.offset + field.length);
          this.offset += field.length;
          break;
        case 'u32': {
          this.need(4, field.name);
          const n = this.view.getUint32(this.offset, true);
          this.offset += 4;
          if (n < field.min || n > field.max) badValue(`an integer from ${field.min} to ${field.max}, got ${n}`, field.name);
          out[field.name] = n;
          break;
        }
        case 'ids': {
          const n = this.count(field.name);
          const ids: string[] = new Array<string>(n);
          for (let i = 0; i < n; i++) ids[i] = this.id(field.name);
          out[field.name] = ids;
          break;
        }
        case 'list': {
          const n = this.count(field.name);
          // Every record takes at least one byte per field: a count beyond what is left is refused before allocating.
          if (n * field.fields.length > this.end - this.offset) reject(`field '${field.name}' announces ${n} entries, more than the body holds`);
          const records: Record<string, unknown>[] = new Array<Record<string, unknown>>(n);
          for (let i = 0; i < n; i++) records[i] = this.read(field.fields);
          out[field.name] = records;
          break;
        }
      }
    }
    return out;
  }
}

function envelope(kind: MessageKind, message: object, payload?: Uint32Array, payloadWords = payload ? payload.length : 0): Uint8Array {
  const fields = LAYOUTS[kind];
  if (message === null || typeof message !== 'object') badValue('an object', kind);
  const record = message as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!fields.some((f) => f.name === key)) badValue(`unknown field '${key}'`, kind);
  const size = bodySize(fields, record);
  const payloadOffset = HEADER_OFFSET + Math.ceil(size / 4) * 4;
  const out = new Uint8Array(payloadOffset + payloadWords * 4);
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  out[1] = KINDS.indexOf(kind);
  view.setUint32(4, size, true);
  const writer = new Writer(out, view, HEADER_OFFSET);
  writer.write(fields, record);
  if (writer.offset !== HEADER_OFFSET + size) badValue('a client id outside [A-Za-z0-9._:-]', kind);
  if (payload) out.set(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength), payloadOffset);
  return out;
}

/** Serialises a message of `kind`. */
export function encodeMessage<K extends Exclude<MessageKind, 'maskedInput'>>(kind: K, message: Message<K>): Uint8Array {
  return envelope(kind, message);
}

/**
 * A masked-input message with its vector still to be written: `vector` is a view of `bytes`, so a
 * client can quantise and mask in place and send `bytes` without another copy of the vector.
 */
export function maskedInputEnvelope(header: Message<'maskedInput'>): { bytes: Uint8Array; vector: Uint32Array } {
  const bytes = envelope('maskedInput', header, new Uint32Array(0), header.length);
  return { bytes, vector: new Uint32Array(bytes.buffer, bytes.byteOffset + bytes.length - header.length * 4, header.length) };
}

/** One `consistencyProof` entry (id, signature) laid out once, for a server that sends it to many clients. */
export function encodeSignatureEntry(id: string, signature: Uint8Array): Uint8Array {
  const fields = (LAYOUTS.consistencyProof[1] as Extract<Field, { type: 'list' }>).fields;
  const record = { id, signature };
  const out = new Uint8Array(bodySize(fields, record));
  const writer = new Writer(out, new DataView(out.buffer), 0);
  writer.write(fields, record);
  return out;
}

/** A `consistencyProof` message from entries made by encodeSignatureEntry: the same bytes as encodeMessage gives. */
export function encodeConsistencyProof(round: string, entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length > MAX_LIST) badValue(`at most ${MAX_LIST} entries`, 'signatures');
  let size = 32 + 2;
  for (const entry of entries) size += entry.length;
  const out = new Uint8Array(HEADER_OFFSET + Math.ceil(size / 4) * 4);
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  out[1] = KINDS.indexOf('consistencyProof');
  view.setUint32(4, size, true);
  const writer = new Writer(out, view, HEADER_OFFSET);
  writer.write([roundField], { round });
  view.setUint16(writer.offset, entries.length, true);
  let offset = writer.offset + 2;
  for (const entry of entries) {
    out.set(entry, offset);
    offset += entry.length;
  }
  return out;
}

/** Serialises a masked input: header and vector (uint32 LE words). */
export function encodeMaskedInput(header: Message<'maskedInput'>, vector: Uint32Array): Uint8Array {
  return envelope('maskedInput', header, vector);
}

function readBody<K extends MessageKind>(data: Uint8Array, kind: K): { message: Message<K>; payloadOffset: number } {
  if (!(data instanceof Uint8Array) || data.length < HEADER_OFFSET) reject(`expected at least ${HEADER_OFFSET} bytes`);
  if (data[0] !== VERSION) reject(`unknown version ${data[0]}, expected ${VERSION}`);
  const got = KINDS[data[1]];
  if (got !== kind) reject(`expected a '${kind}' message, got '${got ?? `kind ${data[1]}`}'`);
  if (data[2] !== 0 || data[3] !== 0) reject('reserved bytes 2-3 are not zero');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const length = view.getUint32(4, true);
  if (length > MAX_BODY_BYTES || HEADER_OFFSET + length > data.length) reject(`body length ${length} does not fit in ${data.length} bytes`);
  const reader = new Reader(data, view, HEADER_OFFSET, HEADER_OFFSET + length);
  const message = reader.read(LAYOUTS[kind]) as Message<K>;
  if (reader.offset !== HEADER_OFFSET + length) reject(`${HEADER_OFFSET + length - reader.offset} unexpected bytes at the end of the '${kind}' body`);
  const payloadOffset = HEADER_OFFSET + Math.ceil(length / 4) * 4;
  if (payloadOffset > data.length) reject(`the padding after the body is missing`);
  for (let i = HEADER_OFFSET + length; i < payloadOffset; i++) if (data[i] !== 0) reject('the padding after the body is not zero');
  return { message, payloadOffset };
}

/** Parses and validates a message of `kind`; anything else is refused with SECAGG_BAD_MESSAGE. */
export function decodeMessage<K extends Exclude<MessageKind, 'maskedInput'>>(kind: K, data: Uint8Array): Message<K> {
  const { message, payloadOffset } = readBody(data, kind);
  if (payloadOffset !== data.length) reject(`${data.length - payloadOffset} unexpected bytes after the body`);
  return message;
}

/** Parses a masked input; the vector is a view of `data` when aligned, else a copy. */
export function decodeMaskedInput(data: Uint8Array): MaskedInputMessage {
  const { message: header, payloadOffset } = readBody(data, 'maskedInput');
  if (data.length - payloadOffset !== header.length * 4) {
    reject(`the header announces ${header.length} words but ${(data.length - payloadOffset) / 4} follow`, { sender: header.sender });
  }
  const start = data.byteOffset + payloadOffset;
  const vector =
    start % 4 === 0 ? new Uint32Array(data.buffer, start, header.length) : new Uint32Array(data.slice(payloadOffset).buffer);
  return { header, vector };
}
