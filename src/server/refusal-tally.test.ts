import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ServerEvents } from './events.js';
import { OTHER_SOURCES, RefusalTally } from './refusal-tally.js';

function setup(maxSources = 3): { tally: RefusalTally; events: ServerEvents; audited: { kind: string; actor: string; details: Record<string, unknown> }[]; registry: Registry } {
  const registry = new Registry();
  const counter = new Counter({ name: 'refusals_total', help: 'x', labelNames: ['code', 'source'], registers: [registry] });
  const events = new ServerEvents({ securityCapacity: 50 });
  const audited: { kind: string; actor: string; details: Record<string, unknown> }[] = [];
  const audit = { append: async (kind: string, actor: string, details: Readonly<Record<string, unknown>>) => audited.push({ kind, actor, details: { ...details } }) };
  // A window longer than the test: windows close only when flushed.
  const tally = new RefusalTally({ events, audit, counter, windowMs: 3_600_000, maxSources });
  return { tally, events, audited, registry };
}

describe('RefusalTally', () => {
  it('counts every refusal, lists the first per source and window, and audits one entry per source and window', async () => {
    const { tally, events, audited, registry } = setup();
    for (let i = 0; i < 100; i++) tally.record({ code: 'TLS_HANDSHAKE', source: '10.0.0.1', detail: `refused ${i}` });
    tally.record({ code: 'BODY_TOO_LARGE', source: '10.0.0.2', participant: 'alice', detail: 'too big' });
    const listed = events.recentSecurityEvents();
    expect(listed.map((e) => e.detail)).toEqual([
      'BODY_TOO_LARGE from 10.0.0.2: too big (further ones this minute are counted, not listed)',
      'TLS_HANDSHAKE from 10.0.0.1: refused 0 (further ones this minute are counted, not listed)',
    ]);
    expect(listed[0]).toMatchObject({ kind: 'message_rejected', participant: 'alice' });
    expect(listed[1].kind).toBe('auth_failed');
    expect(audited).toEqual([]);
    await tally.flush();
    expect(audited).toEqual([
      { kind: 'security.tls_refused', actor: 'unknown', details: expect.objectContaining({ code: 'TLS_HANDSHAKE', source: '10.0.0.1', count: 100, reason: 'refused 0' }) },
      { kind: 'security.message_rejected', actor: 'alice', details: expect.objectContaining({ code: 'BODY_TOO_LARGE', source: '10.0.0.2', count: 1 }) },
    ]);
    const text = await registry.metrics();
    expect(text).toContain('refusals_total{code="TLS_HANDSHAKE",source="10.0.0.1"} 100');
    // A new window lists and audits the source again.
    tally.record({ code: 'TLS_HANDSHAKE', source: '10.0.0.1', detail: 'again' });
    expect(events.recentSecurityEvents()).toHaveLength(3);
    await tally.flush();
    expect(audited).toHaveLength(3);
    await tally.flush();
    expect(audited).toHaveLength(3);
  });

  it('lists but does not audit a refusal its caller audits itself, under the kind it is given', async () => {
    const { tally, events, audited } = setup();
    for (let i = 0; i < 10; i++) tally.record({ code: 'AUTH_REPLAY', kind: 'replay', source: '10.0.0.3', participant: 'bob', detail: 'update: nonce reused' }, { audited: true });
    tally.record({ code: 'RATE_LIMITED', kind: 'rate_limited', source: '10.0.0.3', participant: 'bob', detail: 'heartbeat: too fast' });
    expect(events.recentSecurityEvents().map((e) => [e.kind, e.participant, e.detail.split(':')[0]])).toEqual([
      ['rate_limited', 'bob', 'RATE_LIMITED from 10.0.0.3'],
      ['replay', 'bob', 'AUTH_REPLAY from 10.0.0.3'],
    ]);
    await tally.flush();
    expect(audited).toEqual([{ kind: 'security.rate_limited', actor: 'bob', details: expect.objectContaining({ code: 'RATE_LIMITED', count: 1 }) }]);
  });

  it('lumps sources beyond the limit together, with one event for all of them, so a flood from many addresses cannot fill the list', async () => {
    const { tally, events, audited, registry } = setup(3);
    for (let host = 1; host <= 200; host++) for (let i = 0; i < 2; i++) tally.record({ code: 'TLS_HANDSHAKE', source: `10.0.1.${host}`, detail: 'refused' });
    const listed = events.recentSecurityEvents();
    expect(listed).toHaveLength(4);
    expect(listed[0].detail).toBe('TLS_HANDSHAKE: refusals from more than 3 addresses this minute; see /metrics and the audit trail');
    await tally.flush();
    expect(audited.map((e) => [e.details.source, e.details.count])).toEqual([
      ['10.0.1.1', 2],
      ['10.0.1.2', 2],
      ['10.0.1.3', 2],
      [OTHER_SOURCES, 394],
    ]);
    // Metric labels are bounded too: the first addresses by name, the rest together.
    const series = (await registry.metrics()).split('\n').filter((line) => line.startsWith('refusals_total{'));
    expect(series).toHaveLength(16);
    expect(series).toContain(`refusals_total{code="TLS_HANDSHAKE",source="${OTHER_SOURCES}"} 370`);
  });
});
