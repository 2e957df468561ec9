import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { accessGrantFromJson, accessGrantToJson, jobConfigHash, signAccessGrant, verifyAccessGrant, type AccessGrant } from './access-grant.js';

// Hardhat's well-known development keys: anyone may use them, nobody may trust them.
const operator = privateKeyToAccount('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
const stranger = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
const domain = { name: 'CipherNexus Market', version: '1', chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } as const;
const grant: AccessGrant = {
  fillId: 7n,
  assetId: 2n ** 70n,
  buyer: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  jobConfigHash: jobConfigHash({ rounds: 5, model: { type: 'mlp' } }),
  units: 2,
  expiry: 2_000_000_000,
};
const NOW = 1_800_000_000;

describe('access grants', () => {
  it('names a job configuration by the hash of its canonical JSON, whatever the key order', () => {
    expect(jobConfigHash({ model: { type: 'mlp' }, rounds: 5 })).toBe(grant.jobConfigHash);
    expect(jobConfigHash({ model: { type: 'mlp' }, rounds: 6 })).not.toBe(grant.jobConfigHash);
    expect(grant.jobConfigHash).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('verifies a grant signed by the operator, through its JSON form', async () => {
    const signed = await signAccessGrant(operator, domain, grant);
    const parsed = accessGrantFromJson(JSON.parse(JSON.stringify(accessGrantToJson(signed))));
    expect(parsed).toEqual(signed);
    expect(await verifyAccessGrant(domain, parsed, operator.address, NOW)).toEqual(grant);
  });

  it('refuses a grant signed by anyone else, changed after signing, or from another chain or escrow', async () => {
    const signed = await signAccessGrant(operator, domain, grant);
    const forged = await signAccessGrant(stranger, domain, grant);
    await expect(verifyAccessGrant(domain, forged, operator.address, NOW)).rejects.toMatchObject({ code: 'GRANT_SIGNATURE_INVALID' });
    for (const change of [{ units: 3 }, { buyer: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC' as const }, { assetId: 1n }, { expiry: grant.expiry + 1 }, { fillId: 8n }]) {
      await expect(verifyAccessGrant(domain, { ...signed, grant: { ...grant, ...change } }, operator.address, NOW)).rejects.toMatchObject({ code: 'GRANT_SIGNATURE_INVALID' });
    }
    await expect(verifyAccessGrant({ ...domain, chainId: 1 }, signed, operator.address, NOW)).rejects.toMatchObject({ code: 'GRANT_SIGNATURE_INVALID' });
    await expect(verifyAccessGrant({ ...domain, verifyingContract: stranger.address }, signed, operator.address, NOW)).rejects.toMatchObject({ code: 'GRANT_SIGNATURE_INVALID' });
  });

  it('refuses an expired grant', async () => {
    const signed = await signAccessGrant(operator, domain, grant);
    await expect(verifyAccessGrant(domain, signed, operator.address, grant.expiry)).rejects.toMatchObject({ code: 'GRANT_EXPIRED' });
  });

  it('refuses malformed JSON with one line naming the field', () => {
    const json = accessGrantToJson({ grant, signature: `0x${'11'.repeat(65)}` }) as { grant: Record<string, unknown>; signature: string };
    expect(() => accessGrantFromJson({ ...json, grant: { ...json.grant, units: 0 } })).toThrow(/units/);
    expect(() => accessGrantFromJson({ ...json, grant: { ...json.grant, fillId: '-1' } })).toThrow(/fillId/);
    expect(() => accessGrantFromJson({ ...json, grant: { ...json.grant, buyer: '0x12' } })).toThrow(/buyer/);
    expect(() => accessGrantFromJson({ ...json, signature: '0x00' })).toThrow(/signature/);
    expect(() => accessGrantFromJson({ ...json, extra: 1 })).toThrow(expect.objectContaining({ code: 'GRANT_INVALID' }));
  });
});
