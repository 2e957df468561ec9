import { encodeFunctionData, keccak256, parseEventLogs, toBytes, type Address, type Hex, type LocalAccount } from 'viem';
import { InvalidInputError, NotFoundError, StateError } from '../core/errors.js';
import { nexusGovernorAbi, parameterRegistryAbi, stakingAbi } from './artifacts.js';
import type { ChainConnection } from './connection.js';
import type { NexusDeployment, ProtocolParameters } from './deploy.js';
import { read, write, type TxResult } from './transact.js';

/** OpenZeppelin's IGovernor.ProposalState, by name. */
export const PROPOSAL_STATES = ['Pending', 'Active', 'Canceled', 'Defeated', 'Succeeded', 'Queued', 'Expired', 'Executed'] as const;
export type ProposalState = (typeof PROPOSAL_STATES)[number];

/** GovernorCountingSimple's support values. */
export const VOTE_SUPPORT = { against: 0, for: 1, abstain: 2 } as const;
export type VoteSupport = keyof typeof VOTE_SUPPORT;

/** One call a proposal makes through the timelock. */
export interface ProposalAction {
  target: Address;
  value?: bigint;
  data: Hex;
}

export interface ProposalStatus {
  proposalId: bigint;
  state: ProposalState;
  forVotes: bigint;
  againstVotes: bigint;
  abstainVotes: bigint;
  /** Block whose vote balances count; voting opens after it. */
  snapshot: bigint;
  /** Last block of voting. */
  deadline: bigint;
  /** Votes (For + Abstain) needed. */
  quorum: bigint;
  /** Unix seconds after which a queued proposal may execute; 0 until queued. */
  eta: bigint;
  description: string;
}

export interface CreatedProposal extends TxResult {
  proposalId: bigint;
}

/** Registry parameters a proposal can set, and the setter each one calls. */
export const PARAMETER_SETTERS = {
  rewardPerRound: 'setRewardPerRound',
  minimumStake: 'setMinimumStake',
  slashFractionBps: 'setSlashFractionBps',
  defaultPrivacyBudgetMilli: 'setDefaultPrivacyBudgetMilli',
  unstakeCooldown: 'setUnstakeCooldown',
  claimWindow: 'setClaimWindow',
  reputationDecayBps: 'setReputationDecayBps',
  maxRewardPerEpoch: 'setMaxRewardPerEpoch',
  rewardEpoch: 'setRewardEpoch',
  slashChallengePeriod: 'setSlashChallengePeriod',
} as const satisfies Record<keyof ProtocolParameters, string>;

export type ParameterName = keyof ProtocolParameters;

/** What governance may do with an open slash. */
export type SlashDecision = 'cancel' | 'uphold';
export const PARAMETER_NAMES = Object.keys(PARAMETER_SETTERS) as ParameterName[];

interface StoredProposal {
  targets: readonly Address[];
  values: readonly bigint[];
  calldatas: readonly Hex[];
  description: string;
}

/** Token-holder governance through NexusGovernor and its timelock. */
export class NexusGovernance {
  constructor(
    private readonly conn: ChainConnection,
    private readonly deployment: NexusDeployment,
    private readonly signer: LocalAccount,
  ) {}

  private get governor() {
    return { address: this.deployment.governor, abi: nexusGovernorAbi } as const;
  }

  /** Proposes `actions` with `description` (which, hashed, is part of the proposal id). */
  async propose(actions: readonly ProposalAction[], description: string): Promise<CreatedProposal> {
    if (actions.length === 0) throw new InvalidInputError('GOV_EMPTY_PROPOSAL', 'a proposal needs at least one action');
    if (description.trim() === '') throw new InvalidInputError('GOV_NO_DESCRIPTION', 'a proposal needs a description');
    const tx = await write(this.conn, this.signer, {
      ...this.governor,
      action: 'proposing',
      functionName: 'propose',
      args: [actions.map((a) => a.target), actions.map((a) => a.value ?? 0n), actions.map((a) => a.data), description],
    });
    const [created] = parseEventLogs({ abi: nexusGovernorAbi, logs: tx.receipt.logs, eventName: 'ProposalCreated' });
    return { ...tx, proposalId: created.args.proposalId };
  }

  /** Proposes setting one registry parameter to `value`. */
  async proposeParameterChange(name: ParameterName, value: bigint, description = `Set ${name} to ${value}`): Promise<CreatedProposal> {
    const setter = PARAMETER_SETTERS[name];
    if (!setter) throw new InvalidInputError('GOV_UNKNOWN_PARAMETER', `unknown parameter '${String(name)}'; one of ${PARAMETER_NAMES.join(', ')}`);
    const data = encodeFunctionData({ abi: parameterRegistryAbi, functionName: setter, args: [value] });
    return this.propose([{ target: this.deployment.registry, data }], description);
  }

