import {
  encodeFunctionData,
  getAddress,
  hexToBytes,
  isAddress,
  isHex,
  parseEventLogs,
  size,
  stringToHex,
  type Address,
  type Hex,
  type LocalAccount,
  type TypedDataDomain,
} from 'viem';
import { InvalidInputError, NotFoundError } from '../core/errors.js';
import { dataAssetAbi, marketEscrowAbi, nexusTokenAbi, stakingAbi } from './artifacts.js';
import { evidenceHash } from './client.js';
import type { ChainConnection } from './connection.js';
import type { NexusDeployment } from './deploy.js';
import type { ProposalAction } from './governance.js';
import { marketDomain, signOrder, type Order, type SignedOrder } from './market-order-types.js';
import { read, write, type TxResult } from './transact.js';

/** What an owner states when listing a data set; `licence` and `category` are short labels (at most 32 bytes) or 32-byte hex. */
export interface AssetListing {
  contentHash: Hex;
  schemaHash: Hex;
  licence: string;
  category: string;
  rows: bigint;
  /** Bitmask of the uses the data subjects consented to. */
  consentFlags: number;
  /** Bitmask of the regions where buyers may use the set. */
  regionFlags: number;
  /** Privacy budget one buyer may spend on the set, epsilon times 1,000. */
  epsilonMilli: number;
}

/** A listed data set as the chain holds it. */
export interface DataAssetInfo extends AssetListing {
  id: bigint;
  owner: Address;
  /** Token id of the version this one replaces (0n for none). */
  replaces: bigint;
  /** Token id of the version that replaced this one (0n while it is the newest). */
  replacedBy: bigint;
}

/** A listing transaction and the new token's id. */
export interface ListedAsset extends TxResult {
  id: bigint;
}

/** The data of a settled fill, as MarketEscrow hashes it: `amount` = units times price. */
export interface FillData {
  buyer: Address;
  seller: Address;
  assetId: bigint;
  units: bigint;
  amount: bigint;
}

/** Where a fill's escrow stands (MarketEscrow.FillStatus). */
export const FILL_STATUSES = ['None', 'Held', 'Completed', 'Disputed', 'Released', 'Refunded'] as const;
export type FillStatus = (typeof FILL_STATUSES)[number];

/** A fill: its data, price and escrow state. */
export interface FillInfo extends FillData {
  fillId: Hex;
  price: bigint;
  status: FillStatus;
  /** Unix seconds the job completed (0n before). */
  completedAt: bigint;
  /** Unix seconds until which the buyer may dispute (0n before completion). */
  disputeUntil: bigint;
}

/** A settlement transaction and the fill it recorded. */
export interface SettledFill extends TxResult {
  fill: FillInfo;
}

/** One oracle reading: the cumulative price (sum of price times seconds, mod 2^120) at `timestamp`. */
export interface PriceObservation {
  cumulative: bigint;
  timestamp: bigint;
}

/** The last fill's price, its time, and the cumulative price up to it. */
export interface PricePoint {
  price: bigint;
  updatedAt: bigint;
  cumulative: bigint;
}

/** The oracle's accumulator width: cumulative prices wrap at 2^120, as in MarketEscrow. */
const CUMULATIVE_MODULUS = 2n ** 120n;

/** A licence or category label as bytes32: 32-byte hex as is, text of at most 32 UTF-8 bytes right-padded. */
export function label32(text: string): Hex {
  if (isHex(text) && size(text) === 32) return text;
  const hex = stringToHex(text);
  if (size(hex) > 32) throw new InvalidInputError('MARKET_LABEL_TOO_LONG', `'${text}' is ${size(hex)} bytes; a licence or category label holds at most 32 (use a shorter id or its hash)`);
  return stringToHex(text, { size: 32 });
}

/** The text of a label written by {@link label32}, or its hex when it is not printable text. */
export function labelText(label: Hex): string {
  const bytes = hexToBytes(label);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  const text = new TextDecoder().decode(bytes.subarray(0, end));
  // eslint-disable-next-line no-control-regex
  return /^[^\u0000-\u001f\ufffd]*$/.test(text) ? text : label;
}

