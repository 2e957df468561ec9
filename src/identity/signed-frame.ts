import { randomBytes } from 'node:crypto';
import { InvalidInputError } from '../core/index.js';
import { AuthError } from './errors.js';
import { NONCE_BYTES, SIGNATURE_BYTES, signEnvelope, type MessageSigner, type MessageVerifier } from './signed-message.js';
import { PARTICIPANT_ID_PATTERN } from './startup-kit.js';

/*
 * A signed WebSocket binary frame, all integers big-endian:
 *
 *   magic "CNSF" | version u8 = 2 | u8 len, sender | u8 len, kind | nonce (16) | timestamp u64 (ms)
 *   | u32 len, payload | u32 body offset in the payload | payload | Ed25519 signature (64)
 *
 * The payload is a message's head, then its body (a model, a ciphertext); the signature covers the
 * two digests apart (signed-message.ts), so the receiver hashes the body once and keeps that digest.
 * Every length is checked against the bytes actually present before anything is read, and the frame
 * must end exactly after the signature, so no length field can make the parser read or allocate
 * beyond the frame it was given.
 */

const MAGIC = Buffer.from('CNSF', 'latin1');
const VERSION = 2;
/** Frame kinds: a lowercase letter, then lowercase letters, digits and . _ / - (at most 128 characters). */
export const FRAME_KIND_PATTERN = /^[a-z][a-z0-9._/-]{0,127}$/;

/** A verified frame. `payload` is a view into the bytes given to `openSignedFrame`, not a copy. */
export interface OpenedFrame {
  sender: string;
  kind: string;
  payload: Uint8Array;
  /** Where the body starts in the payload. */
  bodyAt: number;
  /** sha256 of the body (`payload` from `bodyAt`), hex, as computed to check the signature. */
  bodySha256: string;
  nonce: Uint8Array;
  timestamp: number;
}

/** Where a frame of `kind` from `sender` carries its payload: the bytes before it. */
export function signedFramePayloadOffset(sender: string, kind: string): number {
  return MAGIC.length + 1 + 1 + Buffer.byteLength(sender, 'latin1') + 1 + Buffer.byteLength(kind, 'latin1') + NONCE_BYTES + 8 + 4 + 4;
}

/**
 * Signs `payload` as a frame of `kind` from the signer, with a fresh random nonce and the current time. Given as
 * consecutive parts, the last is the body (a message's model-sized body after its head) and `bodySha256`, when given,
 * its digest (the signer computed it for the message's header); given whole, it is all head. The payload is copied
 * once, into the frame, and signed where it lies there.
 */
