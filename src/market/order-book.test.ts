import fc from 'fast-check';
import { keccak256, toHex, type Address } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { OrderError } from './errors.js';
import { marketDomain, signOrder, verifyOrder, type Order, type OrderSide, type SignedOrder } from './order.js';
import { OrderBook, type Fill } from './order-book.js';

const ASSET = 3n;
const T0 = 1_800_000_000n;
const MAKERS: Address[] = ['0x00000000000000000000000000000000000000a1', '0x00000000000000000000000000000000000000b2', '0x00000000000000000000000000000000000000c3', '0x00000000000000000000000000000000000000d4'];
const [alice, bob, carol] = MAKERS;

let nextNonce = 0n;
function mk(maker: Address, side: OrderSide, price: bigint, units: bigint, fields: Partial<Order> = {}): Order {
  return { assetId: ASSET, side, price, units, expiry: T0 + 1_000n, nonce: nextNonce++, maker, ...fields };
}

const keyOf = (o: Order): string => `${o.maker.toLowerCase()}:${o.nonce}`;
const show = (f: Fill): string => `${keyOf(f.bid)}<-${keyOf(f.ask)} ${f.units}@${f.price}`;

/**
 * The obviously correct matcher: every order in one array, each step a linear scan for the best
 * crossing, open, unexpired opposite order (price, then arrival). Same rules as the book: fills at
 * the resting price, self-trade cancels the resting order, (maker, nonce) is single-use.
 */
class ReferenceBook {
  private readonly orders: { order: Order; remaining: bigint; seq: number; open: boolean }[] = [];
  private readonly seen = new Set<string>();

  place(order: Order, now: bigint): Fill[] | string {
    if (order.assetId !== ASSET) return 'ORDER_WRONG_ASSET';
    if (now > order.expiry) return 'ORDER_EXPIRED';
    if (this.seen.has(keyOf(order))) return 'ORDER_REPLAYED';
    this.seen.add(keyOf(order));
    const fills: Fill[] = [];
    let remaining = order.units;
    while (remaining > 0n) {
      let best: (typeof this.orders)[number] | undefined;
      for (const r of this.orders) {
        if (!r.open || r.order.side === order.side || now > r.order.expiry) continue;
        if (order.side === 'bid' ? r.order.price > order.price : r.order.price < order.price) continue;
        const better = best === undefined || (order.side === 'bid' ? r.order.price < best.order.price : r.order.price > best.order.price) || (r.order.price === best.order.price && r.seq < best.seq);
        if (better) best = r;
      }
      if (best === undefined) break;
      if (best.order.maker === order.maker) {
        best.open = false;
        continue;
      }
      const units = remaining < best.remaining ? remaining : best.remaining;
      fills.push(order.side === 'bid' ? { bid: order, ask: best.order, units, price: best.order.price, taker: 'bid' } : { bid: best.order, ask: order, units, price: best.order.price, taker: 'ask' });
      remaining -= units;
      best.remaining -= units;
      if (best.remaining === 0n) best.open = false;
    }
    if (remaining > 0n) this.orders.push({ order, remaining, seq: this.orders.length, open: true });
    return fills;
  }

  cancel(maker: Address, nonce: bigint): void {
    this.seen.add(`${maker}:${nonce}`);
    for (const r of this.orders) if (r.order.maker === maker && r.order.nonce === nonce) r.open = false;
  }

  /** Open, unexpired units per price, best first. */
  depth(side: OrderSide, now: bigint): { price: bigint; units: bigint; orders: number }[] {
    const byPrice = new Map<bigint, { price: bigint; units: bigint; orders: number }>();
    for (const r of this.orders) {
      if (!r.open || r.order.side !== side || now > r.order.expiry) continue;
      const level = byPrice.get(r.order.price) ?? { price: r.order.price, units: 0n, orders: 0 };
      level.units += r.remaining;
      level.orders++;
      byPrice.set(r.order.price, level);
    }
    return [...byPrice.values()].sort((a, b) => (side === 'bid' ? Number(b.price - a.price) : Number(a.price - b.price)));
  }
}

