import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobConfigHash, signAccessGrant, type AccessGrant } from './access-grant.js';
import { FileGrantUsage, GrantGate } from './grant-gate.js';

const operator = privateKeyToAccount('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
const domain = { name: 'CipherNexus Market', version: '1', chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } as const;
const config = { rounds: 3, model: { type: 'mlp', hidden: [32] } };
const grant: AccessGrant = { fillId: 1n, assetId: 4n, buyer: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', jobConfigHash: jobConfigHash(config), units: 2, expiry: 2_000_000_000 };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-grant-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const gate = (revoked = new Set<bigint>()): GrantGate =>
  new GrantGate({ domain, issuer: operator.address, assetId: 4n, usage: new FileGrantUsage(join(dir, 'usage.json')), revoked: async (fill) => revoked.has(fill), now: () => 1_800_000_000 });

describe('GrantGate', () => {
  it('admits as many distinct jobs as the grant has units, re-admits a known job for free, and remembers across restarts', async () => {
    const signed = await signAccessGrant(operator, domain, grant);
    expect((await gate().admit(signed, 'job-a', jobConfigHash(config))).remaining).toBe(1);
    expect((await gate().admit(signed, 'job-a', jobConfigHash(config))).remaining).toBe(1);
    expect((await gate().admit(signed, 'job-b', jobConfigHash(config))).remaining).toBe(0);
    await expect(gate().admit(signed, 'job-c', jobConfigHash(config))).rejects.toMatchObject({ code: 'GRANT_SPENT' });
    expect(new FileGrantUsage(join(dir, 'usage.json')).jobsOf(1n)).toEqual(['job-a', 'job-b']);
  });

  it('refuses another asset, another configuration and a revoked grant, spending nothing', async () => {
    const other = await signAccessGrant(operator, domain, { ...grant, assetId: 5n });
    await expect(gate().admit(other, 'job-a', jobConfigHash(config))).rejects.toMatchObject({ code: 'GRANT_WRONG_ASSET' });
    const signed = await signAccessGrant(operator, domain, grant);
    await expect(gate().admit(signed, 'job-a', jobConfigHash({ ...config, rounds: 300 }))).rejects.toMatchObject({ code: 'GRANT_CONFIG_MISMATCH' });
    await expect(gate(new Set([1n])).admit(signed, 'job-a', jobConfigHash(config))).rejects.toMatchObject({ code: 'GRANT_REVOKED' });
    expect(new FileGrantUsage(join(dir, 'usage.json')).jobsOf(1n)).toEqual([]);
  });

  it('refuses a damaged usage file instead of starting from zero', () => {
    writeFileSync(join(dir, 'usage.json'), '{"1": ["job-a"');
    expect(() => new FileGrantUsage(join(dir, 'usage.json'))).toThrow(expect.objectContaining({ code: 'GRANT_USAGE_INVALID' }));
    writeFileSync(join(dir, 'usage.json'), '{"1": "job-a"}');
    expect(() => new FileGrantUsage(join(dir, 'usage.json'))).toThrow(expect.objectContaining({ code: 'GRANT_USAGE_INVALID' }));
  });
});
