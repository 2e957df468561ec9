import { CipherNexusError } from '../core/errors.js';
import { EXAMPLES_REDECLARED, WEIGHT_OVER_BOUND } from '../fl/index.js';
import { AuthError } from '../identity/index.js';
import type { ServerEvents } from './events.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { AuditSink } from './participant-gateway.js';
import type { RefusalTally } from './refusal-tally.js';

/** What a refused participant is told: the HTTP status a REST answer carries, a stable code and what to do. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/** A deliberate refusal, and the security event kind an operator filters it by. */
export interface ClassifiedRefusal extends Refusal {
  kind: string;
}

/** Where refusals are counted, listed and audited. */
export interface RefusalSinks {
  events: ServerEvents;
  metrics: CoordinatorMetrics;
  audit: AuditSink;
  refusals: RefusalTally;
}

const SECURITY_KIND: Record<string, string> = { AUTH_REPLAY: 'replay', AUTH_REVOKED: 'revoked' };
// A weight claimed over the declared count, or a count declared anew: an operator filters for these apart from malformed input.
const WEIGHT_CODES = new Set([WEIGHT_OVER_BOUND, EXAMPLES_REDECLARED]);

/** What the coordinator answers to an error it raised on purpose, and how an operator sees it. */
export function classifyRefusal(error: CipherNexusError): ClassifiedRefusal {
  const status = error instanceof AuthError ? error.httpStatus : error.code === 'RATE_LIMITED' ? 429 : error.code === 'ROUND_NOT_ACTIVE' ? 409 : 400;
  const kind =
    error instanceof AuthError
      ? (SECURITY_KIND[error.code] ?? 'auth_failed')
      : error.code === 'RATE_LIMITED'
        ? 'rate_limited'
        : WEIGHT_CODES.has(error.code)
          ? 'weight_over_bound'
          : error.code.startsWith('UPDATE_')
            ? 'update_rejected'
            : 'message_rejected';
  // Messages can echo what the peer sent (zod names unknown keys): bound them to the wire limits.
  return { status, kind, code: error.code.slice(0, 64), message: error.message.slice(0, 1900) };
}

/** Turns errors met while serving participants into refusals, and records each where an operator looks. */
export class GatewayRefusals {
  constructor(private readonly sinks: RefusalSinks) {}

  /** The refusal to answer `error` with; `what` names the message or request refused, `source` the peer's address. */
  refuse(error: unknown, participant: string | undefined, what: string, source: string): Refusal {
    const { events, metrics, audit, refusals } = this.sinks;
    if (!(error instanceof CipherNexusError)) {
      events.emit('security', { at: Date.now(), kind: 'internal_error', ...(participant ? { participant } : {}), detail: `${what}: ${(error as Error).message}` });
      return { status: 500, code: 'INTERNAL', message: 'the coordinator failed to handle the message; it is logged, try again' };
    }
    const { kind, ...refusal } = classifyRefusal(error);
    if (error instanceof AuthError) metrics.authFailures.inc({ code: error.code });
    else metrics.rejected.inc({ code: error.code });
    // Every message beyond the rate is this refusal: aggregated in the audit trail too. Any other is
    // audited on its own (durable at once), and listed once per code, participant, address and minute.
    const aggregated = error.code === 'RATE_LIMITED';
    refusals.record({ code: error.code, kind, source, ...(participant ? { participant } : {}), detail: `${what}: ${error.message.slice(0, 1000)}` }, { audited: !aggregated });
    if (!aggregated) void audit.append('security.' + kind, participant ?? 'unknown', { code: error.code, what });
    return refusal;
  }
}