/** The time-weighted average price between two observations of the same asset or category (`later` after `earlier`). */
export function twapBetween(earlier: PriceObservation, later: PriceObservation): bigint {
  if (later.timestamp <= earlier.timestamp) throw new InvalidInputError('MARKET_EMPTY_WINDOW', `the later observation (${later.timestamp}) must come after the earlier one (${earlier.timestamp})`);
  const delta = (((later.cumulative - earlier.cumulative) % CUMULATIVE_MODULUS) + CUMULATIVE_MODULUS) % CUMULATIVE_MODULUS;
  return delta / (later.timestamp - earlier.timestamp);
}

function address(value: string, what: string): Address {
  if (!isAddress(value)) throw new InvalidInputError('CHAIN_BAD_ADDRESS', `${what} must be a 0x-prefixed 20-byte address, got '${value}'`);
  return getAddress(value);
}

function bytes32(value: string, what: string): Hex {
  if (!isHex(value) || size(value) !== 32) throw new InvalidInputError('MARKET_BAD_HASH', `${what} must be 0x followed by 64 hex digits, got '${value}'`);
  return value;
}

const toChainListing = (l: AssetListing) => ({
  contentHash: bytes32(l.contentHash, 'the content hash'),
  schemaHash: bytes32(l.schemaHash, 'the schema hash'),
  licence: label32(l.licence),
  category: label32(l.category),
  rows: l.rows,
  consentFlags: l.consentFlags,
  regionFlags: l.regionFlags,
  epsilonMilli: l.epsilonMilli,
});

/**
 * The data marketplace on chain, signed by one account: DataAsset listings and versions, and
 * MarketEscrow settlement, escrow life and price oracle. Amounts are NXS base units.
 */
export class MarketClient {
  readonly conn: ChainConnection;
  readonly deployment: NexusDeployment;
  readonly signer: LocalAccount;

  constructor(conn: ChainConnection, deployment: NexusDeployment, signer: LocalAccount = conn.accounts[0]) {
    this.conn = conn;
    this.deployment = deployment;
    this.signer = signer;
  }

  /** The signing account's address. */
  get account(): Address {
    return this.signer.address;
  }

  /** The EIP-712 domain orders for this escrow are signed under. */
  get domain(): TypedDataDomain {
    return marketDomain(this.conn.chain.id, this.deployment.escrow);
  }

  /** The same client signing as `signer`, or as the connection's account with that address. */
  as(signer: LocalAccount | Address): MarketClient {
    if (typeof signer !== 'string') return new MarketClient(this.conn, this.deployment, signer);
    const found = this.conn.accounts.find((a) => a.address.toLowerCase() === signer.toLowerCase());
    if (!found) throw new InvalidInputError('CHAIN_UNKNOWN_SIGNER', `no private key for ${signer} on this connection`);
    return new MarketClient(this.conn, this.deployment, found);
  }

  private get assets() {
    return { address: this.deployment.dataAsset, abi: dataAssetAbi } as const;
  }
  private get escrow() {
    return { address: this.deployment.escrow, abi: marketEscrowAbi } as const;
  }

  // --- data assets -----------------------------------------------------------------------------

  /** Lists a data set: mints a DataAsset token to the signer. */
  async listAsset(listing: AssetListing): Promise<ListedAsset> {
    const tx = await write(this.conn, this.signer, { ...this.assets, action: 'listing a data asset', functionName: 'list', args: [toChainListing(listing)] });
    return { ...tx, id: this.listedId(tx) };
  }

  /** Lists a new version of `replacedId` (the signer must own it). */
  async listVersion(replacedId: bigint, listing: AssetListing): Promise<ListedAsset> {
    const tx = await write(this.conn, this.signer, {
      ...this.assets,
      action: `listing a new version of asset ${replacedId}`,
      functionName: 'listVersion',
      args: [replacedId, toChainListing(listing)],
    });
    return { ...tx, id: this.listedId(tx) };
  }

  private listedId(tx: TxResult): bigint {
    const [listed] = parseEventLogs({ abi: dataAssetAbi, logs: tx.receipt.logs, eventName: 'Listed' });
    return listed.args.id;
  }

