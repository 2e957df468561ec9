import { concat, encodeAbiParameters, keccak256, numberToHex, slice, toHex, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import {
  marketDomain,
  orderHash,
  parseOrder,
  parseSignedOrder,
  signOrder,
  toOrderJson,
  verifyOrder,
  type Order,
  type SignedOrder,
} from './order.js';

const alice = privateKeyToAccount(keccak256(toHex('alice')));
const mallory = privateKeyToAccount(keccak256(toHex('mallory')));
const escrow = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const domain = marketDomain(31337, escrow);
const NOW = 1_800_000_000n;
const order: Order = {
  assetId: 7n,
  side: 'ask',
  price: 25n * 10n ** 17n,
  units: 4n,
  expiry: NOW + 3_600n,
  nonce: 1n,
  maker: alice.address,
};

/** The digest as a Solidity contract computes it by hand (EIP-712 §hashStruct, §domainSeparator), independent of viem's typed-data encoder. */
function solidityDigest(chainId: number, verifyingContract: Hex, o: Order): Hex {
  const typeHash = keccak256(toHex('Order(uint256 assetId,uint8 side,uint256 price,uint256 units,uint64 expiry,uint256 nonce,address maker)'));
  const domainTypeHash = keccak256(toHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'));
  const domainSeparator = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
      [domainTypeHash, keccak256(toHex('CipherNexus Market')), keccak256(toHex('1')), BigInt(chainId), verifyingContract],
    ),
  );
  const structHash = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'uint256' }, { type: 'uint8' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'uint64' }, { type: 'uint256' }, { type: 'address' }],
      [typeHash, o.assetId, o.side === 'bid' ? 0 : 1, o.price, o.units, o.expiry, o.nonce, o.maker],
    ),
  );
  return keccak256(concat(['0x1901', domainSeparator, structHash]));
}

describe('order hash', () => {
  it('equals the EIP-712 digest a contract computes from the shared type string', () => {
    expect(orderHash(domain, order)).toBe(solidityDigest(31337, escrow, order));
    const bid = { ...order, side: 'bid' as const, nonce: 2n ** 200n };
    expect(orderHash(domain, bid)).toBe(solidityDigest(31337, escrow, bid));
    expect(orderHash(domain, bid)).not.toBe(orderHash(domain, order));
  });
});

describe('signOrder and verifyOrder', () => {
  it('accepts an order its maker signed, also after a JSON round trip', async () => {
    const signed = await signOrder(alice, domain, order);
    await expect(verifyOrder(domain, signed)).resolves.toBeUndefined();
    const wire = JSON.parse(JSON.stringify(toOrderJson(signed))) as unknown;
    const parsed = parseSignedOrder(wire, { now: NOW });
    expect(parsed).toEqual(signed);
    await expect(verifyOrder(domain, parsed)).resolves.toBeUndefined();
  });

  it('refuses a forged signature: someone else signed an order naming alice as maker', async () => {
    const byMallory = await mallory.signTypedData({
      domain,
      types: { Order: [
        { name: 'assetId', type: 'uint256' },
        { name: 'side', type: 'uint8' },
        { name: 'price', type: 'uint256' },
        { name: 'units', type: 'uint256' },
        { name: 'expiry', type: 'uint64' },
        { name: 'nonce', type: 'uint256' },
        { name: 'maker', type: 'address' },
      ] },
      primaryType: 'Order',
      message: { ...order, side: 1 },
    });
    const forged: SignedOrder = { ...order, signature: byMallory };
    await expect(verifyOrder(domain, forged)).rejects.toMatchObject({ code: 'ORDER_SIGNATURE_INVALID', message: expect.stringContaining(mallory.address) });
  });

  it('refuses a signature made for another chain or another escrow contract', async () => {
    const otherChain = await signOrder(alice, marketDomain(1, escrow), order);
    await expect(verifyOrder(domain, otherChain)).rejects.toMatchObject({ code: 'ORDER_SIGNATURE_INVALID' });
    const otherContract = await signOrder(alice, marketDomain(31337, '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512'), order);
    await expect(verifyOrder(domain, otherContract)).rejects.toMatchObject({ code: 'ORDER_SIGNATURE_INVALID' });
  });

  it.each([
    ['assetId', { assetId: 8n }],
    ['side', { side: 'bid' as const }],
    ['price', { price: order.price - 1n }],
    ['units', { units: 5n }],
    ['expiry', { expiry: order.expiry + 1n }],
    ['nonce', { nonce: 2n }],
    ['maker', { maker: mallory.address }],
  ])('refuses an order whose %s was changed after signing', async (_field, change) => {
    const signed = await signOrder(alice, domain, order);
    await expect(verifyOrder(domain, { ...signed, ...change })).rejects.toMatchObject({ code: 'ORDER_SIGNATURE_INVALID' });
  });

  it('refuses the high-s twin of a valid signature although it recovers the maker', async () => {
    const signed = await signOrder(alice, domain, order);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(slice(signed.signature, 32, 64));
    const v = Number.parseInt(signed.signature.slice(130), 16);
    const twin = concat([slice(signed.signature, 0, 32), numberToHex(n - s, { size: 32 }), numberToHex(v === 27 ? 28 : 27, { size: 1 })]);
    await expect(verifyOrder(domain, { ...signed, signature: twin })).rejects.toMatchObject({ code: 'ORDER_SIGNATURE_INVALID', message: expect.stringContaining('high s') });
  });

  it('refuses garbage in place of a signature', async () => {
    const signed = await signOrder(alice, domain, order);
    await expect(verifyOrder(domain, { ...signed, signature: `0x${'00'.repeat(64)}1b` })).rejects.toMatchObject({ code: 'ORDER_SIGNATURE_INVALID' });
    await expect(verifyOrder(domain, { ...signed, signature: `${signed.signature.slice(0, 130)}01` as Hex })).rejects.toMatchObject({
      code: 'ORDER_SIGNATURE_INVALID',
      message: expect.stringContaining('v = 1'),
    });
  });

  it('will not sign an order for another maker', async () => {
    await expect(signOrder(mallory, domain, order)).rejects.toMatchObject({ code: 'ORDER_INVALID' });
  });
});

