/**
 * The data marketplace (issue 13): EIP-712 signed orders for access units of a data asset and the
 * off-chain limit order book that matches them before settlement on the MarketEscrow contract;
 * access grants and the owner's gate; the privacy budget as the asset's limit; the owner's copy
 * encrypted at rest.
 */
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
export { AssetBudgetError, assetBudgetStanding, assetScope, checkPurchaseBudget, recordGrantJob, type AssetBudgetStanding } from './asset-budget.js';
export { AssetVaultError, openAsset, sealAsset, vaultHeader } from './asset-vault.js';
export { OrderError, type OrderErrorCode } from './errors.js';
export {
  ORDER_SIDE_CODES,
  OrderSchema,
  SignedOrderSchema,
  assertOrderLive,
  marketDomain,
  orderHash,
  orderTypedData,
  parseOrder,
  parseSignedOrder,
  signOrder,
  toChainOrder,
  toChainSignedOrder,
  toOrderJson,
  verifyOrder,
  type MarketDomain,
  type Order,
  type OrderJson,
  type OrderSide,
  type ParseOrderOptions,
  type SignedOrder,
  type SignedOrderJson,
} from './order.js';
export type { DepthLevel } from './book-side.js';
export { OrderBook, type BestPrices, type BookDepth, type Fill, type PlaceResult, type Removal } from './order-book.js';
export {
  ColumnTypeSchema,
  DEFAULT_MISSING_MARKERS,
  DataColumnSchema,
  DataSchemaSchema,
  parseDataSchema,
  schemaHash,
  type ColumnType,
  type DataSchema,
  type DataSchemaInput,
} from './data-schema.js';
export { canonicalCsv, contentHash, parseCsvTable, readCsvTable, type DataTable, type ReadTableOptions } from './data-table.js';
export {
  ColumnQualitySchema,
  LabelBalanceSchema,
  MODIFIED_Z_THRESHOLD,
  QUALITY_REPORT_VERSION,
  QualityReportSchema,
  RobustSpreadSchema,
  SchemaProblemCodeSchema,
  SchemaProblemSchema,
  assessQuality,
  labelBalance,
  qualityReportFromCsv,
  robustSpread,
  type ColumnQuality,
  type LabelBalance,
  type QualityReport,
  type RobustSpread,
  type SchemaProblem,
} from './quality.js';
export {
  QualityReportError,
  SignedQualityReportSchema,
  signQualityReport,
  verifyQualityReport,
  type ExpectedReportSubject,
  type QualityReportErrorCode,
  type SignedQualityReport,
} from './quality-report.js';
export {
  RATING_MAX,
  RATING_MIN,
  RatingBook,
  RatingError,
  RatingSchema,
  weightedRating,
  type CompletedPurchase,
  type Rating,
  type RatingErrorCode,
  type RatingInput,
  type ReputationOf,
  type WeightedRating,
} from './rating.js';
export { CONSENT_PURPOSES, REGIONS, consentFlags, consentNames, regionFlags, regionNames } from './asset-flags.js';
export { ComplianceError, checkCompliance, parseBuyerIntent, type BuyerIntent } from './compliance.js';
export { MarketError, Marketplace, type DescribeJob, type MarketplaceOptions, type Placement, type SettledSale } from './marketplace.js';
