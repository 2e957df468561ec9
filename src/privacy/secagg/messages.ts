import { z } from 'zod';
import { formatZodIssue } from '../../core/index.js';
import { ClientIdSchema } from './config.js';
import { SecAggMessageRejectedError } from './errors.js';
import { KEY_BYTES, SIGNATURE_BYTES } from './keys.js';
import { CHUNK_BYTES, ELEMENT_BYTES } from './shamir.js';

/**
 * The wire format of the protocol's nine messages (Bonawitz et al. 2017 Fig. 4; Bell et al. 2020 §3).
 * Envelope: byte 0 version (1), byte 1 kind, bytes 2-3 zero, bytes 4-7 the JSON header's length
 * (uint32 LE), the UTF-8 JSON header, zero padding to a multiple of 4 bytes, then for a masked input
 * only the vector as uint32 little-endian words. Every header is parsed by its zod schema before use.
 */

const VERSION = 1;
const HEADER_OFFSET = 8;
/** Largest JSON header accepted (a round of 65,535 clients' survivor list fits). */
const MAX_HEADER_BYTES = 1 << 22;

/** Bytes of one Shamir share of a 32-byte secret (b_u or s_u^SK): 16 field elements. */
export const SHARE_BYTES = (32 / CHUNK_BYTES) * ELEMENT_BYTES;

/** Canonical base64 of `min` to `max` bytes, decoded: one decode and one re-encode, no regular expression. */
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
  signature: bytes(SIGNATURE_BYTES),
};

/** Message schemas by kind; the TypeScript types below come from them. */
export const MessageSchemas = {
  /** Round 0, client to server: the two X25519 public keys, a commitment to b_u, signed with the identity key. */
  advertiseKeys: z.object({ round, sender: ClientIdSchema, ...keyBundle }).strict(),
  /** Round 0 reply, server to client: the signed key bundles of the client's neighbours that advertised. */
  neighbourKeys: z.object({ round, keys: z.array(z.object({ id: ClientIdSchema, ...keyBundle }).strict()).max(65535) }).strict(),
  /** Round 1, client to server: one encrypted pair of shares (of b_u and of the mask key) per neighbour. */
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

function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  return value;
}

function envelope(kind: MessageKind, header: unknown, payload?: Uint32Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(toJson(header)), 'utf8');
  const payloadOffset = HEADER_OFFSET + Math.ceil(json.length / 4) * 4;
  const out = new Uint8Array(payloadOffset + (payload ? payload.byteLength : 0));
  out[0] = VERSION;
  out[1] = KINDS.indexOf(kind);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, HEADER_OFFSET);
  if (payload) out.set(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength), payloadOffset);
  return out;
}

/** Serialises a message of `kind`. */
export function encodeMessage<K extends Exclude<MessageKind, 'maskedInput'>>(kind: K, message: Message<K>): Uint8Array {
  return envelope(kind, message);
}

/** Serialises a masked input: header and vector (uint32 LE words). */
export function encodeMaskedInput(header: Message<'maskedInput'>, vector: Uint32Array): Uint8Array {
  return envelope('maskedInput', header, vector);
}

function reject(reason: string, details?: unknown): never {
  throw new SecAggMessageRejectedError('SECAGG_BAD_MESSAGE', `malformed secure-aggregation message: ${reason}`, details);
}

function readHeader(data: Uint8Array, kind: MessageKind): { header: unknown; payloadOffset: number } {
  if (!(data instanceof Uint8Array) || data.length < HEADER_OFFSET) reject(`expected at least ${HEADER_OFFSET} bytes`);
  if (data[0] !== VERSION) reject(`unknown version ${data[0]}, expected ${VERSION}`);
  const got = KINDS[data[1]];
  if (got !== kind) reject(`expected a '${kind}' message, got '${got ?? `kind ${data[1]}`}'`);
  const length = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(4, true);
  if (length > MAX_HEADER_BYTES || HEADER_OFFSET + length > data.length) reject(`header length ${length} does not fit in ${data.length} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(data.buffer, data.byteOffset + HEADER_OFFSET, length).toString('utf8'));
  } catch {
    reject('the header is not JSON');
  }
  return { header, payloadOffset: HEADER_OFFSET + Math.ceil(length / 4) * 4 };
}

function validate<K extends MessageKind>(kind: K, header: unknown): Message<K> {
  const schema = MessageSchemas[kind] as unknown as z.ZodType<Message<K>, z.ZodTypeDef, unknown>;
  const result = schema.safeParse(header);
  if (!result.success) reject(formatZodIssue(result.error.issues[0], { what: `'${kind}' message`, input: header, schema }));
  return result.data;
}

/** Parses and validates a message of `kind`; anything else is refused with SECAGG_BAD_MESSAGE. */
export function decodeMessage<K extends Exclude<MessageKind, 'maskedInput'>>(kind: K, data: Uint8Array): Message<K> {
  const { header, payloadOffset } = readHeader(data, kind);
  if (payloadOffset !== data.length) reject(`${data.length - payloadOffset} unexpected bytes after the header`);
  return validate(kind, header);
}

/** Parses a masked input; the vector is a view of `data` when aligned, else a copy. */
export function decodeMaskedInput(data: Uint8Array): MaskedInputMessage {
  const { header: raw, payloadOffset } = readHeader(data, 'maskedInput');
  const header = validate('maskedInput', raw);
  if (data.length - payloadOffset !== header.length * 4) {
    reject(`the header announces ${header.length} words but ${(data.length - payloadOffset) / 4} follow`, { sender: header.sender });
  }
  const start = data.byteOffset + payloadOffset;
  const vector =
    start % 4 === 0 ? new Uint32Array(data.buffer, start, header.length) : new Uint32Array(data.slice(payloadOffset).buffer);
  return { header, vector };
}
