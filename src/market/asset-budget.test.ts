import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../core/index.js';
import { asset as assetRecord } from '../core/storage/market-contract.js';
import { PrivacyLedger, type PrivacyEvent } from '../privacy/dp/index.js';
import { assetBudgetStanding, assetScope, checkPurchaseBudget, recordGrantJob } from './asset-budget.js';

const buyer = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const asset = assetRecord('4', { owner: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266', rows: 100, budget: { epsilon: 10, delta: 1e-5 }, unit: { rounds: 5, epsilon: 3 } });
// 100 DP-SGD steps at q = 0.01, sigma = 1: epsilon about 1.22 (improved conversion, delta 1e-5).
const step: PrivacyEvent = { kind: 'sampled-gaussian', samplingRate: 0.01, noiseMultiplier: 1, steps: 100 };

let storage: Storage;
beforeEach(async () => {
  storage = openStorage({ path: ':memory:' });
  await storage.market.upsertAsset(asset);
});
afterEach(() => storage.close());

async function grantOf(units: number, used: number, status: 'active' | 'spent' | 'revoked'): Promise<void> {
  const n = (await storage.market.listFills()).length;
  const hash = (side: string): string => `0x${side}${n}`;
  for (const side of ['bid', 'ask'] as const) {
    await storage.market.insertOrder({ hash: hash(side), assetId: '4', side, price: 1n, units, remaining: 0, expiry: 9e9, nonce: BigInt(n), maker: side === 'bid' ? buyer.toLowerCase() : asset.owner, signature: '0x', intent: null, status: 'filled', createdAt: n, updatedAt: n });
  }
  const fill = `f${n}`;
  await storage.market.insertFill({ id: fill, assetId: '4', bidHash: hash('bid'), askHash: hash('ask'), buyer: buyer.toLowerCase(), seller: asset.owner, units, price: 1n, status: 'settled', chainFillId: String(n), txHash: null, createdAt: n, updatedAt: n });
  await storage.market.insertGrant({ id: `g${n}`, fillId: fill, assetId: '4', buyer: buyer.toLowerCase(), jobConfigHash: 'c'.repeat(64), units, used, epsilonPerUnit: 3, expiry: 9e9, signed: {}, status, createdAt: n, updatedAt: n });
}

describe('the privacy budget as the asset limit', () => {
  it('opens the buyer scope with the owner per-buyer budget, and counts spent and reserved epsilon', async () => {
    expect(await assetBudgetStanding(storage, asset, buyer)).toMatchObject({ budget: 10, spent: 0, reserved: 0, left: 10 });
    expect(await storage.privacy.getBudget(assetScope('4', buyer))).toMatchObject({ epsilon: 10, delta: 1e-5 });
    await grantOf(2, 1, 'active');
    await grantOf(3, 0, 'revoked');
    const ledger = new PrivacyLedger(storage);
    await ledger.charge({ jobId: 'j1', round: 0, charges: [{ scope: assetScope('4', buyer), events: [step] }] });
    const standing = await assetBudgetStanding(storage, asset, buyer);
    expect(standing.spent).toBeGreaterThan(1);
    expect(standing.spent).toBeLessThan(1.5);
    expect(standing.reserved).toBe(3);
    expect(standing.left).toBeCloseTo(10 - standing.spent - 3, 10);
  });

  it('refuses a purchase past what is left, naming it and how many units still fit, and charges nothing', async () => {
    await grantOf(2, 0, 'active');
    // 10 - 6 reserved = 4 left: one unit of 3 fits, two do not.
    expect((await checkPurchaseBudget(storage, asset, buyer, 1)).left).toBe(4);
    const refusal = checkPurchaseBudget(storage, asset, buyer, 2);
    await expect(refusal).rejects.toMatchObject({ code: 'MARKET_BUDGET_EXCEEDED' });
    await expect(checkPurchaseBudget(storage, asset, buyer, 2)).rejects.toThrow(/epsilon 4\.0000 left.*Buy at most 1 unit/);
    expect(await storage.privacy.listCharges(assetScope('4', buyer))).toEqual([]);
  });

  it('keeps buyers apart: one buyer spending does not use up another one budget', async () => {
    await grantOf(3, 0, 'active');
    await expect(checkPurchaseBudget(storage, asset, buyer, 1)).rejects.toMatchObject({ code: 'MARKET_BUDGET_EXCEEDED' });
    expect((await checkPurchaseBudget(storage, asset, '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', 3)).left).toBe(10);
  });

  it('a job run under a grant uses one unit: it is no longer reserved, and the grant is spent with its last unit', async () => {
    await grantOf(2, 0, 'active');
    expect((await assetBudgetStanding(storage, asset, buyer)).reserved).toBe(6);
    expect(await recordGrantJob(storage, 'g0', 50)).toMatchObject({ used: 1, status: 'active', updatedAt: 50 });
    expect((await assetBudgetStanding(storage, asset, buyer)).reserved).toBe(3);
    expect(await recordGrantJob(storage, 'g0', 60)).toMatchObject({ used: 2, status: 'spent' });
    expect(await storage.market.getGrant('g0')).toMatchObject({ used: 2, status: 'spent', updatedAt: 60 });
    expect((await assetBudgetStanding(storage, asset, buyer)).reserved).toBe(0);
    // A revoked grant stays as it is, and a grant this store never issued is no one's to count.
    await grantOf(1, 0, 'revoked');
    expect(await recordGrantJob(storage, 'g1', 70)).toMatchObject({ used: 0, status: 'revoked' });
    expect(await recordGrantJob(storage, 'g-elsewhere', 70)).toBeUndefined();
  });
});
