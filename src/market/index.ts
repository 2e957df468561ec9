/**
 * The data marketplace (issue 13): EIP-712 signed orders for access units of a data asset and the
 * off-chain limit order book that matches them before settlement on the MarketEscrow contract.
 */
export { OrderError, type OrderErrorCode } from './errors.js';
export {
  MARKET_DOMAIN_NAME,
  MARKET_DOMAIN_VERSION,
  ORDER_SIDE_CODES,
  ORDER_TYPES,
  OrderSchema,
  SignedOrderSchema,
  assertOrderLive,
  marketDomain,
  orderHash,
  orderTypedData,
  parseOrder,
  parseSignedOrder,
  signOrder,
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
