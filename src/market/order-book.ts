import { BookSide, type DepthLevel, type RestingOrder } from './book-side.js';
import { OrderError } from './errors.js';
import { assertOrderLive, type Order, type OrderSide } from './order.js';

/** A trade between a bid and an ask, at the resting order's price: `ask.price <= price <= bid.price`. */
export interface Fill<O extends Order = Order> {
  bid: O;
  ask: O;
  units: bigint;
  price: bigint;
  /** The side of the incoming order, the one that took liquidity. */
  taker: OrderSide;
}

/** An order taken off the book and the units it still had. */
export interface Removal<O extends Order = Order> {
  order: O;
  units: bigint;
}

/** What placing one order did to the book. */
export interface PlaceResult<O extends Order = Order> {
  /** Fills in execution order: best price first, then earliest arrival. */
  fills: Fill<O>[];
  /** Units of the incoming order left resting on the book (0 when it filled completely). */
  resting: bigint;
  /** Resting orders of the incoming order's own maker that it reached and cancelled (self-trade prevention). */
  selfTradeCancelled: readonly Removal<O>[];
  /** Expired resting orders the matcher reached and dropped; they never fill. */
  expired: readonly Removal<O>[];
}

/** The best price on each side among open, unexpired orders. */
export interface BestPrices {
  bid?: bigint;
  ask?: bigint;
}

/** Aggregated units per price, best first on each side. */
export interface BookDepth {
  bids: DepthLevel[];
  asks: DepthLevel[];
}

const NONE: readonly Removal<never>[] = Object.freeze([]);

/**
 * A limit order book for one data asset: price-time priority, partial fills, cancellation by
 * (maker, nonce), expiry and replay refusal. It trusts its caller to have checked signatures
 * (`verifyOrder`); it enforces everything that depends on the book's own state.
 *
 * Self-trade prevention cancels the resting order: when an incoming order reaches, in priority
 * order, a resting order of its own maker, that resting order leaves the book (reported in
 * `selfTradeCancelled`) and matching goes on. The newer order is taken as the maker's current
 * intent, and the book never crosses, as it would if the match were merely skipped.
 *
 * Expiry is lazy: an order is good through its expiry second; an expired resting order stays
 * until the matcher reaches it, then leaves without filling (reported in `expired`). `best` and
 * `depth` skip expired orders without removing them.
 *
 * Every (maker, nonce) placed or cancelled is remembered, so the book's memory grows with the
 * nonces it has seen, as the escrow contract's does.
 */
export class OrderBook<O extends Order = Order> {
  private readonly bids = new BookSide<O>(true);
  private readonly asks = new BookSide<O>(false);
  /** Every (maker, nonce) seen, by lower-case maker then nonce (no key string per order): the resting order while it is open, null after. */
  private readonly nonces = new Map<string, Map<bigint, RestingOrder<O> | null>>();

  constructor(readonly assetId: bigint) {}

  /** Matches `order` against the book at time `now` (unix seconds) and rests what is left; refuses bad, expired or replayed orders without changing the book. */
  place(order: O, now: bigint): PlaceResult<O> {
    if (order.assetId !== this.assetId) {
      throw new OrderError('ORDER_WRONG_ASSET', `order ${order.nonce} of ${order.maker} is for asset ${order.assetId} but this book trades asset ${this.assetId}; send it to that asset's book`);
    }
    if (order.price <= 0n || order.units <= 0n) {
      throw new OrderError('ORDER_INVALID', `order ${order.nonce} of ${order.maker} has price ${order.price} and units ${order.units}; both must be positive`);
    }
    assertOrderLive(order, now);
    const maker = order.maker.toLowerCase();
    const makerNonces = this.noncesOf(maker);
    if (makerNonces.has(order.nonce)) {
      throw new OrderError('ORDER_REPLAYED', `order nonce ${order.nonce} of ${order.maker} was already placed or cancelled; sign a new order with an unused nonce`);
    }

    const isBid = order.side === 'bid';
    const opposite = isBid ? this.asks : this.bids;
    const limit = order.price;
    const clock = Number(now);
    const fills: Fill<O>[] = [];
    let selfTradeCancelled: Removal<O>[] | undefined;
    let expired: Removal<O>[] | undefined;
    let remaining = order.units;

    while (remaining > 0n) {
      const level = opposite.bestLevel();
      if (level === undefined || (isBid ? level.price > limit : level.price < limit)) break;
      const resting = opposite.front(level);
      if (resting.expiry < clock || resting.maker === maker) {
        opposite.remove(resting);
        resting.makerNonces.set(resting.order.nonce, null);
        const removal = { order: resting.order, units: resting.remaining };
        if (resting.expiry < clock) (expired ??= []).push(removal);
        else (selfTradeCancelled ??= []).push(removal);
        continue;
      }
      const units = remaining < resting.remaining ? remaining : resting.remaining;
      fills.push(isBid ? { bid: order, ask: resting.order, units, price: level.price, taker: 'bid' } : { bid: resting.order, ask: order, units, price: level.price, taker: 'ask' });
      remaining -= units;
      opposite.fill(resting, units);
      if (!resting.open) resting.makerNonces.set(resting.order.nonce, null);
    }

    if (remaining > 0n) {
      const own = isBid ? this.bids : this.asks;
      makerNonces.set(order.nonce, own.add(order, maker, makerNonces, Number(order.expiry), remaining));
    } else {
      makerNonces.set(order.nonce, null);
    }
    return { fills, resting: remaining, selfTradeCancelled: selfTradeCancelled ?? NONE, expired: expired ?? NONE };
  }

  /**
   * Cancels the order (maker, nonce): returns what was resting, or undefined when nothing was.
   * The nonce is spent either way, as cancelling on chain spends it.
   */
  cancel(maker: string, nonce: bigint): Removal<O> | undefined {
    const makerNonces = this.noncesOf(maker.toLowerCase());
    const resting = makerNonces.get(nonce);
    makerNonces.set(nonce, null);
    if (!resting) return undefined;
    (resting.order.side === 'bid' ? this.bids : this.asks).remove(resting);
    return { order: resting.order, units: resting.remaining };
  }

  /** The units of order (maker, nonce) still on the book (0 when it is not there), expired or not. */
  restingUnits(maker: string, nonce: bigint): bigint {
    return this.nonces.get(maker.toLowerCase())?.get(nonce)?.remaining ?? 0n;
  }

  /** The best bid and ask among orders open and unexpired at `now`. */
  best(now: bigint): BestPrices {
    const clock = Number(now);
    return { bid: this.bids.depth(1, clock)[0]?.price, ask: this.asks.depth(1, clock)[0]?.price };
  }

  /** Up to `levels` prices on each side with their open, unexpired units at `now`, best first. */
  depth(levels: number, now: bigint): BookDepth {
    const clock = Number(now);
    return { bids: this.bids.depth(levels, clock), asks: this.asks.depth(levels, clock) };
  }

  private noncesOf(maker: string): Map<bigint, RestingOrder<O> | null> {
    let makerNonces = this.nonces.get(maker);
    if (makerNonces === undefined) {
      makerNonces = new Map();
      this.nonces.set(maker, makerNonces);
    }
    return makerNonces;
  }
}
