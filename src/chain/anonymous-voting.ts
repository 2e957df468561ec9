// One member, one vote on protocol parameters (contracts/AnonymousVoting.sol): a member proves membership in the
// member tree as it stood when the proposal was made, with the proposal id as scope and its choice as signal, and a
// passed proposal goes through the governance timelock to the ParameterRegistry.
import { parseEventLogs, toFunctionSelector, type Address, type Hex, type LocalAccount } from 'viem';
import { InvalidInputError, NotFoundError, StateError } from '../core/errors.js';
import type { Identity, Membership, MembershipProof } from '../privacy/zk/index.js';
import { anonymousVotingAbi } from './artifacts.js';
import type { ChainConnection } from './connection.js';
import type { NexusDeployment } from './deploy.js';
import { PARAMETER_SETTERS, VOTE_SUPPORT, type ParameterName, type VoteSupport } from './governance.js';
import { MemberRegistryClient, proofWords } from './members.js';
import { read, write, type TxResult } from './transact.js';

/** AnonymousVoting.ProposalState, by name. */
export const ANONYMOUS_PROPOSAL_STATES = ['None', 'Active', 'Defeated', 'Succeeded', 'Queued', 'Executed'] as const;
export type AnonymousProposalState = (typeof ANONYMOUS_PROPOSAL_STATES)[number];

/** An anonymous proposal as the contract stores it. */
export interface AnonymousProposal {
  proposalId: bigint;
  state: AnonymousProposalState;
  parameter: ParameterName;
  value: bigint;
  /** The member root votes are proved against: the tree when it was proposed. */
  root: bigint;
  /** Unix seconds when voting closes. */
  voteEnd: bigint;
  /** Votes (For + Abstain) needed. */
  quorum: number;
  forVotes: number;
  againstVotes: number;
  abstainVotes: number;
}

const parameterOfSelector = new Map<Hex, ParameterName>(
  Object.entries(PARAMETER_SETTERS).map(([name, setter]) => [toFunctionSelector(`${setter}(uint256)`), name as ParameterName]),
);

/** Anonymous parameter votes, signed by one account (send votes from an account not linked to your stake). */
export class AnonymousVotingClient {
  private readonly members: MemberRegistryClient;

  constructor(
    private readonly conn: ChainConnection,
    private readonly deployment: NexusDeployment,
    private readonly signer: LocalAccount = conn.accounts[0],
  ) {
    this.members = new MemberRegistryClient(conn, deployment, signer);
  }

  private get contract() {
    return { address: this.deployment.anonymousVoting, abi: anonymousVotingAbi } as const;
  }

  /** Proposes setting registry parameter `name` to `value`; the signer must be a member. Returns the proposal id, the votes' scope. */
  async propose(name: ParameterName, value: bigint, description = `Set ${name} to ${value}`): Promise<TxResult & { proposalId: bigint }> {
    const setter = PARAMETER_SETTERS[name];
    if (!setter) throw new InvalidInputError('GOV_UNKNOWN_PARAMETER', `unknown parameter '${String(name)}'`);
    const selector = toFunctionSelector(`${setter}(uint256)`);
    const tx = await write(this.conn, this.signer, { ...this.contract, action: 'proposing an anonymous vote', functionName: 'propose', args: [selector, value, description] });
    const [created] = parseEventLogs({ abi: anonymousVotingAbi, logs: tx.receipt.logs, eventName: 'ProposalCreated' });
    return { ...tx, proposalId: created.args.proposalId };
  }

  /** The proposal and its tallies. */
  async proposal(proposalId: bigint): Promise<AnonymousProposal> {
    const pc = this.conn.publicClient;
    const stored = await read('reading an anonymous proposal', () => pc.readContract({ ...this.contract, functionName: 'proposalOf', args: [proposalId] }));
    if (stored.voteEnd === 0n) throw new NotFoundError('anonymous proposal', proposalId.toString());
    const state = await read('reading a proposal state', () => pc.readContract({ ...this.contract, functionName: 'state', args: [proposalId] }));
    const parameter = parameterOfSelector.get(stored.selector);
    if (parameter === undefined) throw new StateError('GOV_UNKNOWN_PARAMETER', `proposal ${proposalId} calls ${stored.selector}, not a known parameter setter`);
    return {
      proposalId,
      state: ANONYMOUS_PROPOSAL_STATES[state],
      parameter,
      value: stored.value,
      root: stored.root,
      voteEnd: stored.voteEnd,
      quorum: stored.quorum,
      forVotes: stored.forVotes,
      againstVotes: stored.againstVotes,
      abstainVotes: stored.abstainVotes,
    };
  }

  /**
   * Proves that `identity` was a member when the proposal was made and votes `support`: scope = the proposal id,
   * signal = the choice (against 0, for 1, abstain 2). The proof can be sent by any account (see {@link castVote}).
   */
  async proveVote(membership: Membership, identity: Identity, proposalId: bigint, support: VoteSupport): Promise<MembershipProof> {
    const choice = VOTE_SUPPORT[support];
    if (choice === undefined) throw new InvalidInputError('GOV_BAD_SUPPORT', `a vote is for, against or abstain, got '${support}'`);
    const { root } = await this.proposal(proposalId);
    const tree = await this.members.tree(root);
    let index = -1;
    for (let i = tree.size - 1; i >= 0 && index < 0; i--) if (tree.leaf(i) === identity.commitment) index = i;
    if (index < 0) throw new StateError('GOV_NOT_A_VOTER', `this identity was not a member when proposal ${proposalId} was made, so it cannot vote on it`);
    return membership.prove({ identity, path: tree.path(index), scope: proposalId, signalHash: BigInt(choice) });
  }

  /** Sends an anonymous vote: the proof's scope is the proposal, its signal the choice. */
  castVote(proof: MembershipProof): Promise<TxResult> {
    return write(this.conn, this.signer, {
      ...this.contract,
      action: 'casting an anonymous vote',
      functionName: 'castVote',
      args: [proof.scope, proof.signalHash, proof.nullifier, proofWords(proof)],
    });
  }

  /** Schedules a succeeded proposal on the timelock. */
  queue(proposalId: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.contract, action: 'queueing an anonymous proposal', functionName: 'queue', args: [proposalId] });
  }

  /** Executes a queued proposal once the timelock's delay has passed. */
  execute(proposalId: bigint): Promise<TxResult> {
    return write(this.conn, this.signer, { ...this.contract, action: 'executing an anonymous proposal', functionName: 'execute', args: [proposalId] });
  }

  /** Whether `nullifier` voted on `proposalId`. */
  hasVoted(proposalId: bigint, nullifier: bigint): Promise<boolean> {
    return read('reading a vote', () => this.conn.publicClient.readContract({ ...this.contract, functionName: 'hasVoted', args: [proposalId, nullifier] }));
  }

  /** The contract's address, where votes go. */
  get address(): Address {
    return this.deployment.anonymousVoting;
  }
}
