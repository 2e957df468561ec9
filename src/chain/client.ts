import { getAddress, isAddress, isHex, keccak256, parseEventLogs, toBytes, zeroHash, type Address, type Hex, type LocalAccount } from 'viem';
import { InvalidInputError } from '../core/errors.js';
import { nexusTokenAbi, parameterRegistryAbi, reputationAbi, rewardDistributorAbi, stakingAbi } from './artifacts.js';
import type { ChainConnection } from './connection.js';
import type { NexusDeployment, ProtocolParameters } from './deploy.js';
import { NexusGovernance } from './governance.js';
import { buildRewardTree, loadRewardTree, type RewardEntry, type RewardTree, type RewardTreeDump } from './merkle.js';
import { read, write, type TxResult } from './transact.js';

/** A participant's stake: active (counts for eligibility) and cooling down until `readyAt` (unix seconds). */
export interface StakeInfo {
  active: bigint;
  pending: bigint;
  readyAt: bigint;
}

/** One participant's outcome in a round, in reputation points (1,000,000 = one full contribution). */
export interface ReputationRecord {
  account: Address;
  contribution: bigint;
  penalty: bigint;
}

/** A posted reward round: the tree (publish `tree.dump()` to participants) and the posting transaction. */
export interface PostedRewardRound extends TxResult {
  round: bigint;
  tree: RewardTree;
}

/** A round's on-chain state. */
export interface RewardRoundInfo {
  root: Hex;
  total: bigint;
  claimed: bigint;
  expiresAt: bigint;
  swept: boolean;
}

/** Where a proposed slash stands (Staking.SlashStatus). */
export const SLASH_STATUSES = ['None', 'Pending', 'Contested', 'Executed', 'Cancelled', 'Lapsed'] as const;
export type SlashStatus = (typeof SLASH_STATUSES)[number];

/** A slash proposed by the coordinator, keyed by its evidence hash. */
export interface SlashProposalInfo {
  evidence: Hex;
  account: Address;
  /** Base units the slash takes when it takes effect. */
  amount: bigint;
  /** Unix seconds: a pending slash may take effect from then on. */
  challengeEndsAt: bigint;
  /** Unix seconds: until when governance may uphold a contested slash (0 while not contested). */
  resolveBy: bigint;
  status: SlashStatus;
}

/** A slash the coordinator proposed: the transaction, the evidence hash and what it will take. */
export interface ProposedSlash extends TxResult {
  evidence: Hex;
  amount: bigint;
  challengeEndsAt: bigint;
}

/** Reputation points of one full contribution to one round. */
export const REPUTATION_ONE = 1_000_000n;

function address(value: string, what: string): Address {
  if (!isAddress(value)) throw new InvalidInputError('CHAIN_BAD_ADDRESS', `${what} must be a 0x-prefixed 20-byte address, got '${value}'`);
  return getAddress(value);
}

function positive(value: bigint, what: string): bigint {
  if (value <= 0n) throw new InvalidInputError('CHAIN_BAD_AMOUNT', `${what} must be positive, got ${value}`);
  return value;
}

/** A 32-byte evidence hash: given as 0x + 64 hex digits, or hashed (keccak256) from any other text. */
export function evidenceHash(evidence: string): Hex {
  return isHex(evidence) && evidence.length === 66 ? evidence : keccak256(toBytes(evidence));
}

/**
 * The operations the rest of Cipher Nexus needs from the chain, signed by one account. Amounts are
 * token base units (18 decimals; see `nxs`). Reverts surface as ChainRevertError with the
 * contract's custom error name.
 */
export class NexusClient {
  readonly conn: ChainConnection;
  readonly deployment: NexusDeployment;
  readonly signer: LocalAccount;
  /** Proposals, votes, queueing, execution and status. */
  readonly gov: NexusGovernance;

  constructor(conn: ChainConnection, deployment: NexusDeployment, signer: LocalAccount = conn.accounts[0]) {
    this.conn = conn;
    this.deployment = deployment;
    this.signer = signer;
    this.gov = new NexusGovernance(conn, deployment, signer);
  }

  /** The signing account's address. */
  get account(): Address {
    return this.signer.address;
  }

  /** The same client signing as `signer`, or as the connection's account with that address. */
  as(signer: LocalAccount | Address): NexusClient {
    if (typeof signer !== 'string') return new NexusClient(this.conn, this.deployment, signer);
    const found = this.conn.accounts.find((a) => a.address.toLowerCase() === signer.toLowerCase());
    if (!found) throw new InvalidInputError('CHAIN_UNKNOWN_SIGNER', `no private key for ${signer} on this connection`);
    return new NexusClient(this.conn, this.deployment, found);
  }