  /** The data set `id` with its owner and version links. */
  async getAsset(id: bigint): Promise<DataAssetInfo> {
    const [asset, owner, replacedBy] = await read(`reading asset ${id}`, () =>
      Promise.all([
        this.conn.publicClient.readContract({ ...this.assets, functionName: 'assetOf', args: [id] }),
        this.conn.publicClient.readContract({ ...this.assets, functionName: 'ownerOf', args: [id] }),
        this.conn.publicClient.readContract({ ...this.assets, functionName: 'replacedBy', args: [id] }),
      ]),
    );
    return {
      id,
      owner,
      contentHash: asset.contentHash,
      schemaHash: asset.schemaHash,
      licence: labelText(asset.licence),
      category: labelText(asset.category),
      rows: asset.rows,
      consentFlags: asset.consentFlags,
      regionFlags: asset.regionFlags,
      epsilonMilli: asset.epsilonMilli,
      replaces: asset.replaces,
      replacedBy,
    };
  }

  /** The tokens `owner` listed with `contentHash`, oldest first, as the chain holds them now (an owner may since have transferred one). */
  async listedBy(owner: Address, contentHash: Hex): Promise<DataAssetInfo[]> {
    const events = await read(`reading the assets ${owner} listed`, () =>
      this.conn.publicClient.getContractEvents({ ...this.assets, eventName: 'Listed', args: { owner: address(owner, 'the owner') }, fromBlock: this.deployment.fromBlock, toBlock: 'latest' }),
    );
    const ids = events.filter((e) => e.args.contentHash?.toLowerCase() === contentHash.toLowerCase()).map((e) => e.args.id as bigint);
    return Promise.all(ids.map((id) => this.getAsset(id)));
  }

