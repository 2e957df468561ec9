import type { Order } from './order.js';

/** An order resting on one side of the book and the units it still offers. */
export class RestingOrder<O extends Order> {
  /** False once filled, cancelled or expired; the level's queue forgets it lazily. */
  open = true;

  constructor(
    readonly order: O,
    /** Lower-case maker address, to compare makers without re-normalising. */
    readonly maker: string,
    /** The maker's entries in the book's nonce index, where this order's nonce is marked spent when it closes. */
    readonly makerNonces: Map<bigint, RestingOrder<O> | null>,
    /** Expiry in unix seconds as a number: exact below 2^53 and monotone above, which is all a comparison with the clock needs. */
    readonly expiry: number,
    readonly level: PriceLevel<O>,
    /** Unfilled units; kept as they were when the order left the book, for the caller's accounting. */
    public remaining: bigint,
  ) {}
}

/** All orders at one price on one side, first come first served. */
export class PriceLevel<O extends Order> {
  /** FIFO queue; entries before `head` are gone, and closed entries after it are skipped when reached. */
  orders: RestingOrder<O>[] = [];
  head = 0;
  /** Open orders at this price and the units they offer, kept as orders come and go. */
  openOrders = 0;
  openUnits = 0n;

  constructor(readonly price: bigint) {}
}

/** Units and order count at one price, as `depth` reports it. */
export interface DepthLevel {
  price: bigint;
  units: bigint;
  orders: number;
}

/** Queues shorter than this are not worth compacting; longer ones are compacted once half is dead. */
const COMPACT_AT = 256;

/**
 * One side of a limit order book: price levels in a Map, their prices in a binary heap whose top is
 * the best price, and a FIFO queue per level. Every price in the Map is in the heap exactly once;
 * a level left without open orders stays until it surfaces at the top, so removal never searches the heap.
 */
export class BookSide<O extends Order> {
  private readonly levels = new Map<bigint, PriceLevel<O>>();
  private readonly heap: bigint[] = [];

  /** `highestFirst` for bids (the best bid is the highest), false for asks. */
  constructor(private readonly highestFirst: boolean) {}

  /** Queues an order behind those already at its price. */
  add(order: O, maker: string, makerNonces: Map<bigint, RestingOrder<O> | null>, expiry: number, remaining: bigint): RestingOrder<O> {
    let level = this.levels.get(order.price);
    if (level === undefined) {
      level = new PriceLevel<O>(order.price);
      this.levels.set(order.price, level);
      this.heapPush(order.price);
    }
    const resting = new RestingOrder(order, maker, makerNonces, expiry, level, remaining);
    level.orders.push(resting);
    level.openOrders++;
    level.openUnits += remaining;
    return resting;
  }

  /** The best level that still has an open order (expired ones included: the matcher judges those). */
  bestLevel(): PriceLevel<O> | undefined {
    while (this.heap.length > 0) {
      const level = this.levels.get(this.heap[0]) as PriceLevel<O>;
      if (level.openOrders > 0) return level;
      this.levels.delete(level.price);
      this.heapPop();
    }
    return undefined;
  }

  /** The earliest open order of a level that has one. */
  front(level: PriceLevel<O>): RestingOrder<O> {
    const { orders } = level;
    let head = level.head;
    while (!orders[head].open) head++;
    if (head >= COMPACT_AT && head * 2 >= orders.length) {
      orders.splice(0, head);
      head = 0;
    }
    level.head = head;
    return orders[head];
  }

  /** Takes `units` (at most its remaining) from a resting order; it closes when nothing is left. */
  fill(resting: RestingOrder<O>, units: bigint): void {
    resting.remaining -= units;
    resting.level.openUnits -= units;
    if (resting.remaining === 0n) this.close(resting);
  }

  /** Takes a resting order off the book with its remaining units (cancelled, expired or self-trade). */
  remove(resting: RestingOrder<O>): void {
    resting.level.openUnits -= resting.remaining;
    this.close(resting);
  }

  /** Up to `limit` levels, best first, counting only orders open and unexpired at `now`; changes nothing. */
  depth(limit: number, now: number): DepthLevel[] {
    const out: DepthLevel[] = [];
    if (limit <= 0) return out;
    const top = this.bestLevel();
    if (top === undefined) return out;
    // Usually the top level alone answers `best`; only a top level of expired orders needs the sort.
    const first = summarise(top, now);
    if (first !== undefined && limit === 1) return [first];
    const prices = [...this.levels.keys()].sort(this.highestFirst ? (a, b) => (a > b ? -1 : a < b ? 1 : 0) : (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const price of prices) {
      const level = summarise(this.levels.get(price) as PriceLevel<O>, now);
      if (level === undefined) continue;
      out.push(level);
      if (out.length === limit) break;
    }
    return out;
  }

  private close(resting: RestingOrder<O>): void {
    resting.open = false;
    const level = resting.level;
    if (--level.openOrders === 0) {
      level.orders.length = 0;
      level.head = 0;
    }
  }

  private better(a: bigint, b: bigint): boolean {
    return this.highestFirst ? a > b : a < b;
  }

  private heapPush(price: bigint): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(price);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.better(price, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = price;
  }

  private heapPop(): void {
    const heap = this.heap;
    const last = heap.pop() as bigint;
    const n = heap.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.better(heap[right], heap[left]) ? right : left;
      if (!this.better(heap[child], last)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = last;
  }
}

function summarise<O extends Order>(level: PriceLevel<O>, now: number): DepthLevel | undefined {
  let units = 0n;
  let orders = 0;
  for (let i = level.head; i < level.orders.length; i++) {
    const resting = level.orders[i];
    if (!resting.open || resting.expiry < now) continue;
    units += resting.remaining;
    orders++;
  }
  return orders === 0 ? undefined : { price: level.price, units, orders };
}