describe('parseOrder', () => {
  const json = toOrderJson(order);

  it('reads decimal strings beyond 2^53 exactly and normalises the maker checksum', () => {
    const parsed = parseOrder({ ...json, price: '123456789012345678901234567890', maker: alice.address.toLowerCase() }, { now: NOW });
    expect(parsed.price).toBe(123456789012345678901234567890n);
    expect(parsed.maker).toBe(alice.address);
  });

  it.each([
    ['a zero price', { price: '0' }, "order field 'price': expected a positive integer below 2^256 as a decimal string, got '0'"],
    ['negative units', { units: '-3' }, "order field 'units': expected a positive integer below 2^256 as a decimal string, got '-3'"],
    ['a price beyond uint256', { price: (2n ** 256n).toString() }, "order field 'price'"],
    ['an unsafe JSON number', { units: 2 ** 60 }, `as a decimal string, got ${2 ** 60}`],
    ['an unknown side', { side: 'buy' }, "order field 'side': expected one of 'bid', 'ask', got 'buy'"],
    ['a malformed maker', { maker: '0x1234' }, "order field 'maker': expected an address"],
    ['a maker with a broken checksum', { maker: alice.address.replace(/[a-f]/, (c) => c.toUpperCase()) }, "order field 'maker'"],
    ['a missing nonce', { nonce: undefined }, "order field 'nonce': expected a non-negative integer below 2^256 as a decimal string, got nothing"],
    ['an unknown field', { tip: '1' }, "order has unknown field 'tip'"],
  ])('refuses %s with ORDER_INVALID naming the field', (_what, change, message) => {
    const call = (): Order => parseOrder({ ...json, ...change }, { now: NOW });
    expect(call).toThrow(expect.objectContaining({ code: 'ORDER_INVALID', message: expect.stringContaining(message) }));
  });

  it('refuses an order expired relative to the given clock, and accepts it through its expiry second', () => {
    expect(parseOrder(json, { now: order.expiry }).expiry).toBe(order.expiry);
    expect(() => parseOrder(json, { now: order.expiry + 1n })).toThrow(expect.objectContaining({ code: 'ORDER_EXPIRED', message: expect.stringContaining(`expired at ${order.expiry}`) }));
  });

  it('refuses a signed order without a well-formed signature', () => {
    expect(() => parseSignedOrder({ ...json, signature: '0xdead' }, { now: NOW })).toThrow(
      expect.objectContaining({ code: 'ORDER_INVALID', message: expect.stringContaining("signed order field 'signature': expected a 65-byte signature") }),
    );
  });
});
