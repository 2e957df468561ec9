import fc from 'fast-check';
import { concat, encodeFunctionData, keccak256, numberToHex, slice, toBytes, type Address, type Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { marketEscrowAbi, nexusTokenAbi } from './artifacts.js';
import { DEFAULT_DISPUTE_WINDOW_SECONDS, nxs } from './deploy.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { toChainError } from './errors.js';
import type { ProposalAction } from './governance.js';
import { hashOrder, ORDER_TYPES, orderSignatureFault, signOrder, verifyOrder, type Order, type SignedOrder } from './market-order-types.js';
import { MarketClient, twapBetween, type AssetListing, type FillInfo } from './market.js';

const WINDOW = DEFAULT_DISPUTE_WINDOW_SECONDS;
let n: EmbeddedNexus;
let clean: Hex;
let coordinator: MarketClient;
let seller: MarketClient;
let buyer: MarketClient;
let buyer2: MarketClient;
let arbiter: MarketClient;
let assetId: bigint;
let supply: bigint;

/** Sends `actions` as the timelock, standing in for an executed proposal (governance.test.ts runs the real path). */
async function asTimelock(actions: readonly ProposalAction[]): Promise<void> {
  const from = n.deployment.timelock;
  const rpc = (method: string, params: unknown[]) => n.conn.publicClient.request({ method, params } as never);
  await rpc('hardhat_impersonateAccount', [from]);
  await rpc('hardhat_setBalance', [from, '0xde0b6b3a7640000']);
  for (const { target, data } of actions) {
    // Simulate first: a reverted send is mined with no revert data to decode.
    await n.conn.publicClient.call({ account: from, to: target, data }).catch((e: unknown) => Promise.reject(toChainError('as timelock', e)));
    const hash = (await rpc('eth_sendTransaction', [{ from, to: target, data }])) as Hex;
    await n.conn.publicClient.waitForTransactionReceipt({ hash });
  }
}

const listing: AssetListing = {
  contentHash: keccak256(toBytes('optdigits partition 0')),
  schemaHash: keccak256(toBytes('optdigits schema')),
  licence: 'CC-BY-4.0',
  category: 'tabular/digits',
  rows: 1_912n,
  consentFlags: 1,
  regionFlags: 1,
  epsilonMilli: 8_000,
};

const now = async (): Promise<bigint> => (await n.conn.publicClient.getBlock()).timestamp;
let nextNonce = 1n;
/** A signed order of `who`, live for an hour unless `expiry` is given; each gets a fresh nonce. */
async function order(who: MarketClient, side: 'bid' | 'ask', price: bigint, units: bigint, extra: Partial<Order> = {}): Promise<SignedOrder> {
  return who.sign({ assetId, side: side === 'bid' ? 0 : 1, price, units, expiry: (await now()) + 3_600n, nonce: nextNonce++, ...extra });
}
const balance = (who: Address): Promise<bigint> => coordinator.as(coordinator.account).conn.publicClient.readContract({ address: n.deployment.token, abi: nexusTokenAbi, functionName: 'balanceOf', args: [who] });
const totalSupply = (): Promise<bigint> => n.conn.publicClient.readContract({ address: n.deployment.token, abi: nexusTokenAbi, functionName: 'totalSupply', args: [] });

beforeAll(async () => {
  n = await startEmbeddedNexus({ accounts: 6 });
  [coordinator, seller, buyer, buyer2, arbiter] = n.conn.accounts.slice(0, 5).map((a) => new MarketClient(n.conn, n.deployment, a));
  // Governance names a second arbiter (an EOA) so tests can resolve without a proposal per dispute.
  const role = keccak256(toBytes('ARBITER_ROLE'));
  await asTimelock([{ target: n.deployment.escrow, data: encodeFunctionData({ abi: marketEscrowAbi, functionName: 'grantRole', args: [role, arbiter.account] }) }]);
  assetId = (await seller.listAsset(listing)).id;
  for (const b of [buyer, buyer2]) await b.approveEscrow(nxs(1_000_000));
  supply = await totalSupply();
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});

describe('the shared order format', () => {
  it('hashes an order as the contract does and verifies its maker', async () => {
    const signed = await order(buyer, 'bid', nxs(5), 3n);
    const onChain = await n.conn.publicClient.readContract({ address: n.deployment.escrow, abi: marketEscrowAbi, functionName: 'hashOrder', args: [signed.order] });
    expect(hashOrder(buyer.domain, signed.order)).toBe(onChain);
    expect(await verifyOrder(buyer.domain, signed)).toBe(true);
    expect(await verifyOrder(buyer.domain, { ...signed, order: { ...signed.order, price: nxs(6) } })).toBe(false);
    await expect(signOrder(seller.signer, seller.domain, signed.order)).rejects.toMatchObject({ code: 'MARKET_NOT_MAKER' });
    const [fields] = Object.values(ORDER_TYPES);
    const typeString = `Order(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`;
    expect(keccak256(toBytes(typeString))).toBe(await n.conn.publicClient.readContract({ address: n.deployment.escrow, abi: marketEscrowAbi, functionName: 'ORDER_TYPEHASH', args: [] }));
  });

  it('refuses what the escrow refuses: the high-s twin of a valid signature, though it recovers the maker', async () => {
    const bid = await order(buyer, 'bid', nxs(2), 1n);
    const curveN = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const v = Number.parseInt(bid.signature.slice(130), 16);
    const twin = concat([slice(bid.signature, 0, 32), numberToHex(curveN - BigInt(slice(bid.signature, 32, 64)), { size: 32 }), numberToHex(v === 27 ? 28 : 27, { size: 1 })]);
    expect(await orderSignatureFault(buyer.domain, { ...bid, signature: twin })).toMatch(/high s/);
    expect(await verifyOrder(buyer.domain, { ...bid, signature: twin })).toBe(false);
    await expect(coordinator.settle({ ...bid, signature: twin }, await order(seller, 'ask', nxs(2), 1n), 1n, nxs(2))).rejects.toMatchObject({ errorName: 'ECDSAInvalidSignatureS' });
    expect(await orderSignatureFault(buyer.domain, bid)).toBeUndefined();
  });
});

describe('MarketEscrow settlement', () => {
  it('settles a fill: the buyer\'s NXS moves into escrow and the fill is held', async () => {
    const before = await balance(buyer.account);
    const { fill } = await coordinator.settle(await order(buyer, 'bid', nxs(5), 2n), await order(seller, 'ask', nxs(4), 2n), 2n, nxs(4));
    expect(fill).toMatchObject({ buyer: buyer.account, seller: seller.account, assetId, units: 2n, price: nxs(4), amount: nxs(8), status: 'Held' });
    expect(await balance(buyer.account)).toBe(before - nxs(8));
    expect(await balance(n.deployment.escrow)).toBe(nxs(8));
    expect(await coordinator.readFill(fill.fillId)).toEqual(fill);
    await expect(coordinator.readFill(keccak256(toBytes('no such fill')))).rejects.toMatchObject({ code: 'FILL_NOT_FOUND' });
  });

  it('fills an order partly, several times, and refuses units beyond what is left', async () => {
    const ask = await order(seller, 'ask', nxs(2), 5n);
    const first = await coordinator.settle(await order(buyer, 'bid', nxs(2), 2n), ask, 2n, nxs(2));
    expect(await seller.unfilledUnits(ask.order)).toBe(3n);
    const second = await coordinator.settle(await order(buyer2, 'bid', nxs(3), 10n), ask, 3n, nxs(2));
    expect(second.fill.fillId).not.toBe(first.fill.fillId);
    expect(await seller.unfilledUnits(ask.order)).toBe(0n);
    await expect(coordinator.settle(await order(buyer, 'bid', nxs(2), 1n), ask, 1n, nxs(2))).rejects.toMatchObject({ errorName: 'Overfill', args: [hashOrder(seller.domain, ask.order), 0n, 1n] });
    const bid = await order(buyer, 'bid', nxs(2), 3n);
    await coordinator.settle(bid, await order(seller, 'ask', nxs(2), 2n), 2n, nxs(2));
    await expect(coordinator.settle(bid, await order(seller, 'ask', nxs(2), 5n), 2n, nxs(2))).rejects.toMatchObject({
      errorName: 'Overfill',
      args: [hashOrder(buyer.domain, bid.order), 1n, 2n],
    });
    await coordinator.settle(bid, await order(seller, 'ask', nxs(2), 5n), 1n, nxs(2));
    expect(await buyer.unfilledUnits(bid.order)).toBe(0n);
    // A bid filled completely at once cannot be settled again.
    const whole = await order(buyer2, 'bid', nxs(2), 2n);
    await coordinator.settle(whole, await order(seller, 'ask', nxs(2), 2n), 2n, nxs(2));
    expect(await buyer2.unfilledUnits(whole.order)).toBe(0n);
    await expect(coordinator.settle(whole, await order(seller, 'ask', nxs(2), 2n), 2n, nxs(2))).rejects.toMatchObject({ errorName: 'Overfill' });
    // A nonce serves one order: another order under a partly filled nonce is refused.
    const reused = await buyer.sign({ ...bid.order, price: nxs(3) });
    await expect(coordinator.settle(reused, await order(seller, 'ask', nxs(2), 1n), 1n, nxs(2))).rejects.toMatchObject({ errorName: 'NonceTaken', args: [buyer.account, bid.order.nonce] });
    expect(await balance(n.deployment.escrow)).toBe(nxs(2) * 10n);
  });

  it('refuses expired orders, cancelled nonces and forged or tampered signatures', async () => {
    const ask = await order(seller, 'ask', nxs(1), 1n, { expiry: (await now()) + 10n });
    await n.conn.increaseTime(11);
    await expect(coordinator.settle(await order(buyer, 'bid', nxs(1), 1n), ask, 1n, nxs(1))).rejects.toMatchObject({ errorName: 'OrderExpired', args: [seller.account, ask.order.nonce, ask.order.expiry] });

    const bid = await order(buyer, 'bid', nxs(1), 1n);
    await buyer.cancelNonce(bid.order.nonce);
    expect(await buyer.isNonceCancelled(buyer.account, bid.order.nonce)).toBe(true);
    expect(await buyer.unfilledUnits(bid.order)).toBe(0n);
    await expect(coordinator.settle(bid, await order(seller, 'ask', nxs(1), 1n), 1n, nxs(1))).rejects.toMatchObject({ errorName: 'OrderClosed', args: [buyer.account, bid.order.nonce] });

    const genuine = await order(buyer, 'bid', nxs(1), 1n);
    const forged = { order: genuine.order, signature: await buyer2.signer.signTypedData({ domain: buyer.domain, types: ORDER_TYPES, primaryType: 'Order', message: genuine.order }) };
    await expect(coordinator.settle(forged, await order(seller, 'ask', nxs(1), 1n), 1n, nxs(1))).rejects.toMatchObject({ errorName: 'BadSignature', args: [buyer.account, buyer2.account] });
    const tampered = { ...genuine, order: { ...genuine.order, units: 100n } };
    await expect(coordinator.settle(tampered, await order(seller, 'ask', nxs(1), 100n), 100n, nxs(1))).rejects.toMatchObject({ errorName: 'BadSignature' });
    expect(await balance(n.deployment.escrow)).toBe(0n);
  });

  it('refuses an ask whose maker does not own the asset, and takes the new owner\'s after a transfer', async () => {
    const notOwner = await order(buyer2, 'ask', nxs(1), 1n);
    await expect(coordinator.settle(await order(buyer, 'bid', nxs(1), 1n), notOwner, 1n, nxs(1))).rejects.toMatchObject({ errorName: 'SellerNotOwner', args: [assetId, buyer2.account, seller.account] });
    const oldAsk = await order(seller, 'ask', nxs(1), 1n);
    await seller.transferAsset(buyer2.account, assetId);
    await expect(coordinator.settle(await order(buyer, 'bid', nxs(1), 1n), oldAsk, 1n, nxs(1))).rejects.toMatchObject({ errorName: 'SellerNotOwner', args: [assetId, seller.account, buyer2.account] });
    const { fill } = await coordinator.settle(await order(buyer, 'bid', nxs(1), 1n), await order(buyer2, 'ask', nxs(1), 1n), 1n, nxs(1));
    expect(fill.seller).toBe(buyer2.account);
  });

  it('refuses zero units or price, a price outside the orders, wrong sides, mixed assets and self-trades', async () => {
    const bid = await order(buyer, 'bid', nxs(3), 2n);
    const ask = await order(seller, 'ask', nxs(2), 2n);
    await expect(coordinator.settle(bid, ask, 0n, nxs(2))).rejects.toMatchObject({ errorName: 'ZeroAmount' });
    await expect(coordinator.settle(await order(buyer, 'bid', 0n, 1n), await order(seller, 'ask', 0n, 1n), 1n, 0n)).rejects.toMatchObject({ errorName: 'ZeroAmount' });
    await expect(coordinator.settle(bid, ask, 1n, nxs(4))).rejects.toMatchObject({ errorName: 'PriceOutsideOrders', args: [nxs(4), nxs(2), nxs(3)] });
    await expect(coordinator.settle(bid, ask, 1n, nxs(1))).rejects.toMatchObject({ errorName: 'PriceOutsideOrders' });
    await expect(coordinator.settle(ask, bid, 1n, nxs(2))).rejects.toMatchObject({ errorName: 'WrongSide', args: [1, 0] });
    const other = (await seller.listAsset({ ...listing, contentHash: keccak256(toBytes('another set')) })).id;
    await expect(coordinator.settle(bid, await order(seller, 'ask', nxs(2), 1n, { assetId: other }), 1n, nxs(2))).rejects.toMatchObject({ errorName: 'AssetMismatch', args: [assetId, other] });
    await expect(coordinator.settle(await order(seller, 'bid', nxs(2), 1n), ask, 1n, nxs(2))).rejects.toMatchObject({ errorName: 'SelfTrade', args: [seller.account] });
    expect(await seller.unfilledUnits(bid.order)).toBe(2n);
  });

  it('keeps a settled fill under 130k gas, beside a plain NXS transfer', async () => {
    const transfer = await n.participants[1].transfer(n.participants[0].account, nxs(1));
    const ask = await order(seller, 'ask', nxs(3), 10n);
    // First fill: the ask's filled units and both oracle words are fresh, the escrow held nothing.
    const first = await coordinator.settle(await order(buyer, 'bid', nxs(3), 1n), ask, 1n, nxs(3));
    // Steady state: a resting ask filled before; the buyer's allowance is finite, so the token writes it.
    const steady = await coordinator.settle(await order(buyer, 'bid', nxs(3), 1n), ask, 1n, nxs(3));
    // The same with an unlimited allowance, which the token leaves unwritten.
    await buyer.approveEscrow(2n ** 256n - 1n);
    const unlimited = await coordinator.settle(await order(buyer, 'bid', nxs(3), 1n), ask, 1n, nxs(3));
    const ratio = (g: bigint) => (Number(g) / Number(transfer.gasUsed)).toFixed(2);
    console.log(
      `gas: NXS transfer ${transfer.gasUsed}; fill: first ${first.gasUsed}, steady ${steady.gasUsed} (${ratio(steady.gasUsed)}x), ` +
        `steady with an unlimited allowance ${unlimited.gasUsed} (${ratio(unlimited.gasUsed)}x)`,
    );
    expect(steady.gasUsed).toBeLessThan(130_000n);
    expect(unlimited.gasUsed).toBeLessThan(steady.gasUsed);
    expect(steady.gasUsed).toBeGreaterThan(transfer.gasUsed);
  });
});

describe('MarketEscrow escrow life', () => {
  async function settled(units = 2n, price = nxs(5)): Promise<FillInfo> {
    return (await coordinator.settle(await order(buyer, 'bid', price, units), await order(seller, 'ask', price, units), units, price)).fill;
  }

  it('lets the seller revoke before completion, refunding the buyer in full, and nobody else', async () => {
    const before = await balance(buyer.account);
    const fill = await settled();
    await expect(buyer.revoke(fill.fillId)).rejects.toMatchObject({ errorName: 'NotParty', args: [fill.fillId, seller.account] });
    await seller.revoke(fill.fillId);
    expect(await balance(buyer.account)).toBe(before);
    expect(await balance(n.deployment.escrow)).toBe(0n);
    expect((await seller.readFill(fill.fillId)).status).toBe('Refunded');
    await expect(seller.revoke(fill.fillId)).rejects.toMatchObject({ errorName: 'WrongFillStatus', args: [fill.fillId, 5] });
    const done = await settled();
    await coordinator.complete(done.fillId, keccak256(toBytes('model')), keccak256(toBytes('root')));
    await expect(seller.revoke(done.fillId)).rejects.toMatchObject({ errorName: 'WrongFillStatus', args: [done.fillId, 2] });
  });

  it('releases to the seller after completion and an undisputed window; only the coordinator completes', async () => {
    const fill = await settled();
    const sellerBefore = await balance(seller.account);
    await expect(buyer.complete(fill.fillId, keccak256(toBytes('m')), keccak256(toBytes('r')))).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
    await expect(buyer.release(fill.fillId)).rejects.toMatchObject({ errorName: 'WrongFillStatus', args: [fill.fillId, 1] });
    await coordinator.complete(fill.fillId, keccak256(toBytes('final model')), keccak256(toBytes('reward root')));
    const completed = await buyer.readFill(fill.fillId);
    expect(completed.status).toBe('Completed');
    expect(completed.disputeUntil - completed.completedAt).toBe(BigInt(WINDOW));
    await expect(buyer2.release(fill.fillId)).rejects.toMatchObject({ errorName: 'DisputeWindowOpen', args: [completed.disputeUntil] });
    await n.conn.increaseTime(WINDOW);
    await expect(buyer.dispute(fill.fillId)).rejects.toMatchObject({ errorName: 'DisputeWindowOver', args: [completed.disputeUntil] });
    await buyer2.release(fill.fillId);
    expect(await balance(seller.account)).toBe(sellerBefore + fill.amount);
    expect(await balance(n.deployment.escrow)).toBe(0n);
    await expect(buyer2.release(fill.fillId)).rejects.toMatchObject({ errorName: 'WrongFillStatus', args: [fill.fillId, 4] });
  });

  it('refuses lifecycle calls with fill data that does not match the record', async () => {
    const fill = await settled();
    const escrow = { address: n.deployment.escrow, abi: marketEscrowAbi } as const;
    const data = { buyer: fill.buyer, seller: buyer2.account, assetId: fill.assetId, units: fill.units, amount: fill.amount };
    expect(await n.conn.publicClient.readContract({ ...escrow, functionName: 'fillMatches', args: [fill.fillId, data] })).toBe(false);
    const revoking = n.conn.publicClient.simulateContract({ ...escrow, account: buyer2.signer, functionName: 'revoke', args: [fill.fillId, data] });
    await expect(revoking.catch((e: unknown) => Promise.reject(toChainError('revoke', e)))).rejects.toMatchObject({ errorName: 'UnknownFill', args: [fill.fillId] });
  });

  it('lets the buyer dispute within the window; the arbiter refunds or releases', async () => {
    const refunded = await settled(1n, nxs(7));
    const released = await settled(3n, nxs(2));
    const buyerBefore = await balance(buyer.account);
    const sellerBefore = await balance(seller.account);
    await coordinator.complete(refunded.fillId, keccak256(toBytes('m1')), keccak256(toBytes('r1')));
    await expect(seller.dispute(refunded.fillId)).rejects.toMatchObject({ errorName: 'NotParty', args: [refunded.fillId, buyer.account] });
    await buyer.dispute(refunded.fillId);
    // Before completion too: a job that never completes must not lock the buyer's NXS.
    await buyer.dispute(released.fillId);
    await expect(coordinator.complete(released.fillId, keccak256(toBytes('m2')), keccak256(toBytes('r2')))).rejects.toMatchObject({ errorName: 'WrongFillStatus', args: [released.fillId, 3] });
    await expect(buyer.resolve(refunded.fillId, true)).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
    await arbiter.resolve(refunded.fillId, true);
    await arbiter.resolve(released.fillId, false);
    expect(await balance(buyer.account)).toBe(buyerBefore + refunded.amount);
    expect(await balance(seller.account)).toBe(sellerBefore + released.amount);
    expect(await balance(n.deployment.escrow)).toBe(0n);
    expect([(await buyer.readFill(refunded.fillId)).status, (await buyer.readFill(released.fillId)).status]).toEqual(['Refunded', 'Released']);
  });

  it('lets governance refund a disputed fill and slash the seller\'s stake in one proposal', async () => {
    await n.participants[0].stake(nxs(500));
    const fill = await settled();
    await buyer.dispute(fill.fillId);
    const buyerBefore = await balance(buyer.account);
    const actions = await coordinator.resolveActions(fill.fillId, true, { amount: nxs(50) });
    expect(actions.map((a) => a.target)).toEqual([n.deployment.escrow, n.deployment.staking]);
    await asTimelock(actions);
    expect(await balance(buyer.account)).toBe(buyerBefore + fill.amount);
    expect((await n.participants[0].stakeOf()).active).toBe(nxs(450));
    expect(await balance(n.deployment.timelock)).toBe(nxs(50));
  });
});

describe('MarketEscrow price oracle', () => {
  it('accumulates price times seconds per asset and per category; the TWAP weighs each price by how long it stood', async () => {
    const second = (await seller.listAsset({ ...listing, contentHash: keccak256(toBytes('partition 1')) })).id;
    expect(await coordinator.assetPrice(assetId)).toEqual({ price: 0n, updatedAt: 0n, cumulative: 0n });
    await coordinator.settle(await order(buyer, 'bid', nxs(4), 1n), await order(seller, 'ask', nxs(4), 1n), 1n, nxs(4));
    const start = await coordinator.observeAsset(assetId);
    const catStart = await coordinator.observeCategory(listing.category);
    await n.conn.increaseTime(100);
    await coordinator.settle(await order(buyer, 'bid', nxs(10), 1n, { assetId: second }), await order(seller, 'ask', nxs(10), 1n, { assetId: second }), 1n, nxs(10));
    await n.conn.increaseTime(40);
    await coordinator.settle(await order(buyer, 'bid', nxs(6), 1n), await order(seller, 'ask', nxs(6), 1n), 1n, nxs(6));
    const t6 = (await coordinator.assetPrice(assetId)).updatedAt;
    const tSecond = (await coordinator.assetPrice(second)).updatedAt;
    await n.conn.increaseTime(60);
    const end = await coordinator.observeAsset(assetId);
    const expected = (nxs(4) * (t6 - start.timestamp) + nxs(6) * (end.timestamp - t6)) / (end.timestamp - start.timestamp);
    expect(twapBetween(start, end)).toBe(expected);
    expect(await coordinator.assetTwapSince(assetId, start)).toBe(expected);
    // The category saw 4 until the second asset's fill, then 10, then 6.
    const catEnd = await coordinator.observeCategory(listing.category);
    const catExpected = (nxs(4) * (tSecond - catStart.timestamp) + nxs(10) * (t6 - tSecond) + nxs(6) * (catEnd.timestamp - t6)) / (catEnd.timestamp - catStart.timestamp);
    expect(twapBetween(catStart, catEnd)).toBe(catExpected);
    expect(await coordinator.categoryTwapSince(listing.category, catStart)).toBe(catExpected);
    expect(() => twapBetween(end, start)).toThrow(/must come after/);
  });

  it('takes a wrapped accumulator difference modulo 2^120', () => {
    const top = 2n ** 120n;
    expect(twapBetween({ cumulative: top - 50n, timestamp: 10n }, { cumulative: 150n, timestamp: 20n })).toBe(20n);
  });
});

type Step =
  | { kind: 'settle'; buyer: 0 | 1; units: number; price: number }
  | { kind: 'revoke' | 'complete' | 'dispute' | 'release'; fill: number }
  | { kind: 'resolve'; fill: number; refund: boolean }
  | { kind: 'wait' };

interface ModelFill {
  id: Hex;
  amount: bigint;
  status: 'Held' | 'Completed' | 'Disputed' | 'Released' | 'Refunded';
  buyer: MarketClient;
}

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('settle' as const), buyer: fc.constantFrom(0 as const, 1 as const), units: fc.integer({ min: 1, max: 3 }), price: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ kind: fc.constantFrom('revoke' as const, 'complete' as const, 'dispute' as const, 'release' as const), fill: fc.nat(5) }),
  fc.record({ kind: fc.constant('resolve' as const), fill: fc.nat(5), refund: fc.boolean() }),
  fc.constant({ kind: 'wait' as const }),
);

