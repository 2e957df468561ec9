import { describe, expect, it } from 'vitest';
import { CipherNexusError } from '../core/errors.js';
import { EXAMPLES_REDECLARED, WEIGHT_OVER_BOUND } from '../fl/index.js';
import { AuthError } from '../identity/index.js';
import { ProtocolError } from '../protocol/index.js';
import { ServerEvents } from './events.js';
import { GatewayRefusals, classifyRefusal } from './gateway-refusals.js';
import { CoordinatorMetrics } from './metrics.js';
import { RefusalTally } from './refusal-tally.js';

describe('classifyRefusal', () => {
  it('answers each error with its status and files it under the security kind an operator filters by', () => {
    const cases: [CipherNexusError, number, string][] = [
      [new AuthError('AUTH_REPLAY', 'nonce reused'), 401, 'replay'],
      [new AuthError('AUTH_REVOKED', 'revoked'), 403, 'revoked'],
      [new AuthError('AUTH_STALE', 'too old'), 401, 'auth_failed'],
      [new AuthError('MESSAGE_MALFORMED', 'not a frame'), 400, 'auth_failed'],
      [new CipherNexusError('RATE_LIMITED', 'slow down'), 429, 'rate_limited'],
      [new CipherNexusError('ROUND_NOT_ACTIVE', 'starting'), 409, 'message_rejected'],
      [new CipherNexusError(WEIGHT_OVER_BOUND, 'weight too big'), 400, 'weight_over_bound'],
      [new CipherNexusError(EXAMPLES_REDECLARED, 'count changed'), 400, 'weight_over_bound'],
      [new CipherNexusError('UPDATE_NOT_REQUESTED', 'not pulled'), 400, 'update_rejected'],
      [new ProtocolError('MESSAGE_INVALID', 'bad field'), 400, 'message_rejected'],
    ];
    for (const [error, status, kind] of cases) {
      expect(classifyRefusal(error), error.code).toEqual({ status, kind, code: error.code, message: error.message });
    }
  });

  it('bounds a code and a message that echo what the peer sent to the wire limits', () => {
    const refusal = classifyRefusal(new CipherNexusError('X'.repeat(100), 'm'.repeat(5000)));
    expect(refusal.code).toHaveLength(64);
    expect(refusal.message).toHaveLength(1900);
  });
});

describe('GatewayRefusals', () => {
  function setup(): { refusals: GatewayRefusals; events: ServerEvents; metrics: CoordinatorMetrics; tally: RefusalTally; audited: { kind: string; actor: string; details: Record<string, unknown> }[] } {
    const events = new ServerEvents({ securityCapacity: 50 });
    const metrics = new CoordinatorMetrics();
    const audited: { kind: string; actor: string; details: Record<string, unknown> }[] = [];
    const audit = { append: async (kind: string, actor: string, details: Readonly<Record<string, unknown>>) => audited.push({ kind, actor, details: { ...details } }) };
    const tally = new RefusalTally({ events, audit, counter: metrics.refusalsBySource, windowMs: 3_600_000 });
    return { refusals: new GatewayRefusals({ events, metrics, audit, refusals: tally }), events, metrics, tally, audited };
  }

  it('answers an unexpected error with a generic 500 and lists it as an internal error, not a refusal', async () => {
    const { refusals, events, audited, metrics } = setup();
    expect(refusals.refuse(new Error('disk full'), 'alice', 'update', '10.0.0.1')).toEqual({ status: 500, code: 'INTERNAL', message: 'the coordinator failed to handle the message; it is logged, try again' });
    expect(events.recentSecurityEvents()).toEqual([expect.objectContaining({ kind: 'internal_error', participant: 'alice', detail: 'update: disk full' })]);
    expect(audited).toEqual([]);
    expect(await metrics.text()).not.toMatch(/cipher_nexus_messages_rejected_total\{/);
  });

  it('counts an authentication failure apart, lists it and audits it at once', async () => {
    const { refusals, events, audited, metrics } = setup();
    const refusal = refusals.refuse(new AuthError('AUTH_REPLAY', 'the nonce was used before'), 'bob', 'offer', '10.0.0.2');
    expect(refusal).toEqual({ status: 401, code: 'AUTH_REPLAY', message: 'the nonce was used before' });
    expect(audited).toEqual([{ kind: 'security.replay', actor: 'bob', details: { code: 'AUTH_REPLAY', what: 'offer' } }]);
    expect(events.recentSecurityEvents()).toEqual([expect.objectContaining({ kind: 'replay', participant: 'bob' })]);
    const text = await metrics.text();
    expect(text).toContain('cipher_nexus_auth_failures_total{code="AUTH_REPLAY"} 1');
    expect(text).toContain('cipher_nexus_refusals_by_source_total{code="AUTH_REPLAY",source="10.0.0.2"} 1');
  });

  it('leaves a rate refusal to the tally, which audits a flood as one entry', async () => {
    const { refusals, audited, metrics, tally } = setup();
    for (let i = 0; i < 5; i++) expect(refusals.refuse(new CipherNexusError('RATE_LIMITED', 'slow down'), undefined, 'heartbeat', '10.0.0.3').status).toBe(429);
    expect(audited).toEqual([]);
    expect(await metrics.text()).toContain('cipher_nexus_messages_rejected_total{code="RATE_LIMITED"} 5');
    await tally.flush();
    expect(audited).toEqual([{ kind: 'security.rate_limited', actor: 'unknown', details: expect.objectContaining({ code: 'RATE_LIMITED', source: '10.0.0.3', count: 5 }) }]);
  });
});
