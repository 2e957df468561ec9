/**
 * The market's signed order format (EIP-712), shared by MarketEscrow (contracts/MarketEscrow.sol
 * checks the same domain and type hash) and the off-chain order book in src/market.
 */
import { InvalidInputError } from '../core/errors.js';
import { hashTypedData, hexToBigInt, recoverTypedDataAddress, slice, type Address, type Hex, type LocalAccount, type TypedDataDomain } from 'viem';

/** EIP-712 domain name of MarketEscrow. */
export const MARKET_DOMAIN_NAME = 'CipherNexus Market';
/** EIP-712 domain version of MarketEscrow. */
export const MARKET_DOMAIN_VERSION = '1';

/**
 * The `Order` type: `Order(uint256 assetId,uint8 side,uint256 price,uint256 units,uint64 expiry,uint256 nonce,address maker)`.
 * Field order is part of the type hash; it must match MarketEscrow.ORDER_TYPEHASH.
 */
export const ORDER_TYPES = {
  Order: [
    { name: 'assetId', type: 'uint256' },
    { name: 'side', type: 'uint8' },
    { name: 'price', type: 'uint256' },
    { name: 'units', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
    { name: 'nonce', type: 'uint256' },
    { name: 'maker', type: 'address' },
  ],
} as const;

/** Order sides as the contract numbers them. */
export const ORDER_SIDE = { bid: 0, ask: 1 } as const;
export type OrderSide = (typeof ORDER_SIDE)[keyof typeof ORDER_SIDE];

/**
 * One order: `units` access units (one training job of the asset's stated size each) of
 * `assetId` at `price` NXS base units per unit, live while the chain's time is at most `expiry`
 * (unix seconds); `nonce` is per maker, and cancelling it on chain kills the order.
 */
export interface Order {
  assetId: bigint;
  side: OrderSide;
  price: bigint;
  units: bigint;
  expiry: bigint;
  nonce: bigint;
  maker: Address;
}

/** An order with its maker's signature (65 bytes, hex). */
export interface SignedOrder {
  order: Order;
  signature: Hex;
}

/** The EIP-712 domain of the MarketEscrow at `verifyingContract` on chain `chainId`. */
export function marketDomain(chainId: number, verifyingContract: Address): TypedDataDomain {
  return { name: MARKET_DOMAIN_NAME, version: MARKET_DOMAIN_VERSION, chainId, verifyingContract };
}

/** The order's EIP-712 digest: what the maker signs and what MarketEscrow calls the order's hash. */
export function hashOrder(domain: TypedDataDomain, order: Order): Hex {
  return hashTypedData({ domain, types: ORDER_TYPES, primaryType: 'Order', message: order });
}

/** Signs `order` as `account` (which must be its maker). */
export async function signOrder(account: LocalAccount, domain: TypedDataDomain, order: Order): Promise<SignedOrder> {
  if (account.address.toLowerCase() !== order.maker.toLowerCase()) {
    throw new InvalidInputError('MARKET_NOT_MAKER', `the order's maker is ${order.maker} but ${account.address} would sign it; sign with the maker's key`);
  }
  const signature = await account.signTypedData({ domain, types: ORDER_TYPES, primaryType: 'Order', message: order });
  return { order, signature };
}

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/**
 * Why `signature` is not the order's maker's signature under `domain` as MarketEscrow accepts one,
 * or undefined when it is. The rules are OpenZeppelin's ECDSA.recover: 65 bytes, v 27 or 28, s in
 * the lower half of the curve order (EIP-2: a high-s twin recovers the same signer, so the contract
 * refuses it); and the recovered signer must be the maker. The reason finishes "the signature …".
 */
export async function orderSignatureFault(domain: TypedDataDomain, { order, signature }: SignedOrder): Promise<string | undefined> {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return 'is not 65 bytes';
  const v = Number.parseInt(signature.slice(130), 16);
  if (v !== 27 && v !== 28) return `has v = ${v}, expected 27 or 28`;
  if (hexToBigInt(slice(signature, 32, 64)) > SECP256K1_HALF_N) return 'has a high s value (a malleated signature)';
  let signer: Address;
  try {
    signer = await recoverTypedDataAddress({ domain, types: ORDER_TYPES, primaryType: 'Order', message: order, signature });
  } catch {
    return 'is not a valid secp256k1 signature';
  }
  if (signer.toLowerCase() !== order.maker.toLowerCase()) {
    return `was made by ${signer}, not by the maker: the order was altered after signing, or signed for another market than chain ${domain.chainId}, contract ${domain.verifyingContract}`;
  }
  return undefined;
}

/** Whether `signature` is the order's maker's signature under `domain`, as MarketEscrow would accept it ({@link orderSignatureFault} says why not). */
export async function verifyOrder(domain: TypedDataDomain, signed: SignedOrder): Promise<boolean> {
  return (await orderSignatureFault(domain, signed)) === undefined;
}
