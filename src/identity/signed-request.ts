import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { InvalidInputError } from '../core/index.js';
import { AuthError } from './errors.js';
import { NONCE_BYTES, SIGNATURE_BYTES, signEnvelope, type MessageSigner, type MessageVerifier } from './signed-message.js';
import { ParticipantIdSchema } from './startup-kit.js';

/**
 * Signed HTTP requests: the signature covers the sender, a nonce, a timestamp, `METHOD path` (the
 * full request target, query included) and sha256 of the body, and travels in four headers.
 */

/** The header names, lowercase as node:http gives them. */
export const SIGNATURE_HEADERS = ['x-cn-sender', 'x-cn-nonce', 'x-cn-timestamp', 'x-cn-signature'] as const;

/** Headers that carry a request's signature. */
export type SignatureHeaders = Record<(typeof SIGNATURE_HEADERS)[number], string>;
/** Request headers as node:http and fastify give them. */
export type IncomingHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** A verified request's signature fields. */
export interface VerifiedRequest {
  sender: string;
  nonce: Uint8Array;
  timestamp: number;
}

const METHOD = /^[A-Z]{1,16}$/;
// An origin-form request target as it appears on the wire: percent-encoded, so printable ASCII only.
const PATH = /^\/[\x21-\x7e]{0,2047}$/;

const base64url = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^[A-Za-z0-9_-]{${Math.ceil((bytes * 4) / 3)}}$`), `expected ${bytes} bytes in base64url`)
    .transform((text) => new Uint8Array(Buffer.from(text, 'base64url')))
    .refine((decoded) => decoded.length === bytes, `expected ${bytes} bytes in base64url`);

const SignatureHeadersSchema = z.object({
  'x-cn-sender': ParticipantIdSchema,
  'x-cn-nonce': base64url(NONCE_BYTES),
  'x-cn-timestamp': z
    .string()
    .regex(/^\d{1,16}$/, 'expected milliseconds since the epoch')
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n), 'expected milliseconds since the epoch'),
  'x-cn-signature': base64url(SIGNATURE_BYTES),
});

function requestKind(method: string, path: string): string {
  const upper = method.toUpperCase();
  if (!METHOD.test(upper) || !PATH.test(path)) {
    throw new InvalidInputError('MESSAGE_KIND_INVALID', `'${upper} ${path.slice(0, 64)}' is not a request that can be signed; give an HTTP method and a path starting with /`, { method, path });
  }
  return `${upper} ${path}`;
}

/** The signature headers of a request from the signer: `path` is the request target as sent (path and query). */
export function signRequest(signer: MessageSigner, method: string, path: string, body: Uint8Array): SignatureHeaders {
  const envelope = { transport: 'request' as const, sender: signer.participantId, kind: requestKind(method, path), nonce: new Uint8Array(randomBytes(NONCE_BYTES)), timestamp: Date.now(), payload: body };
  return {
    'x-cn-sender': signer.participantId,
    'x-cn-nonce': Buffer.from(envelope.nonce).toString('base64url'),
    'x-cn-timestamp': String(envelope.timestamp),
    'x-cn-signature': Buffer.from(signEnvelope(signer, envelope)).toString('base64url'),
  };
}

/** Checks a request's signature headers against its method, target and body; throws AuthError (AUTH_UNSIGNED, MESSAGE_MALFORMED, AUTH_*) unless it is a fresh request its sender signed. */
export function verifyRequest(headers: IncomingHeaders, method: string, path: string, body: Uint8Array, verifier: MessageVerifier, now: number = Date.now()): VerifiedRequest {
  const missing = SIGNATURE_HEADERS.filter((name) => headers[name] === undefined);
  if (missing.length > 0) {
    throw new AuthError('AUTH_UNSIGNED', `the request has no ${missing.join(', ')} header${missing.length === 1 ? '' : 's'}; sign it with signRequest and your kit's key`, { missing });
  }
  const parsed = SignatureHeadersSchema.safeParse(headers);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AuthError('MESSAGE_MALFORMED', `header ${String(issue.path[0])} is malformed (${issue.message}); send the headers signRequest made, once each`, { header: issue.path[0] });
  }
  const upper = method.toUpperCase();
  if (!METHOD.test(upper) || !PATH.test(path)) throw new AuthError('MESSAGE_MALFORMED', `'${upper} ${path.slice(0, 64)}' is not a request that can be signed`, { method, path });
  const { 'x-cn-sender': sender, 'x-cn-nonce': nonce, 'x-cn-timestamp': timestamp, 'x-cn-signature': signature } = parsed.data;
  verifier.verify({ transport: 'request', sender, kind: `${upper} ${path}`, nonce, timestamp, payload: body, signature }, now);
  return { sender, nonce, timestamp };
}
