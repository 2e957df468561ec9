export {
  ACCESS_GRANT_TYPES,
  AccessGrantError,
  accessGrantFromJson,
  accessGrantToJson,
  jobConfigHash,
  signAccessGrant,
  verifyAccessGrant,
  type AccessGrant,
  type SignedAccessGrant,
} from './access-grant.js';
export { FileGrantUsage, GrantGate, type Admission, type GrantGateOptions, type GrantUsage } from './grant-gate.js';
export { AssetBudgetError, assetBudgetStanding, assetScope, checkPurchaseBudget, type AssetBudgetStanding } from './asset-budget.js';
export { AssetVaultError, openAsset, sealAsset, vaultHeader } from './asset-vault.js';
