import { CipherNexusError } from '../core/index.js';

/** Why a message or a connection was refused; each code has one HTTP status (see AUTH_HTTP_STATUS). */
export type AuthErrorCode =
  | 'MESSAGE_MALFORMED'
  | 'AUTH_UNSIGNED'
  | 'AUTH_UNKNOWN_PARTICIPANT'
  | 'AUTH_REVOKED'
  | 'AUTH_BAD_SIGNATURE'
  | 'AUTH_STALE'
  | 'AUTH_REPLAY'
  | 'AUTH_NO_CERTIFICATE'
  | 'AUTH_CERTIFICATE_MISMATCH';

/** The status a server answers with: 400 for bytes that are not a message, 403 for a known but revoked sender, 401 for the rest. */
export const AUTH_HTTP_STATUS: Readonly<Record<AuthErrorCode, 400 | 401 | 403>> = {
  MESSAGE_MALFORMED: 400,
  AUTH_UNSIGNED: 401,
  AUTH_UNKNOWN_PARTICIPANT: 401,
  AUTH_REVOKED: 403,
  AUTH_BAD_SIGNATURE: 401,
  AUTH_STALE: 401,
  AUTH_REPLAY: 401,
  AUTH_NO_CERTIFICATE: 401,
  AUTH_CERTIFICATE_MISMATCH: 401,
};

/** A participant's message or TLS identity was refused; the receiver's state is as it was, so the caller answers `httpStatus` and goes on. */
export class AuthError extends CipherNexusError {
  declare readonly code: AuthErrorCode;
  /** The HTTP status that fits the refusal. */
  readonly httpStatus: 400 | 401 | 403;

  constructor(code: AuthErrorCode, message: string, details?: unknown) {
    super(code, message, details);
    this.httpStatus = AUTH_HTTP_STATUS[code];
  }
}
