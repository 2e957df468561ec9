import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { CipherNexusError } from '../core/index.js';
import { findOperator, isScrapeToken, loadOperatorCredentials, type OperatorCredentials, type OperatorRole } from '../identity/index.js';

/**
 * Who may use the operator listener. Operators present their token as `Authorization: Bearer …`
 * (scripts), or exchange it once for a session (the dashboard): the session id travels in an
 * HttpOnly, SameSite=Strict cookie, so page script never holds a credential and the browser sends it
 * on the `/api/live` WebSocket upgrade, where script cannot set a header. Sessions live in memory and
 * end with the process, after `sessionSeconds`, at logout, or when the operator's token is replaced or
 * removed from the operators file, which is read again whenever it changes.
 */

/** Who made a request: an operator with a role, or anyone on loopback when authentication is off. */
export interface OperatorPrincipal {
  name: string;
  role: OperatorRole;
  via: 'token' | 'session' | 'open';
}

/** The refusal codes of the operator listener, each with its HTTP status. */
export type OperatorAuthCode =
  | 'OPERATOR_UNAUTHENTICATED'
  | 'OPERATOR_BAD_CREDENTIALS'
  | 'OPERATOR_FORBIDDEN'
  | 'OPERATOR_HOST_REFUSED'
  | 'OPERATOR_ORIGIN_REFUSED'
  | 'OPERATORS_UNREADABLE';

const STATUS: Readonly<Record<OperatorAuthCode, number>> = {
  OPERATOR_UNAUTHENTICATED: 401,
  OPERATOR_BAD_CREDENTIALS: 401,
  OPERATOR_FORBIDDEN: 403,
  // 421 Misdirected Request: this server does not answer for that authority (RFC 9110 §15.5.20).
  OPERATOR_HOST_REFUSED: 421,
  OPERATOR_ORIGIN_REFUSED: 403,
  OPERATORS_UNREADABLE: 503,
};

/** A request to the operator listener was refused; nothing was read or changed. */
export class OperatorAuthError extends CipherNexusError {
  declare readonly code: OperatorAuthCode;
  readonly httpStatus: number;

  constructor(code: OperatorAuthCode, message: string) {
    super(code, message);
    this.httpStatus = STATUS[code];
  }
}

/** What identifies a version of a file without reading it: inode, size and modification time. */
function stampOf(file: string): string {
  const stat = statSync(file);
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
}

/** The session cookie's name. */
export const SESSION_COOKIE = 'cn_operator';
const DEFAULT_SESSION_SECONDS = 12 * 3600;

interface Session {
  name: string;
  role: OperatorRole;
  tokenSha256: string;
  expiresAt: number;
}

/** How an OperatorAccess checks credentials. */
export interface OperatorAccessOptions {
  /** The operators file; without it authentication is off and everyone is an admin (loopback only). */
  credentialsFile?: string;
  /** How long a dashboard session lasts. Default 12 hours. */
  sessionSeconds?: number;
  /** The clock, ms since the epoch. */
  now?: () => number;
}

/** The credential checks of the operator listener: tokens, sessions and the scrape token. */
export class OperatorAccess {
  private readonly sessions = new Map<string, Session>();
  private loaded: { stamp: string; credentials: OperatorCredentials } | undefined;
  private readonly sessionMs: number;
  private readonly now: () => number;

  constructor(private readonly options: OperatorAccessOptions = {}) {
    this.sessionMs = (options.sessionSeconds ?? DEFAULT_SESSION_SECONDS) * 1000;
    this.now = options.now ?? Date.now;
    // A coordinator with a missing or invalid operators file does not start (the loader's error names the file); later changes are read on use.
    if (options.credentialsFile) {
      const credentials = loadOperatorCredentials(options.credentialsFile);
      this.loaded = { stamp: stampOf(options.credentialsFile), credentials };
    }
  }

  /** Whether requests need credentials. */
  get required(): boolean {
    return this.options.credentialsFile !== undefined;
  }

