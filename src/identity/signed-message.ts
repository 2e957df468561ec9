import { createHash, createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { InvalidInputError } from '../core/index.js';
import { AuthError } from './errors.js';
import { ReplayGuard } from './replay-guard.js';
import { signingPublicKey } from './signing-key.js';
import { PARTICIPANT_ID_PATTERN, type ParticipantKit, type ServerKit } from './startup-kit.js';

/**
 * What a participant's Ed25519 signature (RFC 8032) covers, for WebSocket frames and HTTP requests
 * alike. The signed bytes are domain-separated and length-prefixed, so no two different messages
 * share them:
 *
 *   "cipher-nexus/signed-message/v2" 0x00 | transport (1 byte) | u8 len | sender | u16 len | kind
 *   | nonce (16 bytes) | timestamp (u64 big-endian, ms since the epoch)
 *   | u32 head length | sha256(head) | sha256(body)
 *
 * The kind is a frame's kind or an HTTP request's `METHOD path`, so a signature made for one
 * endpoint is worthless at another; the transport byte keeps a frame from passing as a request.
 * The payload is a head and a body (a request's is all head), digested apart so that a receiver
 * hashes a model-sized body once: the digest that checks the signature is the one it files the
 * update under (v1 signed sha256(payload), and the coordinator hashed every update twice).
 */

const CONTEXT = Buffer.from('cipher-nexus/signed-message/v2\0', 'latin1');
/** Bytes of a message nonce. */
export const NONCE_BYTES = 16;
/** Bytes of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64;
/** Default clock-skew allowance: a message is accepted while its timestamp is within this of the receiver's clock. */
export const DEFAULT_SKEW_MS = 60_000;

/** How a signed message travelled; part of what is signed. */
export type Transport = 'frame' | 'request';
const TRANSPORT_BYTE: Record<Transport, number> = { frame: 1, request: 2 };

/** The fields of a signed message, as sent or as parsed before verification. */
export interface SignedEnvelope {
  transport: Transport;
  sender: string;
  kind: string;
  nonce: Uint8Array;
  timestamp: number;
  payload: Uint8Array;
  /** Where the body starts in the payload, the head being the bytes before it; default the payload's end (no body). */
  bodyAt?: number;
  signature: Uint8Array;
}

/** sha256 of a payload's body (the bytes from `bodyAt` on), the digest its signature covers. */
export function bodyDigest(envelope: Pick<SignedEnvelope, 'payload' | 'bodyAt'>): Buffer {
  return createHash('sha256').update(envelope.payload.subarray(envelope.bodyAt ?? envelope.payload.length)).digest();
}

/** The bytes the sender signs and the receiver verifies; `body` is the body's sha256 when the caller has it already. */
export function signedBytes(envelope: Omit<SignedEnvelope, 'signature'>, body: Uint8Array = bodyDigest(envelope)): Uint8Array {
  const sender = Buffer.from(envelope.sender, 'latin1');
  const kind = Buffer.from(envelope.kind, 'latin1');
  const headLength = envelope.bodyAt ?? envelope.payload.length;
  const out = Buffer.alloc(CONTEXT.length + 1 + 1 + sender.length + 2 + kind.length + NONCE_BYTES + 8 + 4 + 32 + 32);
  let at = CONTEXT.copy(out, 0);
  at = out.writeUInt8(TRANSPORT_BYTE[envelope.transport], at);
  at = out.writeUInt8(sender.length, at);
  at += sender.copy(out, at);
  at = out.writeUInt16BE(kind.length, at);
  at += kind.copy(out, at);
  at += Buffer.from(envelope.nonce.buffer, envelope.nonce.byteOffset, NONCE_BYTES).copy(out, at);
  at = out.writeBigUInt64BE(BigInt(envelope.timestamp), at);
  at = out.writeUInt32BE(headLength, at);
  at += createHash('sha256').update(envelope.payload.subarray(0, headLength)).digest().copy(out, at);
  out.set(body, at);
  return out;
}

/** A participant's identity for signing: its id and Ed25519 private key. */
export interface MessageSigner {
  readonly participantId: string;
  readonly signingKey: KeyObject;
}

/** The signer of a participant's kit. */
export function signerFromKit(kit: ParticipantKit): MessageSigner {
  return { participantId: kit.participantId, signingKey: createPrivateKey(kit.signingPrivateKey) };
}

/** Why the envelope's fields cannot be laid out as signed bytes, or undefined when they can. */
function layoutFault(envelope: Omit<SignedEnvelope, 'signature'>): string | undefined {
  if (!PARTICIPANT_ID_PATTERN.test(envelope.sender)) return `sender '${envelope.sender.slice(0, 64)}' is not a participant id`;
  if (!/^[\x20-\x7e]{1,4096}$/.test(envelope.kind)) return 'the kind is not 1 to 4096 printable ASCII characters';
  if (envelope.nonce.length !== NONCE_BYTES) return `the nonce is ${envelope.nonce.length} bytes, not ${NONCE_BYTES}`;
  if (!Number.isSafeInteger(envelope.timestamp) || envelope.timestamp < 0) return 'the timestamp is not a count of milliseconds since the epoch';
  if (envelope.bodyAt !== undefined && !(Number.isInteger(envelope.bodyAt) && envelope.bodyAt >= 0 && envelope.bodyAt <= envelope.payload.length)) {
    return `the body offset ${envelope.bodyAt} is not within the ${envelope.payload.length}-byte payload`;
  }
  return undefined;
}

/** Ed25519 signature of the envelope's signed bytes; `body`, the body's sha256, when the signer computed it already. */
export function signEnvelope(signer: MessageSigner, envelope: Omit<SignedEnvelope, 'signature'>, body?: Uint8Array): Uint8Array {
  const fault = layoutFault(envelope);
  if (fault) throw new InvalidInputError('MESSAGE_UNSIGNABLE', `cannot sign the message: ${fault}; sign as a provisioned participant (signerFromKit)`, { sender: envelope.sender });
  return new Uint8Array(sign(null, signedBytes(envelope, body), signer.signingKey));
}

/** What a verifier needs to know about senders; the coordinator may back it by a kit it reloads. */
export interface ParticipantDirectory {
  /** The participant's Ed25519 public key, or undefined for an id that is not a participant. */
  signingKeyOf(participantId: string): KeyObject | undefined;
  isRevoked(participantId: string): boolean;
}

/** Options of MessageVerifier. */
export interface MessageVerifierOptions {
  /** Largest accepted difference between a message's timestamp and the receiver's clock, default 60 s. */
  skewMs?: number;
  /**
   * Messages stamped before this instant (ms since the epoch) are refused as stale. A verifier's
   * replay memory starts empty, so a process that takes over from an earlier one sets this to its
   * own start: whatever the earlier process accepted was stamped before it and cannot be replayed.
   */
  notBefore?: number;
}

/** The participant directory of a server kit, with each signing key imported once. */
export function directoryOfServerKit(kit: ServerKit): ParticipantDirectory {
  const keys = new Map<string, KeyObject | undefined>();
  for (const [id, entry] of kit.participants) keys.set(id, signingPublicKey(entry.signingPublicKey));
  return { signingKeyOf: (id) => keys.get(id), isRevoked: (id) => kit.revoked.has(id) };
}

/**
 * Checks signed messages from participants: known sender, not revoked, valid signature, timestamp
 * within the skew allowance, nonce not seen before. One verifier per receiving process, since it
 * holds the replay cache; that cache is lost with the process, so a process that takes over from
 * another gives `notBefore`.
 */
export class MessageVerifier {
  /** Largest accepted clock difference, ms. */
  readonly skewMs: number;
  /** Earliest accepted timestamp, ms since the epoch; 0 when unbounded. */
  readonly notBefore: number;
  private readonly replayGuard: ReplayGuard;

  constructor(
    private readonly directory: ParticipantDirectory,
    options: MessageVerifierOptions = {},
  ) {
    this.skewMs = options.skewMs ?? DEFAULT_SKEW_MS;
    this.notBefore = options.notBefore ?? 0;
    this.replayGuard = new ReplayGuard(this.skewMs);
  }

  /** A verifier for the participants of a server kit. */
  static forServerKit(kit: ServerKit, options?: MessageVerifierOptions): MessageVerifier {
    return new MessageVerifier(directoryOfServerKit(kit), options);
  }

  /**
   * Throws AuthError unless the envelope is a fresh message its sender signed; records its nonce when it is. Returns
   * the sha256 of the body it checked, computed here from the bytes, never taken from the sender.
   */
  verify(envelope: SignedEnvelope, now: number): Buffer {
    const fault = layoutFault(envelope);
    if (fault) throw new AuthError('MESSAGE_MALFORMED', `the message is malformed: ${fault}`, { fault });
    const { sender } = envelope;
    const key = this.directory.signingKeyOf(sender);
    if (!key) throw new AuthError('AUTH_UNKNOWN_PARTICIPANT', `'${sender}' is not a participant of this job; sign with the kit provisioned for you`, { sender });
    if (this.directory.isRevoked(sender)) throw new AuthError('AUTH_REVOKED', `participant '${sender}' has been revoked from this job; ask the job's operator`, { sender });
    const { signature, ...signed } = envelope;
    const body = bodyDigest(envelope);
    if (signature.length !== SIGNATURE_BYTES || !verify(null, signedBytes(signed, body), key, signature)) {
      throw new AuthError('AUTH_BAD_SIGNATURE', `the signature of '${sender}' on '${envelope.kind.slice(0, 80)}' does not verify; sign the exact bytes sent, for this kind, with your kit's key`, {
        sender,
        kind: envelope.kind,
      });
    }
    if (Math.abs(now - envelope.timestamp) > this.skewMs) {
      throw new AuthError('AUTH_STALE', `the message of '${sender}' is stamped ${envelope.timestamp - now} ms from the receiver's clock, beyond ±${this.skewMs} ms; synchronise the clock (NTP) and send again`, {
        sender,
        timestamp: envelope.timestamp,
        now,
      });
    }
    if (envelope.timestamp < this.notBefore) {
      throw new AuthError(
        'AUTH_STALE',
        `the message of '${sender}' is stamped ${this.notBefore - envelope.timestamp} ms before the coordinator started; a message from before a restart is not accepted again: sign a new one (and check the clock (NTP) if this repeats)`,
        { sender, timestamp: envelope.timestamp, notBefore: this.notBefore },
      );
    }
    if (!this.replayGuard.admit(sender, envelope.nonce, envelope.timestamp, now)) {
      throw new AuthError('AUTH_REPLAY', `a message of '${sender}' with this nonce was already accepted; every message needs a fresh random nonce`, { sender });
    }
    return body;
  }
}
