import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/index.js';
import { Firewall, FirewallRulesError } from './firewall.js';

const ipv4 = (n: number): string => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');

describe('Firewall', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('lets everyone through with no rules, and only the allow-list when it has rules', () => {
    expect(new Firewall().check('203.0.113.9')).toEqual({ allowed: true, reason: 'allowed' });
    const firewall = new Firewall({ allow: ['10.0.0.0/8', '2001:db8::/32'] });
    expect(firewall.check('10.200.3.4').allowed).toBe(true);
    expect(firewall.check('2001:db8:1::7').allowed).toBe(true);
    expect(firewall.check('192.0.2.1')).toEqual({ allowed: false, reason: 'not on the allow-list' });
  });

  it('refuses a denied address even when it is allowed, naming the rule', () => {
    const firewall = new Firewall({ allow: ['10.0.0.0/8'], deny: ['10.0.0.66'] });
    expect(firewall.check('10.0.0.66')).toEqual({ allowed: false, reason: 'deny 10.0.0.66' });
    expect(firewall.check('10.0.0.65').allowed).toBe(true);
  });

  it('matches an IPv4 peer seen as IPv4-mapped IPv6 against IPv4 rules', () => {
    expect(new Firewall({ deny: ['127.0.0.0/8'] }).check('::ffff:127.0.0.1')).toEqual({ allowed: false, reason: 'deny 127.0.0.0/8' });
  });

  it('refuses a peer without an address once any rule is set', () => {
    expect(new Firewall().check(undefined).allowed).toBe(true);
    expect(new Firewall({ deny: ['192.0.2.0/24'] }).check(undefined).allowed).toBe(false);
  });

  it.each([
    [{ allow: ['10.0.0.0/33'] }, "firewall rules field 'allow[0]'"],
    [{ deny: ['example.org'] }, "'example.org' is neither"],
    [{ deny: ['10.0.0.0/8/1'] }, 'is neither'],
    [{ allow: '10.0.0.0/8' }, "firewall rules field 'allow'"],
    [{ allow: [], block: [] }, "unknown field 'block'"],
  ])('refuses invalid rules %j and keeps those in force', (rules, message) => {
    const firewall = new Firewall({ deny: ['192.0.2.1'] });
    expect(() => firewall.replace(rules)).toThrow(message);
    expect(() => firewall.replace(rules)).toThrow(InvalidInputError);
    expect(firewall.rules).toEqual({ allow: [], deny: ['192.0.2.1'] });
    expect(firewall.check('192.0.2.1').allowed).toBe(false);
  });

  it('reloads its file, and keeps its rules when the file has become invalid', () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-firewall-'));
    const file = join(dir, 'firewall.json');
    writeFileSync(file, JSON.stringify({ deny: ['192.0.2.0/24'] }));
    const firewall = Firewall.fromFile(file);
    expect(firewall.check('192.0.2.7').allowed).toBe(false);
    writeFileSync(file, JSON.stringify({ allow: ['192.0.2.7'] }));
    expect(firewall.reload()).toEqual({ allow: ['192.0.2.7'], deny: [] });
    expect(firewall.check('192.0.2.7').allowed).toBe(true);
    expect(firewall.check('192.0.2.8').allowed).toBe(false);
    writeFileSync(file, '{"allow": [');
    expect(() => firewall.reload()).toThrow(FirewallRulesError);
    expect(firewall.rules).toEqual({ allow: ['192.0.2.7'], deny: [] });
    expect(() => new Firewall().reload()).toThrow('started without --firewall FILE');
  });

  it('decides IPv4 networks as prefix arithmetic does (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 })), { maxLength: 6 }), fc.array(fc.tuple(fc.nat({ max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 })), { maxLength: 6 }), fc.nat({ max: 2 ** 32 - 1 }), (allow, deny, peer) => {
        const within = ([base, prefix]: [number, number]): boolean => prefix === 0 || (base >>> (32 - prefix)) === (peer >>> (32 - prefix));
        const expected = !deny.some(within) && (allow.length === 0 || allow.some(within));
        const firewall = new Firewall({ allow: allow.map(([base, prefix]) => `${ipv4(base)}/${prefix}`), deny: deny.map(([base, prefix]) => `${ipv4(base)}/${prefix}`) });
        expect(firewall.check(ipv4(peer)).allowed).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});
