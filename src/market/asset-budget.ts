import { CipherNexusError, type MarketAssetRecord, type MarketGrantRecord, type Storage } from '../core/index.js';
import { PrivacyLedger, type PrivacyScope } from '../privacy/dp/index.js';

/**
 * The privacy budget as the asset's limit: every job a buyer runs on an asset is charged to one
 * ledger scope (the asset's data, per buyer), whose budget is the owner's per-buyer budget. A
 * purchase is checked against it before settlement, counting what the buyer has spent, what its
 * unused grants may still spend, and what this purchase may spend — each unit at its full epsilon
 * (basic composition, an upper bound). At run time the ledger's own RDP charge before every round
 * stays the authority.
 */

/** A purchase would let the buyer's jobs on an asset exceed the owner's per-buyer budget (`MARKET_BUDGET_EXCEEDED`). */
export class AssetBudgetError extends CipherNexusError {}

/** The ledger scope a buyer's jobs on an asset are charged to. */
export function assetScope(assetId: string, buyer: string): PrivacyScope {
  return { kind: 'dataset', id: `asset/${assetId}/${buyer.toLowerCase()}` };
}

/** Where the buyer stands on an asset's budget. */
export interface AssetBudgetStanding {
  scope: PrivacyScope;
  budget: number;
  /** Spent by the buyer's jobs so far, from the ledger. */
  spent: number;
  /** What the buyer's active grants' unused units may still spend. */
  reserved: number;
  /** What a new purchase may still spend. */
  left: number;
}

/** The buyer's standing on `asset`'s budget, opening the scope with the owner's per-buyer budget if the buyer has none yet. */
export async function assetBudgetStanding(storage: Storage, asset: MarketAssetRecord, buyer: string): Promise<AssetBudgetStanding> {
  const ledger = new PrivacyLedger(storage);
  const scope = assetScope(asset.id, buyer);
  if (!(await storage.privacy.getBudget(scope))) await ledger.setBudget(scope, asset.budget);
  const { epsilon: spent, budget } = await ledger.spent(scope);
  const grants = await storage.market.listGrants({ assetId: asset.id, buyer: buyer.toLowerCase() });
  const reserved = grants.filter((g) => g.status === 'active').reduce((sum, g) => sum + (g.units - g.used) * g.epsilonPerUnit, 0);
  return { scope, budget: budget.epsilon, spent, reserved, left: Math.max(0, budget.epsilon - spent - reserved) };
}

/** Refuses, before anything settles, a purchase of `units` of `asset` whose jobs could take `buyer` past the asset's budget. */
export async function checkPurchaseBudget(storage: Storage, asset: MarketAssetRecord, buyer: string, units: number): Promise<AssetBudgetStanding> {
  const standing = await assetBudgetStanding(storage, asset, buyer);
  const asked = units * asset.unit.epsilon;
  // A hair of slack so that exactly using up the budget is not refused by rounding.
  if (asked > standing.left + 1e-12) {
    const affordable = Math.floor((standing.left + 1e-12) / asset.unit.epsilon);
    throw new AssetBudgetError(
      'MARKET_BUDGET_EXCEEDED',
      `asset ${asset.id} has epsilon ${standing.left.toFixed(4)} left for ${buyer} (budget ${standing.budget}, spent ${standing.spent.toFixed(4)}, ` +
        `reserved by unused grants ${standing.reserved.toFixed(4)}); ${units} unit(s) at epsilon ${asset.unit.epsilon} each ask ${asked.toFixed(4)}. ` +
        (affordable > 0 ? `Buy at most ${affordable} unit(s).` : 'This buyer can buy no more access to this asset.'),
      { assetId: asset.id, buyer, left: standing.left, asked },
    );
  }
  return standing;
}

/**
 * Records a job run to its end under grant `grantId`: one unit used, so its epsilon is no longer
 * reserved (the ledger now holds what the job spent), and the grant spent once every unit is. Counted
 * at the end rather than the start so that, while the job runs, its unit stays reserved: the
 * reservation errs towards refusing a purchase, never towards overspending. Undefined when the store
 * holds no such grant (it was bought against another store).
 */
export async function recordGrantJob(storage: Storage, grantId: string, now: number): Promise<MarketGrantRecord | undefined> {
  const grant = await storage.market.getGrant(grantId);
  if (!grant || grant.status === 'revoked') return grant;
  const used = grant.used + 1;
  const change = { used, status: used >= grant.units ? ('spent' as const) : grant.status, updatedAt: now };
  await storage.market.updateGrant(grantId, change);
  return { ...grant, ...change };
}