type Op =
  | { kind: 'place'; maker: number; side: OrderSide; price: number; units: number; ttl: number; nonce: number; otherAsset: boolean }
  | { kind: 'cancel'; maker: number; nonce: number }
  | { kind: 'advance'; seconds: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('place' as const),
      maker: fc.integer({ min: 0, max: 3 }),
      side: fc.constantFrom<OrderSide>('bid', 'ask'),
      price: fc.integer({ min: 1, max: 8 }),
      units: fc.integer({ min: 1, max: 6 }),
      ttl: fc.integer({ min: -2, max: 30 }),
      nonce: fc.integer({ min: 0, max: 40 }),
      otherAsset: fc.nat(9).map((n) => n === 0),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), maker: fc.integer({ min: 0, max: 3 }), nonce: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), seconds: fc.integer({ min: 1, max: 10 }) }) },
);

function codeOf(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    if (error instanceof OrderError) return error.code;
    throw error;
  }
}

describe('OrderBook against the reference matcher (fast-check)', () => {
  it('gives identical fills and refusals, conserves units, never crosses, never fills a closed order', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 150 }), (ops) => {
        const book = new OrderBook(ASSET);
        const ref = new ReferenceBook();
        let now = T0;
        const accepted = new Map<string, { order: Order; filled: bigint; removed: bigint }>();
        const closed = new Set<string>();
        const close = (o: Order, units: bigint): void => {
          const entry = accepted.get(keyOf(o)) as { removed: bigint };
          entry.removed += units;
          closed.add(keyOf(o));
        };

        for (const op of ops) {
          if (op.kind === 'advance') {
            now += BigInt(op.seconds);
          } else if (op.kind === 'cancel') {
            const removal = book.cancel(MAKERS[op.maker], BigInt(op.nonce));
            ref.cancel(MAKERS[op.maker], BigInt(op.nonce));
            if (removal) close(removal.order, removal.units);
            closed.add(`${MAKERS[op.maker]}:${op.nonce}`);
          } else {
            const order: Order = {
              assetId: op.otherAsset ? ASSET + 1n : ASSET,
              side: op.side,
              price: BigInt(op.price) * 10n ** 18n,
              units: BigInt(op.units),
              expiry: now + BigInt(op.ttl),
              nonce: BigInt(op.nonce),
              maker: MAKERS[op.maker],
            };
            const expected = ref.place(order, now);
            if (typeof expected === 'string') {
              expect(codeOf(() => book.place(order, now))).toBe(expected);
              continue;
            }
            const result = book.place(order, now);
            expect(result.fills.map(show)).toEqual(expected.map(show));
            accepted.set(keyOf(order), { order, filled: 0n, removed: 0n });
            for (const removal of [...result.selfTradeCancelled, ...result.expired]) close(removal.order, removal.units);
            for (const removal of result.expired) expect(now > removal.order.expiry).toBe(true);
            for (const fill of result.fills) {
              expect(fill.ask.price <= fill.price && fill.price <= fill.bid.price).toBe(true);
              expect(fill.price).toBe(fill.taker === 'bid' ? fill.ask.price : fill.bid.price);
              expect(now <= fill.bid.expiry && now <= fill.ask.expiry).toBe(true);
              expect(closed.has(keyOf(fill.bid)) || closed.has(keyOf(fill.ask))).toBe(false);
              (accepted.get(keyOf(fill.bid)) as { filled: bigint }).filled += fill.units;
              (accepted.get(keyOf(fill.ask)) as { filled: bigint }).filled += fill.units;
            }
          }
          const best = book.best(now);
          if (best.bid !== undefined && best.ask !== undefined) expect(best.bid < best.ask).toBe(true);
          const depth = book.depth(100, now);
          expect(depth).toEqual({ bids: ref.depth('bid', now), asks: ref.depth('ask', now) });
        }

        const filledBySide = { bid: 0n, ask: 0n };
        for (const { order, filled, removed } of accepted.values()) {
          expect(filled + removed + book.restingUnits(order.maker, order.nonce)).toBe(order.units);
          filledBySide[order.side] += filled;
        }
        expect(filledBySide.bid).toBe(filledBySide.ask);
      }),
      { numRuns: 500 },
    );
  });
});

