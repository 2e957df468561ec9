import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OperatorOrigins, hostnameOf, isLoopbackHost } from './operator-origin.js';

describe('operator listener origins', () => {
  it('knows loopback addresses and names', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', 'localhost', 'LOCALHOST']) expect([host, isLoopbackHost(host)]).toEqual([host, true]);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '128.0.0.1', 'example.org', '127.0.0.1.example.org']) expect([host, isLoopbackHost(host)]).toEqual([host, false]);
  });

  it('on loopback, answers to the loopback names only', () => {
    const origins = new OperatorOrigins('127.0.0.1');
    for (const host of ['127.0.0.1:8080', 'localhost:8080', 'localhost', '[::1]:8080', 'LocalHost.']) expect([host, origins.allowsHost(host)]).toEqual([host, true]);
    for (const host of [undefined, '', 'attacker.example', 'attacker.example:8080', '127.0.0.2', 'localhost.attacker.example', 'user@localhost', 'localhost/x']) {
      expect([host, origins.allowsHost(host)]).toEqual([host, false]);
    }
  });

  it('on every interface, answers to loopback and the configured names; on one address, to it and them', () => {
    const wildcard = new OperatorOrigins('0.0.0.0', ['ops.example.org']);
    expect(['ops.example.org', 'OPS.example.org:443', '127.0.0.1:8080'].map((h) => wildcard.allowsHost(h))).toEqual([true, true, true]);
    expect(wildcard.allowsHost('10.0.0.5:8080')).toBe(false);
    const one = new OperatorOrigins('10.0.0.5');
    expect(['10.0.0.5:8080', '127.0.0.1:8080'].map((h) => one.allowsHost(h))).toEqual([true, false]);
  });

  it('takes an Origin only when it is the very host and port the request was sent to', () => {
    const origins = new OperatorOrigins('127.0.0.1', ['ops.example.org']);
    expect(origins.allowsOrigin(undefined, '127.0.0.1:8080')).toBe(true);
    expect(origins.allowsOrigin('http://127.0.0.1:8080', '127.0.0.1:8080')).toBe(true);
    expect(origins.allowsOrigin('https://ops.example.org', 'ops.example.org')).toBe(true);
    for (const origin of ['http://attacker.example', 'http://127.0.0.1:9999', 'http://localhost:8080', 'null', 'file://', 'chrome-extension://abc', 'garbage']) {
      expect([origin, origins.allowsOrigin(origin, '127.0.0.1:8080')]).toEqual([origin, false]);
    }
  });

  it('never serves a Host whose name is not configured', () => {
    const origins = new OperatorOrigins('127.0.0.1', ['ops.example.org']);
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (host) => {
        const name = hostnameOf(host);
        fc.pre(!['localhost', '127.0.0.1', '::1', 'ops.example.org'].includes(name ?? ''));
        expect(origins.allowsHost(host)).toBe(false);
      }),
    );
  });
});
