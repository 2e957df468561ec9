import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/index.js';
import { ServerEvents, type SecurityEvent, type ServerEventMessage } from './events.js';

const security = (n: number): SecurityEvent => ({ at: 1_000 + n, kind: 'auth_failed', participant: `client-${n}`, detail: `bad signature #${n}` });

describe('ServerEvents', () => {
  it('delivers an event to its typed listeners and to onAny as { type, data }', () => {
    const bus = new ServerEvents();
    const jobs: string[] = [];
    const all: ServerEventMessage[] = [];
    bus.on('job', (job) => jobs.push(`${job.jobId}:${job.status}`));
    bus.onAny((message) => all.push(message));
    bus.emit('job', { jobId: 'job-1', name: 'demo', status: 'running', rounds: 4 });
    bus.emit('budget', { dataset: 'optdigits', spent: 1.5, budget: 8 });
    expect(jobs).toEqual(['job-1:running']);
    expect(all).toEqual([
      { type: 'job', data: { jobId: 'job-1', name: 'demo', status: 'running', rounds: 4 } },
      { type: 'budget', data: { dataset: 'optdigits', spent: 1.5, budget: 8 } },
    ]);
  });

  it('stops calling a listener once unsubscribed', () => {
    const bus = new ServerEvents();
    let typed = 0;
    let any = 0;
    const offTyped = bus.on('node', () => typed++);
    const offAny = bus.onAny(() => any++);
    bus.emit('node', { id: 'n1', status: 'online', lastHeartbeat: 1 });
    offTyped();
    offAny();
    bus.emit('node', { id: 'n1', status: 'offline', lastHeartbeat: 1 });
    expect([typed, any]).toEqual([1, 1]);
  });

  it('keeps the most recent security events, newest first, up to its capacity', () => {
    const bus = new ServerEvents({ securityCapacity: 3 });
    expect(bus.recentSecurityEvents()).toEqual([]);
    for (let n = 1; n <= 5; n++) bus.emit('security', security(n));
    expect(bus.recentSecurityEvents().map((e) => e.at)).toEqual([1_005, 1_004, 1_003]);
    expect(bus.recentSecurityEvents(2).map((e) => e.at)).toEqual([1_005, 1_004]);
    bus.emit('security', security(6));
    expect(bus.recentSecurityEvents().map((e) => e.at)).toEqual([1_006, 1_005, 1_004]);
  });

  it('holds 500 security events by default', () => {
    const bus = new ServerEvents();
    for (let n = 0; n < 600; n++) bus.emit('security', security(n));
    const kept = bus.recentSecurityEvents();
    expect(kept).toHaveLength(500);
    expect([kept[0].at, kept[499].at]).toEqual([1_599, 1_100]);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new ServerEvents({ securityCapacity: 0 })).toThrow(InvalidInputError);
    expect(() => new ServerEvents({ securityCapacity: 2.5 })).toThrow(/security event capacity/);
  });

  it('serves many listeners without a leak warning', async () => {
    const bus = new ServerEvents();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    const offs = Array.from({ length: 50 }, () => bus.onAny(() => undefined));
    // Node reports the warning on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
    offs.forEach((off) => off());
    process.off('warning', onWarning);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
