import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../core/index.js';
import { demoConfig, prepareCoordinatedJob } from '../fl/index.js';
import { PrivacyLedger } from '../privacy/dp/index.js';
import { accessGrantToJson, assetScope, jobConfigHash, signAccessGrant } from '../market/index.js';
import { marketJob } from './market-job.js';

const operator = privateKeyToAccount('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
const domain = { name: 'CipherNexus Market', version: '1', chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } as const;
const buyer = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as const;
const config = { ...demoConfig({ rounds: 2 }), privacy: { dp: { mode: 'client', noiseMultiplier: 6, clipNorm: 5, budget: { epsilon: 2 } } } };

let dir: string;
let storage: Storage;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-market-job-'));
  storage = openStorage({ path: ':memory:' });
});
afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

async function files(job: object, grantFor: object = job): Promise<{ grant: string; config: string }> {
  const signed = await signAccessGrant(operator, domain, { fillId: 9n, assetId: 4n, buyer, jobConfigHash: jobConfigHash(grantFor), units: 1, expiry: 2_000_000_000 });
  writeFileSync(join(dir, 'grant.json'), JSON.stringify(accessGrantToJson(signed)));
  writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
  return { grant: join(dir, 'grant.json'), config: join(dir, 'job.json') };
}

describe('serve --grant', () => {
  it("sends the grant and the file's configuration, and charges the asset's scope for the buyer", async () => {
    await new PrivacyLedger(storage).setBudget(assetScope('4', buyer), { epsilon: 6, delta: 1e-5 });
    const f = await files(config);
    const job = await marketJob(f.grant, f.config, await prepareCoordinatedJob(config), storage);
    expect(job.prepared.datasetId).toBe(assetScope('4', buyer).id);
    expect(jobConfigHash(job.market.config)).toBe(jobConfigHash(config));
  });

  it('refuses a missing grant file, another configuration, a job without DP, and a store without the asset budget', async () => {
    const prepared = await prepareCoordinatedJob(config);
    await expect(marketJob(join(dir, 'none.json'), join(dir, 'job.json'), prepared, storage)).rejects.toMatchObject({ code: 'MARKET_GRANT_UNREADABLE' });
    const other = await files({ ...config, rounds: 3 }, config);
    await expect(marketJob(other.grant, other.config, prepared, storage)).rejects.toMatchObject({ code: 'MARKET_GRANT_CONFIG_MISMATCH' });
    const plain = demoConfig({ rounds: 2 });
    const noDp = await files(plain);
    await expect(marketJob(noDp.grant, noDp.config, await prepareCoordinatedJob(plain), storage)).rejects.toMatchObject({ code: 'MARKET_JOB_NEEDS_DP' });
    const f = await files(config);
    await expect(marketJob(f.grant, f.config, prepared, storage)).rejects.toMatchObject({ code: 'MARKET_BUDGET_UNKNOWN' });
  });
});
