import { keccak256, toBytes } from 'viem';
import { MarketClient, nxs, startEmbeddedNexus, type AssetListing, type SignedOrder } from '../src/chain/index.js';

/** Issue 13's ceiling for one settled fill. */
export const FILL_GAS_TARGET = 130_000;
/** Steady fills measured: their cost differs by a few gas as nonces and signatures change the calldata's zero bytes. */
export const STEADY_FILLS = 20;
const PRICE = nxs(3);

/** Gas measured on one fresh in-process chain: a plain NXS transfer beside MarketEscrow.settle. */
export interface FillGas {
  /** ERC-20 transfer of 1 NXS between two accounts that already hold NXS. */
  transfer: number;
  /** The first fill on a freshly listed asset: the ask's filled units, both oracle words and the escrow's balance are written from zero. */
  first: number;
  /** Later 1-unit fills against the same resting ask, each with a new bid, the buyer's allowance finite (so the token writes it). */
  steady: number[];
}

const listing: AssetListing = {
  contentHash: keccak256(toBytes('bench market gas')),
  schemaHash: keccak256(toBytes('bench market gas schema')),
  licence: 'CC-BY-4.0',
  category: 'tabular/bench',
  rows: 1_000n,
  consentFlags: 1,
  regionFlags: 1,
  epsilonMilli: 8_000,
};

/** Measures a plain NXS transfer, the first settled fill on a fresh asset and STEADY_FILLS steady fills, all on one chain. */
export async function measureFillGas(): Promise<FillGas> {
  const n = await startEmbeddedNexus({ accounts: 3 });
  const [coordinator, seller, buyer] = n.conn.accounts.map((a) => new MarketClient(n.conn, n.deployment, a));
  const transfer = await n.participants[1].transfer(n.participants[0].account, nxs(1));
  const assetId = (await seller.listAsset(listing)).id;
  // Finite, as a cautious buyer's would be: an unlimited allowance would spare the token a write and flatter the figure.
  await buyer.approveEscrow(nxs(1_000));
  const expiry = (await n.conn.publicClient.getBlock()).timestamp + 3_600n;
  let nonce = 0n;
  const order = (who: MarketClient, side: 0 | 1, units: bigint): Promise<SignedOrder> => who.sign({ assetId, side, price: PRICE, units, expiry, nonce: nonce++ });
  const ask = await order(seller, 1, BigInt(1 + STEADY_FILLS));
  const fill = async (): Promise<number> => Number((await coordinator.settle(await order(buyer, 0, 1n), ask, 1n, PRICE)).gasUsed);
  const first = await fill();
  const steady: number[] = [];
  for (let i = 0; i < STEADY_FILLS; i++) steady.push(await fill());
  return { transfer: Number(transfer.gasUsed), first, steady };
}
