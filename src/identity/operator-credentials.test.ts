import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError } from '../core/index.js';
import {
  addOperator,
  findOperator,
  isScrapeToken,
  issueOperatorCredentials,
  loadOperatorCredentials,
  operatorCredentialsPath,
  parseOperatorGrants,
  removeOperator,
  tokenDigest,
} from './operator-credentials.js';
import { provisionWithLocalKeys } from './local-provision.js';

describe('operator credentials', () => {
  it('parses NAME[:ROLE] lists, viewer by default, and names the bad entry', () => {
    expect(parseOperatorGrants('alice:admin, bob')).toEqual([
      { name: 'alice', role: 'admin' },
      { name: 'bob', role: 'viewer' },
    ]);
    for (const [list, entry] of [['alice:root', 'alice:root'], ['Alice', 'Alice'], ['a:admin:x', 'a:admin:x'], ['', ''], ['bob,bob:admin', 'bob']]) {
      expect(() => parseOperatorGrants(list)).toThrow(InvalidInputError);
      expect(() => parseOperatorGrants(list)).toThrow(`operator '${entry}'`);
    }
  });

  it('issues 256-bit tokens, stores only their sha256, and finds each operator by its token alone', () => {
    const { credentials, tokens, scrapeToken } = issueOperatorCredentials([{ name: 'alice', role: 'admin' }, { name: 'bob', role: 'viewer' }]);
    const alice = tokens.get('alice') as string;
    expect(alice).toMatch(/^cnop_[A-Za-z0-9_-]{43}$/);
    expect(scrapeToken).toMatch(/^cnscrape_[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(credentials)).not.toContain(alice.slice(5));
    expect(credentials.operators.alice.tokenSha256).toBe(tokenDigest(alice));
    expect(findOperator(credentials, alice)).toEqual({ name: 'alice', role: 'admin', tokenSha256: tokenDigest(alice) });
    expect(findOperator(credentials, tokens.get('bob') as string)?.role).toBe('viewer');
    expect(findOperator(credentials, scrapeToken)).toBeUndefined();
    expect(isScrapeToken(credentials, scrapeToken)).toBe(true);
    expect(isScrapeToken(credentials, alice)).toBe(false);
  });

  it('accepts no token but the issued ones', () => {
    const { credentials, tokens, scrapeToken } = issueOperatorCredentials([{ name: 'alice', role: 'admin' }]);
    const issued = new Set([...tokens.values(), scrapeToken]);
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (token) => {
        fc.pre(!issued.has(token));
        expect(findOperator(credentials, token)).toBeUndefined();
        expect(isScrapeToken(credentials, token)).toBe(false);
      }),
    );
  });
});

describe('operators file of a provision directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cn-operators-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written by provision (0600) with each operator and a scrape token, shown once in the result', async () => {
    const result = await provisionWithLocalKeys({ outDir: join(dir, 'kits'), participants: ['p1'], serverHost: '127.0.0.1', serverPort: 0, operators: [{ name: 'alice', role: 'admin' }, { name: 'bob', role: 'viewer' }] });
    const file = operatorCredentialsPath(join(dir, 'kits'));
    expect(result.operatorsFile).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = loadOperatorCredentials(file);
    expect(Object.keys(stored.operators)).toEqual(['alice', 'bob']);
    expect(findOperator(stored, result.operatorTokens.get('alice')?.token as string)?.role).toBe('admin');
    expect(isScrapeToken(stored, result.scrapeToken)).toBe(true);
    const text = readFileSync(file, 'utf8');
    for (const { token } of result.operatorTokens.values()) expect(text).not.toContain(token);
  });

  it('adds, rotates and removes operators; the old token stops working', async () => {
    await provisionWithLocalKeys({ outDir: dir, participants: ['p1'], serverHost: '127.0.0.1', serverPort: 0 });
    const carol = addOperator(dir, { name: 'carol', role: 'viewer' });
    expect(carol.replaced).toBe(false);
    expect(carol.scrapeToken).toBeUndefined();
    expect(() => addOperator(dir, { name: 'carol', role: 'admin' })).toThrow(/already has a token; pass --replace/);
    const rotated = addOperator(dir, { name: 'carol', role: 'admin' }, { replace: true });
    const stored = loadOperatorCredentials(operatorCredentialsPath(dir));
    expect(findOperator(stored, carol.token)).toBeUndefined();
    expect(findOperator(stored, rotated.token)?.role).toBe('admin');
    removeOperator(dir, 'carol');
    expect(loadOperatorCredentials(operatorCredentialsPath(dir)).operators).toEqual({});
    expect(() => removeOperator(dir, 'carol')).toThrow(NotFoundError);
  });

  it('creates the file with a scrape token for a directory provisioned before operators existed, and refuses a directory that is not a provision', async () => {
    await provisionWithLocalKeys({ outDir: dir, participants: ['p1'], serverHost: '127.0.0.1', serverPort: 0 });
    rmSync(operatorCredentialsPath(dir));
    const added = addOperator(dir, { name: 'alice', role: 'admin' });
    expect(isScrapeToken(loadOperatorCredentials(operatorCredentialsPath(dir)), added.scrapeToken as string)).toBe(true);
    expect(() => addOperator(join(dir, 'nowhere'), { name: 'alice', role: 'admin' })).toThrow(/has no server\/kit.json/);
    expect(() => addOperator(dir, { name: 'Not Valid', role: 'admin' })).toThrow(InvalidInputError);
  });
});