  /**
   * Proposes deciding the open slash proposed with `evidence` (its 32-byte hash): `cancel` so it
   * never takes effect, or `uphold` so it takes effect when the proposal executes.
   */
  async proposeSlashDecision(evidence: Hex, decision: SlashDecision, description = `${decision === 'cancel' ? 'Cancel' : 'Uphold'} the slash ${evidence}`): Promise<CreatedProposal> {
    if (decision !== 'cancel' && decision !== 'uphold') throw new InvalidInputError('GOV_BAD_SLASH_DECISION', `a slash decision is cancel or uphold, got '${String(decision)}'`);
    const data = encodeFunctionData({ abi: stakingAbi, functionName: decision === 'cancel' ? 'cancelSlash' : 'upholdSlash', args: [evidence] });
    return this.propose([{ target: this.deployment.staking, data }], description);
  }

  /** Votes on an active proposal with the signer's delegated votes at its snapshot. */
  async castVote(proposalId: bigint, support: VoteSupport, reason?: string): Promise<TxResult> {
    const value = VOTE_SUPPORT[support];
    if (value === undefined) throw new InvalidInputError('GOV_BAD_SUPPORT', `a vote is for, against or abstain, got '${support}'`);
    return reason === undefined
      ? write(this.conn, this.signer, { ...this.governor, action: 'voting', functionName: 'castVote', args: [proposalId, value] })
      : write(this.conn, this.signer, { ...this.governor, action: 'voting', functionName: 'castVoteWithReason', args: [proposalId, value, reason] });
  }

  /** Queues a succeeded proposal in the timelock. */
  async queue(proposalId: bigint): Promise<TxResult> {
    const p = await this.find(proposalId);
    return write(this.conn, this.signer, {
      ...this.governor,
      action: 'queueing',
      functionName: 'queue',
      args: [p.targets, p.values, p.calldatas, keccak256(toBytes(p.description))],
    });
  }

  /** Executes a queued proposal whose timelock delay has passed. */
  async execute(proposalId: bigint): Promise<TxResult> {
    const p = await this.find(proposalId);
    return write(this.conn, this.signer, {
      ...this.governor,
      action: 'executing',
      functionName: 'execute',
      args: [p.targets, p.values, p.calldatas, keccak256(toBytes(p.description))],
    });
  }

  /** Where a proposal stands: state, tallies, snapshot, deadline, quorum and timelock eta. */
  async status(proposalId: bigint): Promise<ProposalStatus> {
    const stored = await this.find(proposalId);
    const call = <T>(what: string, fn: () => Promise<T>) => read(`reading ${what}`, fn);
    const pc = this.conn.publicClient;
    const state = await call('the proposal state', () => pc.readContract({ ...this.governor, functionName: 'state', args: [proposalId] }));
    const [againstVotes, forVotes, abstainVotes] = await call('the votes', () => pc.readContract({ ...this.governor, functionName: 'proposalVotes', args: [proposalId] }));
    const snapshot = await call('the snapshot', () => pc.readContract({ ...this.governor, functionName: 'proposalSnapshot', args: [proposalId] }));
    const deadline = await call('the deadline', () => pc.readContract({ ...this.governor, functionName: 'proposalDeadline', args: [proposalId] }));
    const eta = await call('the eta', () => pc.readContract({ ...this.governor, functionName: 'proposalEta', args: [proposalId] }));
    // viem caches the block number for a polling interval; a dev chain may have mined or reverted since.
    const current = await pc.getBlockNumber({ cacheTime: 0 });
    // quorum() needs a past timepoint; before the snapshot is mined, show the quorum as of now.
    const at = snapshot < current ? snapshot : current - 1n;
    const quorum = await call('the quorum', () => pc.readContract({ ...this.governor, functionName: 'quorum', args: [at] }));
    return { proposalId, state: PROPOSAL_STATES[state], forVotes, againstVotes, abstainVotes, snapshot, deadline, quorum, eta, description: stored.description };
  }

  /**
   * Development chains only: moves time to the proposal's next stage: a pending proposal to its
   * voting period, an active one past its deadline, a queued one past its timelock eta.
   */
  async fastForward(proposalId: bigint): Promise<ProposalState> {
    const s = await this.status(proposalId);
    const now = await this.conn.publicClient.getBlockNumber({ cacheTime: 0 });
    if (s.state === 'Pending') await this.conn.mine(s.snapshot - now + 1n);
    else if (s.state === 'Active') await this.conn.mine(s.deadline - now + 1n);
    else if (s.state === 'Queued') {
      const block = await this.conn.publicClient.getBlock();
      if (s.eta > block.timestamp) await this.conn.increaseTime(s.eta - block.timestamp);
    } else throw new StateError('GOV_NOTHING_TO_WAIT_FOR', `proposal ${proposalId} is ${s.state}; only Pending, Active and Queued proposals wait for time`);
    return (await this.status(proposalId)).state;
  }

  private async find(proposalId: bigint): Promise<StoredProposal> {
    const events = await read('reading proposals', () =>
      this.conn.publicClient.getContractEvents({ ...this.governor, eventName: 'ProposalCreated', fromBlock: this.deployment.fromBlock }),
    );
    const created = events.find((e) => e.args.proposalId === proposalId);
    if (!created?.args.targets || !created.args.values || !created.args.calldatas || created.args.description === undefined) {
      throw new NotFoundError('proposal', proposalId.toString());
    }
    return { targets: created.args.targets, values: created.args.values, calldatas: created.args.calldatas, description: created.args.description };
  }
}
