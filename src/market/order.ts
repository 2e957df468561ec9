import { getAddress, isAddress, isAddressEqual, type Address, type Hex } from 'viem';
import type { LocalAccount } from 'viem/accounts';
import { z } from 'zod';
import {
  MARKET_DOMAIN_NAME,
  MARKET_DOMAIN_VERSION,
  ORDER_SIDE,
  ORDER_TYPES,
  hashOrder,
  orderSignatureFault,
  signOrder as signChainOrder,
  type Order as ChainOrder,
  type SignedOrder as ChainSignedOrder,
} from '../chain/index.js';
import { formatZodIssue } from '../core/index.js';
import { OrderError } from './errors.js';

/** A bid buys access units, an ask sells them. */
export type OrderSide = 'bid' | 'ask';

/** The `uint8 side` of the signed struct: 0 bid (buyer), 1 ask (seller), as MarketEscrow numbers them. */
export const ORDER_SIDE_CODES = ORDER_SIDE satisfies Record<OrderSide, number>;

/** The EIP-712 domain of one MarketEscrow deployment. */
export interface MarketDomain {
  name: typeof MARKET_DOMAIN_NAME;
  version: typeof MARKET_DOMAIN_VERSION;
  chainId: number;
  verifyingContract: Address;
}

/** The domain orders for the MarketEscrow at `verifyingContract` on chain `chainId` are signed under. */
export function marketDomain(chainId: number, verifyingContract: Address): MarketDomain {
  return { name: MARKET_DOMAIN_NAME, version: MARKET_DOMAIN_VERSION, chainId, verifyingContract: getAddress(verifyingContract) };
}

const MAX_QUOTED = 40;

function quote(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}...` : value}'`;
  if (typeof value === 'object') return value === null ? 'null' : Array.isArray(value) ? 'a list' : 'an object';
  return String(value);
}

/**
 * An unsigned integer field of the struct. JSON numbers lose precision beyond 2^53, so big values
 * travel as decimal strings; small safe integers are accepted as numbers too.
 */