  private get token() {
    return { address: this.deployment.token, abi: nexusTokenAbi } as const;
  }
  private get staking() {
    return { address: this.deployment.staking, abi: stakingAbi } as const;
  }
  private get reputation() {
    return { address: this.deployment.reputation, abi: reputationAbi } as const;
  }
  private get distributor() {
    return { address: this.deployment.distributor, abi: rewardDistributorAbi } as const;
  }

  // --- token -----------------------------------------------------------------------------------

  /** NXS balance of `account` (the signer unless given), in base units. */
  async balanceOf(account: Address = this.account): Promise<bigint> {
    const who = address(account, 'the account');
    return read('reading a balance', () => this.conn.publicClient.readContract({ ...this.token, functionName: 'balanceOf', args: [who] }));
  }

  /** Sends `amount` to `to`. */
  async transfer(to: Address, amount: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.token, action: 'transfer', functionName: 'transfer', args: [address(to, 'the recipient'), positive(amount, 'the amount')] });
  }

  /** Lets `spender` move up to `amount` of the signer's tokens. */
  async approve(spender: Address, amount: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.token, action: 'approve', functionName: 'approve', args: [address(spender, 'the spender'), amount] });
  }

  /** Delegates the signer's votes to `delegatee` (itself unless given); tokens vote only once delegated. */
  async delegate(delegatee: Address = this.account): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.token, action: 'delegate', functionName: 'delegate', args: [address(delegatee, 'the delegatee')] });
  }

  /** Current votes of `account`. */
  async votesOf(account: Address = this.account): Promise<bigint> {
    return read('reading votes', () => this.conn.publicClient.readContract({ ...this.token, functionName: 'getVotes', args: [address(account, 'the account')] }));
  }

  // --- staking ---------------------------------------------------------------------------------

  /** Stakes `amount`, approving the staking contract first when its allowance is short. */
  async stake(amount: bigint): Promise<TxResult> {
    positive(amount, 'the stake');
    const allowance = await read('reading an allowance', () =>
      this.conn.publicClient.readContract({ ...this.token, functionName: 'allowance', args: [this.account, this.deployment.staking] }),
    );
    if (allowance < amount) await this.approve(this.deployment.staking, amount);
    return write(this.conn, this.signer, { ...this.staking, action: 'stake', functionName: 'stake', args: [amount] });
  }

  /** Starts the cool-down of `amount` of the signer's active stake. */
  async requestUnstake(amount: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.staking, action: 'unstake request', functionName: 'requestUnstake', args: [positive(amount, 'the amount')] });
  }

  /** Withdraws the signer's stake whose cool-down has ended. */
  async withdraw(): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.staking, action: 'withdraw', functionName: 'withdraw', args: [] });
  }

  /** `account`'s stake. */
  async stakeOf(account: Address = this.account): Promise<StakeInfo> {
    const [active, pending, readyAt] = await read('reading a stake', () =>
      this.conn.publicClient.readContract({ ...this.staking, functionName: 'stakeOf', args: [address(account, 'the account')] }),
    );
    return { active, pending, readyAt: BigInt(readyAt) };
  }

  /** Whether `account`'s active stake reaches the registry's minimum stake (node registration and selection check this). */
  async isEligible(account: Address): Promise<boolean> {
    return read('checking eligibility', () => this.conn.publicClient.readContract({ ...this.staking, functionName: 'isEligible', args: [address(account, 'the account')] }));
  }

  /**
   * Proposes slashing the registry's slash fraction of `account`'s stake (SLASHER_ROLE: the
   * coordinator); it takes effect after the challenge period unless contested or cancelled.
   * `evidence` is a 32-byte hash or text that is hashed; each evidence once, one open slash per account.
   */
  async proposeSlash(account: Address, evidence: string): Promise<ProposedSlash> {
    const hash = evidenceHash(evidence);
    const tx = await write(this.conn, this.signer, { ...this.staking, action: 'proposing a slash', functionName: 'proposeSlash', args: [address(account, 'the account'), hash] });
    const [proposed] = parseEventLogs({ abi: stakingAbi, logs: tx.receipt.logs, eventName: 'SlashProposed' });
    return { ...tx, evidence: hash, amount: proposed.args.amount, challengeEndsAt: BigInt(proposed.args.challengeEndsAt) };
  }

  /** The accused (the signer) contests its pending slash with counter-evidence (a 32-byte hash or text that is hashed). */
  async contestSlash(evidence: string, counterEvidence: string): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.staking, action: 'contesting a slash', functionName: 'contestSlash', args: [evidenceHash(evidence), evidenceHash(counterEvidence)] });
  }

  /** Makes a slash whose challenge period passed take effect, or lets a contested one governance did not uphold lapse; anyone may. */
  async finalizeSlash(evidence: string): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.staking, action: 'finalizing a slash', functionName: 'finalizeSlash', args: [evidenceHash(evidence)] });
  }

  /** The slash proposed with `evidence` (status None when there is none). */
  async slashOf(evidence: string): Promise<SlashProposalInfo> {
    const hash = evidenceHash(evidence);
    const p = await read('reading a slash', () => this.conn.publicClient.readContract({ ...this.staking, functionName: 'slashOf', args: [hash] }));
    return { evidence: hash, account: p.account, amount: p.amount, challengeEndsAt: BigInt(p.challengeEndsAt), resolveBy: BigInt(p.resolveBy), status: SLASH_STATUSES[p.status] };
  }

  /** `account`'s open (pending or contested) slash, if any. */
  async openSlashOf(account: Address): Promise<SlashProposalInfo | undefined> {
    const evidence = await read('reading an open slash', () => this.conn.publicClient.readContract({ ...this.staking, functionName: 'openSlashOf', args: [address(account, 'the account')] }));
    return evidence === zeroHash ? undefined : this.slashOf(evidence);
  }

  // --- reputation ------------------------------------------------------------------------------

  /** Records a round's contributions and penalties in one transaction (UPDATER_ROLE: the coordinator). */
  async recordReputation(round: bigint, records: readonly ReputationRecord[]): Promise<TxResult> {
    if (records.length === 0) throw new InvalidInputError('CHAIN_EMPTY_RECORDS', 'give at least one reputation record');
    return write(this.conn, this.signer, {
      ...this.reputation,
      action: 'recording reputation',
      functionName: 'recordBatch',
      args: [round, records.map((r) => address(r.account, 'a participant')), records.map((r) => r.contribution), records.map((r) => r.penalty)],
      // Measured: about 32k gas per participant recorded for the first time, 13k afterwards; the estimate would run the batch many times.
      gas: 50_000n + 40_000n * BigInt(records.length),
    });
  }

  /** The latest round with reputation recorded or a reward root posted: the coordinator numbers a new job's rounds after it. */
  async latestRound(): Promise<bigint> {
    const [recorded, posted] = await read('reading the latest round', () =>
      Promise.all([
        this.conn.publicClient.readContract({ ...this.reputation, functionName: 'latestRound', args: [] }),
        this.conn.publicClient.readContract({ ...this.distributor, functionName: 'latestRound', args: [] }),
      ]),
    );
    return recorded > posted ? BigInt(recorded) : BigInt(posted);
  }

  /** `account`'s reputation score, decayed to the latest round. */
  async reputationOf(account: Address): Promise<bigint> {
    return read('reading reputation', () => this.conn.publicClient.readContract({ ...this.reputation, functionName: 'scoreOf', args: [address(account, 'the account')] }));
  }

  /** The reputation scores of `accounts` in one call, same order (client selection reads this). */
  async reputationsOf(accounts: readonly Address[]): Promise<bigint[]> {
    const list = accounts.map((a) => address(a, 'a participant'));
    return [...(await read('reading reputation', () => this.conn.publicClient.readContract({ ...this.reputation, functionName: 'scoresOf', args: [list] })))];
  }

  // --- rewards ---------------------------------------------------------------------------------

  /** Builds the round's Merkle tree off-chain and posts its root and total (POSTER_ROLE: the coordinator). */
  async postRewardRoot(round: bigint, entries: readonly RewardEntry[]): Promise<PostedRewardRound> {
    const tree = buildRewardTree(entries);
    const tx = await write(this.conn, this.signer, { ...this.distributor, action: `posting the reward root of round ${round}`, functionName: 'postRoot', args: [round, tree.root, tree.total] });
    return { ...tx, round, tree };
  }

  /** Claims `account`'s `amount` for `round` with `proof`; the tokens go to `account` whoever signs. */
  async claim(round: bigint, account: Address, amount: bigint, proof: readonly Hex[]): Promise<TxResult> {
    return write(this.conn, this.signer, {
      ...this.distributor,
      action: `claiming round ${round}`,
      functionName: 'claim',
      args: [round, address(account, 'the account'), amount, proof],
    });
  }

  /** Claims `account`'s reward (the signer's unless given) from a round's tree or its published dump. */
  async claimFromTree(round: bigint, tree: RewardTree | RewardTreeDump, account: Address = this.account): Promise<TxResult> {
    const loaded = 'proofOf' in tree ? tree : loadRewardTree(tree);
    const leaf = loaded.proofOf(address(account, 'the account'));
    if (!leaf) throw new InvalidInputError('REWARD_NOT_IN_TREE', `${account} has no reward in this tree for round ${round}`);
    return this.claim(round, account, leaf.amount, leaf.proof);
  }

  /** Claims `account`'s reward (the signer's unless given) for several rounds in one transaction and one transfer. */
  async claimMany(claims: readonly { round: bigint; tree: RewardTree | RewardTreeDump }[], account: Address = this.account): Promise<TxResult> {
    if (claims.length === 0) throw new InvalidInputError('REWARD_NO_CLAIMS', 'give at least one round to claim');
    const who = address(account, 'the account');
    const leaves = claims.map(({ round, tree }) => {
      const leaf = ('proofOf' in tree ? tree : loadRewardTree(tree)).proofOf(who);
      if (!leaf) throw new InvalidInputError('REWARD_NOT_IN_TREE', `${who} has no reward in this tree for round ${round}`);
      return leaf;
    });
    return write(this.conn, this.signer, {
      ...this.distributor,
      action: `claiming rounds ${claims.map((c) => c.round).join(', ')}`,
      functionName: 'claimMany',
      args: [who, claims.map((c) => c.round), leaves.map((l) => l.amount), leaves.map((l) => l.proof)],
      // Measured (npm run bench chain): about 15k gas per round plus 1k per proof level, and 60k once.
      // This bound has room for a fresh claimed-flags word per round; what is not used is not charged.
      gas: 100_000n + leaves.reduce((sum, l) => sum + 45_000n + 2_000n * BigInt(l.proof.length), 0n),
    });
  }

  /**
   * Prepays `account`'s (the signer's unless given) claims of the next 255 to 510 rounds: `stake`
   * does it already; call it again when a participant has not staked for 255 rounds. Anyone may.
   */
  async registerForRewards(account: Address = this.account): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.distributor, action: 'registering for rewards', functionName: 'register', args: [address(account, 'the account')] });
  }

  /** Whether `account`'s claims of `round` are prepaid (registered): a first claim then costs what a returning one does. */
  async isRegisteredForRewards(account: Address, round: bigint): Promise<boolean> {
    return read('reading a registration', () =>
      this.conn.publicClient.readContract({ ...this.distributor, functionName: 'isRegistered', args: [address(account, 'the account'), round] }),
    );
  }

  /** Returns what an expired round left unclaimed to the reward pool. */
  async sweep(round: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.distributor, action: `sweeping round ${round}`, functionName: 'sweep', args: [round] });
  }

  /** A round's on-chain state (a zero root when never posted). */
  async rewardRound(round: bigint): Promise<RewardRoundInfo> {
    const r = await read('reading a reward round', () => this.conn.publicClient.readContract({ ...this.distributor, functionName: 'roundOf', args: [round] }));
    return { root: r.root, total: r.total, claimed: r.claimed, expiresAt: BigInt(r.expiresAt), swept: r.swept };
  }

  /** Whether `account` has claimed `round`. */
  async isClaimed(round: bigint, account: Address): Promise<boolean> {
    return read('reading a claim', () => this.conn.publicClient.readContract({ ...this.distributor, functionName: 'isClaimed', args: [round, address(account, 'the account')] }));
  }

  /** What rounds posted now may still promise in the current reward epoch (the per-round limit applies too). */
  async epochRewardLeft(): Promise<bigint> {
    return read('reading the epoch budget', () => this.conn.publicClient.readContract({ ...this.distributor, functionName: 'epochRewardLeft', args: [] }));
  }

  /** Tokens in the reward pool not yet promised to a round. */
  async rewardPoolAvailable(): Promise<bigint> {
    return read('reading the reward pool', () => this.conn.publicClient.readContract({ ...this.distributor, functionName: 'available', args: [] }));
  }

  // --- parameters ------------------------------------------------------------------------------

  /** The governed protocol parameters, read at the start of a job. */
  async parameters(): Promise<ProtocolParameters> {
    const p = await read('reading parameters', () =>
      this.conn.publicClient.readContract({ address: this.deployment.registry, abi: parameterRegistryAbi, functionName: 'parameters', args: [] }),
    );
    return { ...p };
  }
}
