import type { MarketOrderRecord, MarketSide } from '../core/index.js';

/** Units and order count resting at one price, the price as a decimal string of NXS base units. */
export interface DepthLevelView {
  price: string;
  units: number;
  orders: number;
}

/** Both sides of an asset's book, best price first on each. */
export interface DepthView {
  bids: DepthLevelView[];
  asks: DepthLevelView[];
}

/** Whether an order still rests on the book at `now` (unix seconds): open, with units left, through its expiry second as the book counts it. */
export function restsOnBook(order: MarketOrderRecord, now: number): boolean {
  return order.status === 'open' && order.remaining > 0 && order.expiry >= now;
}

function side(orders: readonly MarketOrderRecord[], which: MarketSide, now: number, levels: number): DepthLevelView[] {
  const byPrice = new Map<bigint, { units: number; orders: number }>();
  for (const order of orders) {
    if (order.side !== which || !restsOnBook(order, now)) continue;
    const level = byPrice.get(order.price) ?? { units: 0, orders: 0 };
    level.units += order.remaining;
    level.orders += 1;
    byPrice.set(order.price, level);
  }
  // A buyer's best is the highest bid; a seller's, the lowest ask.
  const best = which === 'bid' ? (a: bigint, b: bigint) => (a > b ? -1 : a < b ? 1 : 0) : (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
  return [...byPrice.keys()]
    .sort(best)
    .slice(0, levels)
    .map((price) => ({ price: price.toString(), ...(byPrice.get(price) as { units: number; orders: number }) }));
}

/**
 * The book's depth from its stored orders: the units of open, unexpired orders summed per price,
 * at most `levels` prices a side. Read from the store rather than an `OrderBook`, which would need
 * the signed orders rebuilt and checked only to be summed here.
 */
export function bookDepth(orders: readonly MarketOrderRecord[], now: number, levels: number): DepthView {
  return { bids: side(orders, 'bid', now, levels), asks: side(orders, 'ask', now, levels) };
}