function uintField(bits: 64 | 256, positive: boolean) {
  const limit = 1n << BigInt(bits);
  const expected = `${positive ? 'a positive' : 'a non-negative'} integer below 2^${bits} as a decimal string`;
  return z.unknown().transform((value, ctx): bigint => {
    let n: bigint | undefined;
    if (typeof value === 'string' && /^-?[0-9]{1,80}$/.test(value)) n = BigInt(value);
    else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
    if (n === undefined || n < (positive ? 1n : 0n) || n >= limit) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}, got ${quote(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

const addressField = z.unknown().transform((value, ctx): Address => {
  // isAddress is strict by default: a mixed-case address must carry a valid EIP-55 checksum.
  if (typeof value !== 'string' || !isAddress(value)) {
    ctx.addIssue({ code: 'custom', message: `expected an address (0x and 40 hex digits, EIP-55 checksummed if mixed case), got ${quote(value)}` });
    return z.NEVER;
  }
  return getAddress(value);
});

const signatureField = z.unknown().transform((value, ctx): Hex => {
  // 65 bytes r‖s‖v is the only form OpenZeppelin's ECDSA.recover(bytes32, bytes) accepts.
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(value)) {
    ctx.addIssue({ code: 'custom', message: `expected a 65-byte signature (0x and 130 hex digits), got ${quote(value)}` });
    return z.NEVER;
  }
  return value.toLowerCase() as Hex;
});

/** An order as it crosses a boundary (JSON from a client); parse with {@link parseOrder}. */
export const OrderSchema = z
  .object({
    assetId: uintField(256, false),
    side: z.enum(['bid', 'ask']),
    price: uintField(256, true),
    units: uintField(256, true),
    expiry: uintField(64, true),
    nonce: uintField(256, false),
    maker: addressField,
  })
  .strict();

/** An order with its maker's EIP-712 signature; parse with {@link parseSignedOrder}. */
export const SignedOrderSchema = OrderSchema.extend({ signature: signatureField }).strict();

/** A limit order for access units of one data asset; price in NXS base units per access unit, expiry in unix seconds. */
export type Order = z.output<typeof OrderSchema>;
/** An order and its maker's signature over it. */
export type SignedOrder = z.output<typeof SignedOrderSchema>;
/** An order as JSON: big numbers as decimal strings. */
export type OrderJson = { [K in keyof Order]: Order[K] extends bigint ? string : Order[K] };
/** A signed order as JSON. */
export type SignedOrderJson = OrderJson & { signature: Hex };

/** Options of {@link parseOrder} and {@link parseSignedOrder}. */
export interface ParseOrderOptions {
  /** The current time in unix seconds; an order whose expiry is before it is refused. */
  now: bigint;
}

/** Throws ORDER_EXPIRED when `now` is past the order's expiry (an order is good through its expiry second, as on chain). */
export function assertOrderLive(order: Pick<Order, 'expiry' | 'maker' | 'nonce'>, now: bigint): void {
  if (now > order.expiry) {
    throw new OrderError(
      'ORDER_EXPIRED',
      `order ${order.nonce} of ${order.maker} expired at ${order.expiry} and it is now ${now} (unix seconds); sign a new order with a later expiry`,
      { expiry: order.expiry, now },
    );
  }
}

function parseWith<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, input: unknown, what: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new OrderError('ORDER_INVALID', formatZodIssue(issue, { what, input, schema }), { field: issue.path.join('.'), issues: result.error.issues });
}

/** Parses an untrusted order (JSON) and refuses it with one clear line if it is malformed or expired. */
export function parseOrder(input: unknown, options: ParseOrderOptions): Order {
  const order = parseWith(OrderSchema, input, 'order');
  assertOrderLive(order, options.now);
  return order;
}

/** Parses an untrusted signed order (JSON); the signature's shape is checked here, its signer by {@link verifyOrder}. */
export function parseSignedOrder(input: unknown, options: ParseOrderOptions): SignedOrder {
  const order = parseWith(SignedOrderSchema, input, 'signed order');
  assertOrderLive(order, options.now);
  return order;
}

/** The order as JSON, big numbers as decimal strings; {@link parseOrder} reads it back. */
export function toOrderJson(order: Order): OrderJson;
export function toOrderJson(order: SignedOrder): SignedOrderJson;
export function toOrderJson(order: Order | SignedOrder): OrderJson | SignedOrderJson {
  const json: OrderJson = {
    assetId: order.assetId.toString(),
    side: order.side,
    price: order.price.toString(),
    units: order.units.toString(),
    expiry: order.expiry.toString(),
    nonce: order.nonce.toString(),
    maker: order.maker,
  };
  return 'signature' in order ? { ...json, signature: order.signature } : json;
}

/** The order as the chain client and MarketEscrow take it: the side as the contract numbers it. */
export function toChainOrder(order: Order): ChainOrder {
  return { assetId: order.assetId, side: ORDER_SIDE_CODES[order.side], price: order.price, units: order.units, expiry: order.expiry, nonce: order.nonce, maker: order.maker };
}

/** A signed order as the chain client settles it. */
export function toChainSignedOrder(signed: SignedOrder): ChainSignedOrder {
  return { order: toChainOrder(signed), signature: signed.signature };
}

/** The EIP-712 typed data of an order, as viem's sign, hash and recover functions take it. */
export function orderTypedData(domain: MarketDomain, order: Order) {
  return { domain, types: ORDER_TYPES, primaryType: 'Order', message: toChainOrder(order) } as const;
}

/** The EIP-712 digest of an order: the value MarketEscrow's `_hashTypedDataV4` computes and signatures are over. */
export function orderHash(domain: MarketDomain, order: Order): Hex {
  return hashOrder(domain, toChainOrder(order));
}

/** Signs `order` as its maker; the account must be the order's maker. */
export async function signOrder(account: LocalAccount, domain: MarketDomain, order: Order): Promise<SignedOrder> {
  if (!isAddressEqual(account.address, order.maker)) {
    throw new OrderError('ORDER_INVALID', `order maker is ${order.maker} but the signing account is ${account.address}; set maker to the signer's address`, {
      maker: order.maker,
      signer: account.address,
    });
  }
  const { signature } = await signChainOrder(account, domain, toChainOrder(order));
  return { ...order, signature };
}

/**
 * Checks that the order's maker signed exactly this order for this market, by the chain layer's
 * rules, which are MarketEscrow's (see `orderSignatureFault`), refusing it with `ORDER_SIGNATURE_INVALID`.
 */
export async function verifyOrder(domain: MarketDomain, signed: SignedOrder): Promise<void> {
  const fault = await orderSignatureFault(domain, toChainSignedOrder(signed));
  if (fault === undefined) return;
  throw new OrderError('ORDER_SIGNATURE_INVALID', `signature of order ${signed.nonce} of ${signed.maker} ${fault}; have the maker sign the order again`, {
    maker: signed.maker,
    nonce: signed.nonce,
    signature: signed.signature,
  });
}