describe('OrderBook examples', () => {
  it('fills partially at the resting price and rests the remainder', () => {
    const book = new OrderBook(ASSET);
    const ask = mk(alice, 'ask', 5n, 10n);
    expect(book.place(ask, T0).resting).toBe(10n);
    const bid = mk(bob, 'bid', 6n, 4n);
    const first = book.place(bid, T0);
    expect(first.fills).toEqual([{ bid, ask, units: 4n, price: 5n, taker: 'bid' }]);
    expect(first.resting).toBe(0n);
    expect(book.restingUnits(alice, ask.nonce)).toBe(6n);
    const big = mk(carol, 'bid', 5n, 10n);
    const second = book.place(big, T0);
    expect(second.fills.map((f) => f.units)).toEqual([6n]);
    expect(second.resting).toBe(4n);
    expect(book.depth(5, T0)).toEqual({ bids: [{ price: 5n, units: 4n, orders: 1 }], asks: [] });
    expect(book.best(T0)).toEqual({ bid: 5n, ask: undefined });
  });

  it('takes the best price first, then the earliest order at that price', () => {
    const book = new OrderBook(ASSET);
    const a5 = mk(alice, 'ask', 5n, 2n);
    const b4 = mk(bob, 'ask', 4n, 2n);
    const c4 = mk(carol, 'ask', 4n, 2n);
    const b3 = mk(bob, 'bid', 3n, 1n);
    for (const o of [a5, b4, c4, b3]) book.place(o, T0);
    expect(book.depth(5, T0).asks).toEqual([{ price: 4n, units: 4n, orders: 2 }, { price: 5n, units: 2n, orders: 1 }]);
    expect(book.depth(1, T0)).toEqual({ bids: [{ price: 3n, units: 1n, orders: 1 }], asks: [{ price: 4n, units: 4n, orders: 2 }] });
    expect(book.best(T0)).toEqual({ bid: 3n, ask: 4n });
    const taker = mk(MAKERS[3], 'ask', 1n, 1n);
    expect(book.place(taker, T0).fills).toEqual([{ bid: b3, ask: taker, units: 1n, price: 3n, taker: 'ask' }]);
    const sweep = mk(MAKERS[3], 'bid', 5n, 5n);
    expect(book.place(sweep, T0).fills.map((f) => [f.ask, f.units, f.price])).toEqual([[b4, 2n, 4n], [c4, 2n, 4n], [a5, 1n, 5n]]);
  });

  it('keeps arrival order in a long queue at one price while its front is consumed and compacted', () => {
    const book = new OrderBook(ASSET);
    const asks = Array.from({ length: 600 }, (_, i) => mk(MAKERS[i % 3], 'ask', 5n, 2n));
    for (const ask of asks) book.place(ask, T0);
    for (const ask of asks.slice(0, 500).filter((_, i) => i % 7 === 3)) book.cancel(ask.maker, ask.nonce);
    const expected = asks.filter((_, i) => i >= 500 || i % 7 !== 3);
    const taken: Order[] = [];
    for (let i = 0; i < expected.length; i++) {
      const [fill] = book.place(mk(MAKERS[3], 'bid', 5n, 2n), T0).fills;
      taken.push(fill.ask);
      if (i === 400) expect(book.depth(1, T0).asks).toEqual([{ price: 5n, units: BigInt(2 * (expected.length - 401)), orders: expected.length - 401 }]);
    }
    expect(taken).toEqual(expected);
    expect(book.best(T0)).toEqual({ bid: undefined, ask: undefined });
  });

  it('cancels by (maker, nonce) and then refuses that nonce', () => {
    const book = new OrderBook(ASSET);
    const ask = mk(alice, 'ask', 5n, 3n);
    book.place(ask, T0);
    expect(book.cancel(alice.toUpperCase().replace('0X', '0x'), ask.nonce)).toEqual({ order: ask, units: 3n });
    expect(book.cancel(alice, ask.nonce)).toBeUndefined();
    expect(book.place(mk(bob, 'bid', 9n, 3n), T0).fills).toEqual([]);
    const unused = mk(alice, 'ask', 5n, 1n);
    expect(book.cancel(alice, unused.nonce)).toBeUndefined();
    expect(() => book.place(unused, T0)).toThrow(expect.objectContaining({ code: 'ORDER_REPLAYED' }));
  });

  it('refuses a replayed, expired, zero-priced or foreign order and leaves the book as it was', () => {
    const book = new OrderBook(ASSET);
    const ask = mk(alice, 'ask', 5n, 3n);
    book.place(ask, T0);
    book.place(mk(bob, 'bid', 5n, 3n), T0);
    const before = book.depth(10, T0);
    expect(() => book.place({ ...ask, price: 1n }, T0)).toThrow(expect.objectContaining({ code: 'ORDER_REPLAYED', message: expect.stringContaining('unused nonce') }));
    expect(() => book.place(mk(bob, 'ask', 5n, 1n, { expiry: T0 - 1n }), T0)).toThrow(expect.objectContaining({ code: 'ORDER_EXPIRED' }));
    expect(() => book.place(mk(bob, 'ask', 0n, 1n), T0)).toThrow(expect.objectContaining({ code: 'ORDER_INVALID' }));
    expect(() => book.place(mk(bob, 'ask', 5n, 1n, { assetId: 99n }), T0)).toThrow(expect.objectContaining({ code: 'ORDER_WRONG_ASSET' }));
    expect(book.depth(10, T0)).toEqual(before);
  });

  it('never fills an expired resting order and drops it when reached', () => {
    const book = new OrderBook(ASSET);
    const stale = mk(alice, 'ask', 4n, 2n, { expiry: T0 + 10n });
    const fresh = mk(bob, 'ask', 5n, 2n);
    book.place(stale, T0);
    book.place(fresh, T0);
    expect(book.best(T0 + 10n).ask).toBe(4n);
    expect(book.best(T0 + 11n).ask).toBe(5n);
    const bid = mk(carol, 'bid', 5n, 3n);
    const result = book.place(bid, T0 + 11n);
    expect(result.expired).toEqual([{ order: stale, units: 2n }]);
    expect(result.fills).toEqual([{ bid, ask: fresh, units: 2n, price: 5n, taker: 'bid' }]);
    expect(book.restingUnits(alice, stale.nonce)).toBe(0n);
  });

  it('cancels the resting order of the same maker instead of trading with it', () => {
    const book = new OrderBook(ASSET);
    const own = mk(alice, 'ask', 4n, 2n);
    const other = mk(bob, 'ask', 5n, 2n);
    book.place(own, T0);
    book.place(other, T0);
    const bid = mk(alice, 'bid', 5n, 3n);
    const result = book.place(bid, T0);
    expect(result.selfTradeCancelled).toEqual([{ order: own, units: 2n }]);
    expect(result.fills).toEqual([{ bid, ask: other, units: 2n, price: 5n, taker: 'bid' }]);
    expect(result.resting).toBe(1n);
    expect(book.best(T0)).toEqual({ bid: 5n, ask: undefined });
  });

  it('carries signed orders through to the fills, signatures intact', async () => {
    const domain = marketDomain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
    const seller = privateKeyToAccount(keccak256(toHex('seller')));
    const buyer = privateKeyToAccount(keccak256(toHex('buyer')));
    const book = new OrderBook<SignedOrder>(ASSET);
    const ask = await signOrder(seller, domain, mk(seller.address, 'ask', 10n ** 18n, 2n));
    const bid = await signOrder(buyer, domain, mk(buyer.address, 'bid', 2n * 10n ** 18n, 2n));
    book.place(ask, T0);
    const [fill] = book.place(bid, T0).fills;
    await verifyOrder(domain, fill.bid);
    await verifyOrder(domain, fill.ask);
    expect(fill.price).toBe(10n ** 18n);
  });
});
