import { describe, expect, it } from 'vitest';
import type { MarketOrderRecord } from '../core/index.js';
import { bookDepth, restsOnBook } from './market-depth.js';

const order = (side: 'bid' | 'ask', price: bigint, remaining: number, overrides: Partial<MarketOrderRecord> = {}): MarketOrderRecord => ({
  hash: `0x${side}${price}${remaining}`,
  assetId: '1',
  side,
  price,
  units: Math.max(remaining, 1),
  remaining,
  expiry: 100,
  nonce: 1n,
  maker: '0xa1',
  signature: '0xsig',
  intent: null,
  status: 'open',
  createdAt: 1,
  updatedAt: 1,
  ...overrides,
});

describe('bookDepth', () => {
  it('keeps an order through its expiry second and drops it after, like the book', () => {
    expect(restsOnBook(order('ask', 5n, 1), 100)).toBe(true);
    expect(restsOnBook(order('ask', 5n, 1), 101)).toBe(false);
    expect(restsOnBook(order('ask', 5n, 0), 50)).toBe(false);
    expect(restsOnBook(order('ask', 5n, 1, { status: 'cancelled' }), 50)).toBe(false);
  });

  it('sums units per price, highest bid and lowest ask first, at most `levels` a side, prices beyond 2^64 kept exact', () => {
    const huge = 2n ** 70n;
    const orders = [order('bid', 3n, 1), order('bid', 7n, 2), order('bid', 7n, 3), order('bid', 5n, 1), order('ask', huge + 1n, 4), order('ask', huge, 1), order('ask', 9n, 2, { expiry: 10 })];
    expect(bookDepth(orders, 50, 2)).toEqual({
      bids: [
        { price: '7', units: 5, orders: 2 },
        { price: '5', units: 1, orders: 1 },
      ],
      asks: [
        { price: huge.toString(), units: 1, orders: 1 },
        { price: (huge + 1n).toString(), units: 4, orders: 1 },
      ],
    });
  });
});