  /** The names of the operators in the file now (empty when authentication is off). */
  operatorNames(): string[] {
    return this.required ? Object.keys(this.credentials().operators) : [];
  }

  /** The operators file, read again when its size, time or inode changed; throws OPERATORS_UNREADABLE when it cannot be read now. */
  private credentials(): OperatorCredentials {
    const file = this.options.credentialsFile as string;
    try {
      const stamp = stampOf(file);
      if (this.loaded?.stamp !== stamp) this.loaded = { stamp, credentials: loadOperatorCredentials(file) };
      return this.loaded.credentials;
    } catch (error) {
      // Fail closed: nobody is let in on credentials that cannot be read.
      this.loaded = undefined;
      const reason = error instanceof CipherNexusError ? error.message : `operators file '${file}' cannot be read`;
      if (this.sessions.size > 0) this.sessions.clear();
      throw new OperatorAuthError('OPERATORS_UNREADABLE', reason);
    }
  }

  /** The operator a bearer token belongs to; throws OPERATOR_BAD_CREDENTIALS for any other token. */
  authenticateToken(token: string): OperatorPrincipal {
    if (!this.required) return { name: 'anyone', role: 'admin', via: 'open' };
    const operator = findOperator(this.credentials(), token);
    if (!operator) throw new OperatorAuthError('OPERATOR_BAD_CREDENTIALS', 'the token is not an operator token of this coordinator; use the token `provision --operators` or `operator add` printed');
    return { name: operator.name, role: operator.role, via: 'token' };
  }

  /** Whether `token` opens `/metrics`: the scrape token or any operator's token. */
  allowsScrape(token: string): boolean {
    if (!this.required) return true;
    return isScrapeToken(this.credentials(), token) || findOperator(this.credentials(), token) !== undefined;
  }

  /** Exchanges an operator token for a session; returns the session id for the cookie. */
  login(token: string): { sessionId: string; principal: OperatorPrincipal; maxAgeSeconds: number } {
    if (!this.required) throw new OperatorAuthError('OPERATOR_FORBIDDEN', 'authentication is off on this coordinator (--operator-no-auth); there is nothing to log in to');
    const operator = findOperator(this.credentials(), token);
    if (!operator) throw new OperatorAuthError('OPERATOR_BAD_CREDENTIALS', 'the token is not an operator token of this coordinator; use the token `provision --operators` or `operator add` printed');
    this.dropExpired();
    const sessionId = randomBytes(32).toString('base64url');
    this.sessions.set(sessionId, { name: operator.name, role: operator.role, tokenSha256: operator.tokenSha256, expiresAt: this.now() + this.sessionMs });
    return { sessionId, principal: { name: operator.name, role: operator.role, via: 'session' }, maxAgeSeconds: Math.floor(this.sessionMs / 1000) };
  }

  /** The operator of a live session, whose token is still the one it logged in with; throws OPERATOR_BAD_CREDENTIALS otherwise. */
  authenticateSession(sessionId: string): OperatorPrincipal {
    if (!this.required) return { name: 'anyone', role: 'admin', via: 'open' };
    const session = this.sessions.get(sessionId);
    const operators = this.credentials().operators;
    const stored = session && Object.hasOwn(operators, session.name) ? operators[session.name] : undefined;
    if (!session || session.expiresAt <= this.now() || !stored || stored.tokenSha256 !== session.tokenSha256) {
      this.sessions.delete(sessionId);
      throw new OperatorAuthError('OPERATOR_BAD_CREDENTIALS', 'the session has ended (expired, logged out, or the operator was removed or given a new token); log in again');
    }
    return { name: session.name, role: stored.role, via: 'session' };
  }

  /** Ends a session (logout); unknown ids are ignored. */
  logout(sessionId: string): void {
    this.sessions.delete(sessionId);
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}

/** The value of one cookie in a `Cookie` header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The token of an `Authorization: Bearer …` header, or undefined when there is no such header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match) throw new OperatorAuthError('OPERATOR_BAD_CREDENTIALS', "the Authorization header is not 'Bearer <token>'");
  return match[1];
}