describe('MarketEscrow conservation', () => {
  it('creates and loses no NXS: the escrow holds exactly the open fills, over random sequences', async () => {
    const people = [buyer, buyer2, seller];
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 4, maxLength: 12 }), async (steps) => {
        await n.conn.revert(clean);
        clean = await n.conn.snapshot();
        const fills: ModelFill[] = [];
        let completedAt = new Map<Hex, bigint>();
        const start = await Promise.all(people.map((p) => balance(p.account)));
        for (const step of steps) {
          const f = step.kind === 'settle' || step.kind === 'wait' ? undefined : fills[step.fill % Math.max(fills.length, 1)];
          const t = await now();
          let allowed: boolean;
          let run: () => Promise<unknown>;
          switch (step.kind) {
            case 'settle': {
              const who = [buyer, buyer2][step.buyer];
              const price = nxs(step.price);
              run = async () => {
                const { fill } = await coordinator.settle(await order(who, 'bid', price, BigInt(step.units)), await order(seller, 'ask', price, BigInt(step.units)), BigInt(step.units), price);
                fills.push({ id: fill.fillId, amount: fill.amount, status: 'Held', buyer: who });
              };
              allowed = true;
              break;
            }
            case 'wait':
              run = () => n.conn.increaseTime(WINDOW / 2);
              allowed = true;
              break;
            case 'revoke':
              allowed = f?.status === 'Held';
              run = async () => {
                await seller.revoke(f!.id);
                f!.status = 'Refunded';
              };
              break;
            case 'complete':
              allowed = f?.status === 'Held';
              run = async () => {
                await coordinator.complete(f!.id, keccak256(toBytes('model')), keccak256(toBytes('root')));
                f!.status = 'Completed';
                completedAt = new Map(completedAt).set(f!.id, (await coordinator.readFill(f!.id)).completedAt);
              };
              break;
            case 'dispute':
              // The dispute is mined one second or more after `t`; the window is checked then.
              allowed = f?.status === 'Held' || (f?.status === 'Completed' && t + 1n < completedAt.get(f.id)! + BigInt(WINDOW));
              run = async () => {
                await f!.buyer.dispute(f!.id);
                f!.status = 'Disputed';
              };
              break;
            case 'release':
              allowed = f?.status === 'Completed' && t + 1n >= completedAt.get(f.id)! + BigInt(WINDOW);
              run = async () => {
                await seller.release(f!.id);
                f!.status = 'Released';
              };
              break;
            case 'resolve':
              allowed = f?.status === 'Disputed';
              run = async () => {
                await arbiter.resolve(f!.id, step.refund);
                f!.status = step.refund ? 'Refunded' : 'Released';
              };
              break;
          }
          if (f === undefined && step.kind !== 'settle' && step.kind !== 'wait') continue;
          if (allowed) await run();
          else await expect(run()).rejects.toMatchObject({ code: 'CHAIN_REVERTED' });
          const held = fills.filter((x) => ['Held', 'Completed', 'Disputed'].includes(x.status)).reduce((s, x) => s + x.amount, 0n);
          expect(await balance(n.deployment.escrow)).toBe(held);
        }
        expect(await totalSupply()).toBe(supply);
        const end = await Promise.all(people.map((p) => balance(p.account)));
        const escrow = await balance(n.deployment.escrow);
        expect(end.reduce((a, b) => a + b, escrow)).toBe(start.reduce((a, b) => a + b, 0n));
        // Each party's balance moved by exactly what the model says.
        const paidBy = (who: MarketClient) => fills.filter((x) => x.buyer === who && x.status !== 'Refunded').reduce((s, x) => s + x.amount, 0n);
        const earned = fills.filter((x) => x.status === 'Released').reduce((s, x) => s + x.amount, 0n);
        expect(end).toEqual([start[0] - paidBy(buyer), start[1] - paidBy(buyer2), start[2] + earned]);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