  /** Transfers asset `id` from the signer to `to`: its future sales need the new owner's asks. */
  async transferAsset(to: Address, id: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.assets, action: `transferring asset ${id}`, functionName: 'transferFrom', args: [this.account, address(to, 'the recipient'), id] });
  }

  // --- orders and settlement -------------------------------------------------------------------

  /** Signs an order as its maker, the signer. */
  async sign(order: Omit<Order, 'maker'>): Promise<SignedOrder> {
    return signOrder(this.signer, this.domain, { ...order, maker: this.account });
  }

  /** Lets the escrow take up to `amount` of the signer's NXS (a buyer does this before its bids settle). */
  async approveEscrow(amount: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, {
      address: this.deployment.token,
      abi: nexusTokenAbi,
      action: 'approving the market escrow',
      functionName: 'approve',
      args: [this.deployment.escrow, amount],
    });
  }

  /** What `account` could pay into escrow now: its NXS balance and what it has approved the escrow to take. */
  async funds(account: Address): Promise<{ balance: bigint; allowance: bigint }> {
    const token = { address: this.deployment.token, abi: nexusTokenAbi } as const;
    const [balance, allowance] = await Promise.all([
      read('reading a balance', () => this.conn.publicClient.readContract({ ...token, functionName: 'balanceOf', args: [account] })),
      read('reading an allowance', () => this.conn.publicClient.readContract({ ...token, functionName: 'allowance', args: [account, this.deployment.escrow] })),
    ]);
    return { balance, allowance };
  }

  /** Settles `units` of a matched bid and ask at `price`: the bid's maker's NXS moves into escrow. Anyone may submit it. */
  async settle(bid: SignedOrder, ask: SignedOrder, units: bigint, price: bigint): Promise<SettledFill> {
    const tx = await write(this.conn, this.signer, {
      ...this.escrow,
      action: `settling a fill of asset ${bid.order.assetId}`,
      functionName: 'settle',
      args: [bid.order, bid.signature, ask.order, ask.signature, units, price],
    });
    const [filled] = parseEventLogs({ abi: marketEscrowAbi, logs: tx.receipt.logs, eventName: 'Filled' });
    return { ...tx, fill: { ...fillFromEvent(filled.args), status: 'Held', completedAt: 0n, disputeUntil: 0n } };
  }

  /** Cancels every order the signer signed with `nonce`. */
  async cancelNonce(nonce: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.escrow, action: `cancelling nonce ${nonce}`, functionName: 'cancelNonce', args: [nonce] });
  }

  /** Units of `order` that may still be filled (0 once cancelled, filled completely, or its nonce taken by another order). */
  async unfilledUnits(order: Order): Promise<bigint> {
    return read('reading an order', () => this.conn.publicClient.readContract({ ...this.escrow, functionName: 'unfilledUnits', args: [order] }));
  }

  /** Whether `maker` cancelled `nonce`. */
  async isNonceCancelled(maker: Address, nonce: bigint): Promise<boolean> {
    return read('reading a nonce', () => this.conn.publicClient.readContract({ ...this.escrow, functionName: 'isNonceCancelled', args: [address(maker, 'the maker'), nonce] }));
  }

  // --- escrow life -----------------------------------------------------------------------------

  /** Fill `fillId`: its data from the Filled event and its escrow state. */
  async readFill(fillId: Hex): Promise<FillInfo> {
    const id = bytes32(fillId, 'the fill id');
    const [events, [status, completedAt], window] = await read(`reading fill ${id}`, () =>
      Promise.all([
        this.conn.publicClient.getContractEvents({ ...this.escrow, eventName: 'Filled', args: { fillId: id }, fromBlock: this.deployment.fromBlock, toBlock: 'latest' }),
        this.conn.publicClient.readContract({ ...this.escrow, functionName: 'fillStatus', args: [id] }),
        this.conn.publicClient.readContract({ ...this.escrow, functionName: 'disputeWindow', args: [] }),
      ]),
    );
    if (events.length === 0) throw new NotFoundError('fill', id);
    const done = BigInt(completedAt);
    return { ...fillFromEvent(events[0].args as FilledArgs), status: FILL_STATUSES[status], completedAt: done, disputeUntil: done === 0n ? 0n : done + window };
  }

  /** Posts a fill's completion evidence: the job's final model hash and reward root (COORDINATOR_ROLE). */
  async complete(fillId: Hex, modelHash: Hex, rewardRoot: Hex): Promise<TxResult> {
    return write(this.conn, this.signer, {
      ...this.escrow,
      action: `completing fill ${fillId}`,
      functionName: 'complete',
      args: [bytes32(fillId, 'the fill id'), bytes32(modelHash, 'the model hash'), bytes32(rewardRoot, 'the reward root')],
    });
  }

  /** The buyer (the signer) disputes fill `fillId`, before completion or within the dispute window. */
  async dispute(fillId: Hex): Promise<TxResult> {
    return this.onFill(fillId, 'disputing', 'dispute');
  }

  /** Pays a completed fill to its seller after an undisputed window; anyone may. */
  async release(fillId: Hex): Promise<TxResult> {
    return this.onFill(fillId, 'releasing', 'release');
  }

  /** The seller (the signer) withdraws from fill `fillId` before completion; the buyer is refunded in full. */
  async revoke(fillId: Hex): Promise<TxResult> {
    return this.onFill(fillId, 'revoking', 'revoke');
  }

  /** Decides a disputed fill as the arbiter (the signer must hold ARBITER_ROLE): refund the buyer or pay the seller. */
  async resolve(fillId: Hex, refund: boolean): Promise<TxResult> {
    const fill = toFillData(await this.readFill(fillId));
    return write(this.conn, this.signer, { ...this.escrow, action: `resolving fill ${fillId}`, functionName: 'resolve', args: [fillId, fill, refund] });
  }

  /**
   * The calls of a governance proposal that decides a disputed fill: resolve it here and, when
   * `slash` is given, take that much of the seller's stake through Staking.slashAmount (the
   * timelock is the arbiter and holds Staking's GOVERNANCE_ROLE; one proposal does both at once).
   */
  async resolveActions(fillId: Hex, refund: boolean, slash?: { amount: bigint; evidence?: string }): Promise<ProposalAction[]> {
    const info = await this.readFill(fillId);
    const actions: ProposalAction[] = [
      { target: this.deployment.escrow, data: encodeFunctionData({ abi: marketEscrowAbi, functionName: 'resolve', args: [info.fillId, toFillData(info), refund] }) },
    ];
    if (slash && slash.amount > 0n) {
      const evidence = evidenceHash(slash.evidence ?? `market dispute ${info.fillId}`);
      actions.push({ target: this.deployment.staking, data: encodeFunctionData({ abi: stakingAbi, functionName: 'slashAmount', args: [info.seller, slash.amount, evidence] }) });
    }
    return actions;
  }

  private async onFill(fillId: Hex, verb: string, functionName: 'dispute' | 'release' | 'revoke'): Promise<TxResult> {
    const fill = toFillData(await this.readFill(fillId));
    return write(this.conn, this.signer, { ...this.escrow, action: `${verb} fill ${fillId}`, functionName, args: [fillId, fill] });
  }

  // --- price oracle ----------------------------------------------------------------------------

  /** The last fill's price of `assetId`, its time and the cumulative price up to it (all 0n before the first fill). */
  async assetPrice(assetId: bigint): Promise<PricePoint> {
    const p = await read('reading an asset price', () => this.conn.publicClient.readContract({ ...this.escrow, functionName: 'assetPrice', args: [assetId] }));
    return { price: p.price, updatedAt: BigInt(p.updatedAt), cumulative: p.cumulative };
  }

  /** The last fill's price in `category` (a label or 32-byte hex), its time and the cumulative price up to it. */
  async categoryPrice(category: string): Promise<PricePoint> {
    const p = await read('reading a category price', () =>
      this.conn.publicClient.readContract({ ...this.escrow, functionName: 'categoryPrice', args: [label32(category)] }),
    );
    return { price: p.price, updatedAt: BigInt(p.updatedAt), cumulative: p.cumulative };
  }

  /** The cumulative price of `assetId` now (or at `blockNumber`); two observations give a TWAP ({@link twapBetween}). */
  async observeAsset(assetId: bigint, blockNumber?: bigint): Promise<PriceObservation> {
    const [cumulative, timestamp] = await read('observing an asset price', () =>
      this.conn.publicClient.readContract({ ...this.escrow, functionName: 'observeAsset', args: [assetId], blockNumber }),
    );
    return { cumulative, timestamp: BigInt(timestamp) };
  }

  /** The cumulative price of `category` now (or at `blockNumber`). */
  async observeCategory(category: string, blockNumber?: bigint): Promise<PriceObservation> {
    const [cumulative, timestamp] = await read('observing a category price', () =>
      this.conn.publicClient.readContract({ ...this.escrow, functionName: 'observeCategory', args: [label32(category)], blockNumber }),
    );
    return { cumulative, timestamp: BigInt(timestamp) };
  }

  /** The time-weighted average price of `assetId` from `since` (an earlier {@link observeAsset}) to now, as the contract computes it. */
  async assetTwapSince(assetId: bigint, since: PriceObservation): Promise<bigint> {
    return read('reading an asset TWAP', () =>
      this.conn.publicClient.readContract({ ...this.escrow, functionName: 'assetTwapSince', args: [assetId, since.cumulative, Number(since.timestamp)] }),
    );
  }

  /** The time-weighted average price of `category` from `since` (an earlier {@link observeCategory}) to now. */
  async categoryTwapSince(category: string, since: PriceObservation): Promise<bigint> {
    return read('reading a category TWAP', () =>
      this.conn.publicClient.readContract({ ...this.escrow, functionName: 'categoryTwapSince', args: [label32(category), since.cumulative, Number(since.timestamp)] }),
    );
  }
}

interface FilledArgs {
  fillId?: Hex;
  assetId?: bigint;
  buyer?: Address;
  seller?: Address;
  units?: bigint;
  price?: bigint;
  amount?: bigint;
}

function fillFromEvent(a: FilledArgs): Omit<FillInfo, 'status' | 'completedAt' | 'disputeUntil'> {
  if (!a.fillId || a.assetId === undefined || !a.buyer || !a.seller || a.units === undefined || a.price === undefined || a.amount === undefined) {
    throw new InvalidInputError('MARKET_BAD_FILL_EVENT', 'a Filled event is missing fields; is the deployment file pointing at a MarketEscrow?');
  }
  return { fillId: a.fillId, assetId: a.assetId, buyer: a.buyer, seller: a.seller, units: a.units, price: a.price, amount: a.amount };
}

const toFillData = (f: FillData): FillData => ({ buyer: f.buyer, seller: f.seller, assetId: f.assetId, units: f.units, amount: f.amount });