export function encodeSignedFrame(signer: MessageSigner, kind: string, payload: Uint8Array | readonly Uint8Array[], bodySha256?: Uint8Array): Uint8Array {
  if (!FRAME_KIND_PATTERN.test(kind)) {
    throw new InvalidInputError('MESSAGE_KIND_INVALID', `frame kind '${kind}' is not allowed; use a lowercase letter, then lowercase letters, digits and . _ / - (at most 128)`, { kind });
  }
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  const payloadLength = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const bodyAt = payload instanceof Uint8Array || parts.length === 0 ? payloadLength : payloadLength - parts[parts.length - 1].byteLength;
  const sender = Buffer.from(signer.participantId, 'latin1');
  const kindBytes = Buffer.from(kind, 'latin1');
  // Every byte is written below; not from the shared pool, so a model-sized frame owns its memory.
  const out = Buffer.allocUnsafeSlow(MAGIC.length + 1 + 1 + sender.length + 1 + kindBytes.length + NONCE_BYTES + 8 + 4 + 4 + payloadLength + SIGNATURE_BYTES);
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const timestamp = Date.now();
  let at = MAGIC.copy(out, 0);
  at = out.writeUInt8(VERSION, at);
  at = out.writeUInt8(sender.length, at);
  at += sender.copy(out, at);
  at = out.writeUInt8(kindBytes.length, at);
  at += kindBytes.copy(out, at);
  out.set(nonce, at);
  at += NONCE_BYTES;
  at = out.writeBigUInt64BE(BigInt(timestamp), at);
  at = out.writeUInt32BE(payloadLength, at);
  at = out.writeUInt32BE(bodyAt, at);
  const payloadAt = at;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  const signature = signEnvelope(signer, { transport: 'frame', sender: signer.participantId, kind, nonce, timestamp, payload: out.subarray(payloadAt, at), bodyAt }, bodySha256);
  out.set(signature, at);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** A frame of another version than this side reads (MESSAGE_MALFORMED); a server closes the connection naming both. */
export class FrameVersionError extends AuthError {
  /** The version this side reads. */
  readonly own = VERSION;

  constructor(
    /** The version the peer's frame carries. */
    readonly peer: number,
  ) {
    super('MESSAGE_MALFORMED', `the frame is a signed frame of version ${peer}; this side reads version ${VERSION}: run the same Cipher Nexus release on both sides`, { peer, own: VERSION });
  }
}

function malformed(reason: string): AuthError {
  return new AuthError('MESSAGE_MALFORMED', `the frame is not a signed Cipher Nexus message: ${reason}; send frames made by encodeSignedFrame`, { reason });
}

/** Reads a frame's fields with bounds checks; throws MESSAGE_MALFORMED on anything but a well-formed frame. */
class FrameReader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  take(length: number, what: string): Uint8Array {
    if (length > this.bytes.length - this.at) throw malformed(`${what} needs ${length} bytes, only ${this.bytes.length - this.at} remain`);
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  view(length: number, what: string): DataView {
    const bytes = this.take(length, what);
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  text(what: string, pattern: RegExp): string {
    const length = this.view(1, `${what} length`).getUint8(0);
    const text = Buffer.from(this.take(length, what)).toString('latin1');
    if (!pattern.test(text)) throw malformed(`${what} '${text.slice(0, 64)}' is not allowed`);
    return text;
  }

  get remaining(): number {
    return this.bytes.length - this.at;
  }
}

/** Parses and verifies a signed frame; throws only AuthError (MESSAGE_MALFORMED, AUTH_*), whatever the bytes. */
export function openSignedFrame(bytes: Uint8Array, verifier: MessageVerifier, now: number = Date.now()): OpenedFrame {
  const reader = new FrameReader(bytes);
  if (!Buffer.from(reader.take(MAGIC.length, 'magic')).equals(MAGIC)) throw malformed('it does not start with CNSF');
  const version = reader.view(1, 'version').getUint8(0);
  if (version !== VERSION) throw new FrameVersionError(version);
  const sender = reader.text('sender', PARTICIPANT_ID_PATTERN);
  const kind = reader.text('kind', FRAME_KIND_PATTERN);
  const nonce = reader.take(NONCE_BYTES, 'nonce');
  const stamp = reader.view(8, 'timestamp').getBigUint64(0);
  if (stamp > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('the timestamp is out of range');
  const timestamp = Number(stamp);
  const length = reader.view(4, 'payload length').getUint32(0);
  const bodyAt = reader.view(4, 'body offset').getUint32(0);
  const present = reader.remaining - SIGNATURE_BYTES;
  if (present < 0) throw malformed('it ends before its signature');
  if (length !== present) throw malformed(`the payload length says ${length} bytes but ${present} precede the signature`);
  if (bodyAt > length) throw malformed(`the body offset ${bodyAt} lies beyond the ${length}-byte payload`);
  const payload = reader.take(length, 'payload');
  const signature = reader.take(SIGNATURE_BYTES, 'signature');
  const body = verifier.verify({ transport: 'frame', sender, kind, nonce, timestamp, payload, bodyAt, signature }, now);
  return { sender, kind, payload, bodyAt, bodySha256: body.toString('hex'), nonce, timestamp };
}
