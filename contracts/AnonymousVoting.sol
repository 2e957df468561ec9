// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {MemberRegistry} from "./MemberRegistry.sol";
import {MembershipVerifier} from "./MembershipVerifier.sol";
import {ParameterRegistry} from "./ParameterRegistry.sol";

/**
 * @title AnonymousVoting
 * @notice One member, one vote on a protocol parameter, without revealing who voted what: a member of the
 * {MemberRegistry} proves membership with scope = the proposal id and signal = its choice (0 against, 1 for,
 * 2 abstain), and the proof's nullifier lets it vote once per proposal. A passed proposal is scheduled on the same
 * timelock the token governor uses (this contract holds its PROPOSER_ROLE, not CANCELLER_ROLE), waits out its delay,
 * and then sets the parameter in the ParameterRegistry. The governor cancels only its own proposals' operations, so
 * token holders answer a decision of this track with a proposal of their own (setting the parameter back, or revoking
 * this contract's PROPOSER_ROLE), not by a veto within the delay.
 * @dev A second, member-counted track beside the token-weighted NexusGovernor rather than an input to it: the
 * governor's counting is by token weight at a block, which an anonymous tally cannot be. The track is confined to
 * the registry's parameter setters, so it cannot move funds or roles. Eligibility is frozen at proposal time: votes
 * are proved against the member root of that moment, so a member who joins later (or an account that unstakes and
 * registers a fresh identity) cannot vote on it. Voters should send their vote from an address not linked to their
 * stake (a relayer or a fresh account): the proof hides the leaf, not the transaction's sender.
 */
contract AnonymousVoting {
    /// @notice A vote's choice, the proof's signal.
    enum Choice {
        Against,
        For,
        Abstain
    }

    /// @notice Where a proposal stands.
    enum ProposalState {
        None,
        Active,
        Defeated,
        Succeeded,
        Queued,
        Executed
    }

    /// @notice One proposal: set the parameter behind `selector` to `value`.
    struct Proposal {
        /// @dev The member root when it was proposed: the only root votes may be proved against.
        uint256 root;
        uint256 value;
        bytes4 selector;
        uint64 voteEnd;
        uint32 quorum;
        uint32 forVotes;
        uint32 againstVotes;
        uint32 abstainVotes;
        bool queued;
        bool executed;
    }

    /// @notice Basis points in one.
    uint256 public constant BPS = 10_000;

    /// @notice The member set.
    MemberRegistry public immutable members;
    /// @notice The membership circuit's Groth16 verifier.
    MembershipVerifier public immutable verifier;
    /// @notice Schedules and executes passed proposals.
    TimelockController public immutable timelock;
    /// @notice The contract whose parameters the proposals set.
    ParameterRegistry public immutable parameters;
    /// @notice Seconds a proposal is open for votes.
    uint256 public immutable votingPeriod;
    /// @notice Share of the members at proposal time, in basis points, that must vote For or Abstain.
    uint256 public immutable quorumBps;

    uint256 private _nonce;
    mapping(uint256 proposalId => Proposal) private _proposals;
    mapping(uint256 proposalId => mapping(uint256 nullifier => bool)) private _voted;
    mapping(bytes4 selector => bool) private _settable;

    /// @notice `proposer` proposed setting the parameter behind `selector` to `value`; votes against `root` close at `voteEnd`.
    event ProposalCreated(uint256 indexed proposalId, address indexed proposer, bytes4 selector, uint256 value, uint256 root, uint64 voteEnd, uint32 quorum, string description);
    /// @notice A member voted `choice` on `proposalId`, spending `nullifier`.
    event VoteCast(uint256 indexed proposalId, uint256 nullifier, Choice choice);
    /// @notice The passed proposal was scheduled on the timelock as `operationId`.
    event ProposalQueued(uint256 indexed proposalId, bytes32 operationId);
    /// @notice The proposal's parameter change was executed through the timelock.
    event ProposalExecuted(uint256 indexed proposalId);

    /// @notice The zero address was given.
    error ZeroAddress();
    /// @notice Quorum is in basis points, 1 to 10,000.
    error InvalidQuorum(uint256 quorumBps);
    /// @notice `selector` is not one of the ParameterRegistry's setters.
    error NotAParameterSetter(bytes4 selector);
    /// @notice Only members (accounts with a commitment in the registry) may propose.
    error NotMember(address account);
    /// @notice `proposalId` is `state`, not in a state that allows this.
    error UnexpectedProposalState(uint256 proposalId, ProposalState state);
    /// @notice A choice is 0 (against), 1 (for) or 2 (abstain).
    error InvalidChoice(uint256 choice);
    /// @notice `nullifier` already voted on `proposalId`.
    error AlreadyVoted(uint256 proposalId, uint256 nullifier);
    /// @notice The Groth16 proof does not verify for this proposal's root, its id as scope and the choice as signal.
    error InvalidProof();

    /**
     * @param members_ the member registry
     * @param timelock_ the governance timelock (grant this contract its PROPOSER_ROLE)
     * @param parameters_ the ParameterRegistry the timelock owns
     * @param votingPeriod_ seconds a proposal is open for votes
     * @param quorumBps_ share of members (basis points) that must vote For or Abstain
     */
    constructor(MemberRegistry members_, TimelockController timelock_, ParameterRegistry parameters_, uint256 votingPeriod_, uint256 quorumBps_) {
        if (address(members_) == address(0) || address(timelock_) == address(0) || address(parameters_) == address(0)) revert ZeroAddress();
        if (quorumBps_ == 0 || quorumBps_ > BPS) revert InvalidQuorum(quorumBps_);
        members = members_;
        verifier = members_.verifier();
        timelock = timelock_;
        parameters = parameters_;
        votingPeriod = votingPeriod_;
        quorumBps = quorumBps_;
        bytes4[10] memory setters = [
            ParameterRegistry.setRewardPerRound.selector,
            ParameterRegistry.setMinimumStake.selector,
            ParameterRegistry.setSlashFractionBps.selector,
            ParameterRegistry.setDefaultPrivacyBudgetMilli.selector,
            ParameterRegistry.setUnstakeCooldown.selector,
            ParameterRegistry.setClaimWindow.selector,
            ParameterRegistry.setReputationDecayBps.selector,
            ParameterRegistry.setMaxRewardPerEpoch.selector,
            ParameterRegistry.setRewardEpoch.selector,
            ParameterRegistry.setSlashChallengePeriod.selector
        ];
        for (uint256 i = 0; i < setters.length; i++) {
            _settable[setters[i]] = true;
        }
    }

    /**
     * @notice Proposes setting a parameter; only a member may propose. The proposal id, a field element derived from
     * this chain, this contract and a counter, is the scope members prove in, so their nullifiers here are unlinkable
     * to those of any other proposal or application.
     * @param selector the ParameterRegistry setter, e.g. `setRewardPerRound.selector`
     * @param value the parameter's new value
     * @return proposalId the proposal's id and the votes' scope
     */
    function propose(bytes4 selector, uint256 value, string calldata description) external returns (uint256 proposalId) {
        if (!_settable[selector]) revert NotAParameterSetter(selector);
        (uint256 commitment,) = members.memberOf(msg.sender);
        if (commitment == 0) revert NotMember(msg.sender);
        // Shifted below 2^253 so it is a field element (BN254's r is about 2^253.6).
        proposalId = uint256(keccak256(abi.encode(block.chainid, address(this), _nonce++))) >> 3;
        uint256 count = members.memberCount();
        uint32 quorum_ = uint32((count * quorumBps + BPS - 1) / BPS);
        uint64 voteEnd = uint64(block.timestamp + votingPeriod);
        uint256 root = members.root();
        _proposals[proposalId] = Proposal(root, value, selector, voteEnd, quorum_, 0, 0, 0, false, false);
        emit ProposalCreated(proposalId, msg.sender, selector, value, root, voteEnd, quorum_, description);
    }

    /**
     * @notice Casts an anonymous vote: `proof` shows that the sender knows the secret of a member of the proposal's
     * root, with scope = `proposalId` and signal = `choice`; its `nullifier` may vote once.
     * @param proof a, b, c of the Groth16 proof in the verifier's order (see MemberRegistry.verifyMembership)
     */
    function castVote(uint256 proposalId, uint256 choice, uint256 nullifier, uint256[8] calldata proof) external {
        ProposalState s = state(proposalId);
        if (s != ProposalState.Active) revert UnexpectedProposalState(proposalId, s);
        if (choice > uint256(Choice.Abstain)) revert InvalidChoice(choice);
        if (_voted[proposalId][nullifier]) revert AlreadyVoted(proposalId, nullifier);
        Proposal storage p = _proposals[proposalId];
        if (!verifier.verifyProof([proof[0], proof[1]], [[proof[2], proof[3]], [proof[4], proof[5]]], [proof[6], proof[7]], [nullifier, p.root, proposalId, choice])) {
            revert InvalidProof();
        }
        _voted[proposalId][nullifier] = true;
        if (choice == uint256(Choice.For)) p.forVotes += 1;
        else if (choice == uint256(Choice.Against)) p.againstVotes += 1;
        else p.abstainVotes += 1;
        emit VoteCast(proposalId, nullifier, Choice(choice));
    }

    /// @notice Schedules a succeeded proposal on the timelock; anyone may call it.
    function queue(uint256 proposalId) external returns (bytes32 operationId) {
        ProposalState s = state(proposalId);
        if (s != ProposalState.Succeeded) revert UnexpectedProposalState(proposalId, s);
        Proposal storage p = _proposals[proposalId];
        p.queued = true;
        bytes memory data = abi.encodeWithSelector(p.selector, p.value);
        operationId = timelock.hashOperation(address(parameters), 0, data, bytes32(0), bytes32(proposalId));
        timelock.schedule(address(parameters), 0, data, bytes32(0), bytes32(proposalId), timelock.getMinDelay());
        emit ProposalQueued(proposalId, operationId);
    }

    /// @notice Executes a queued proposal once the timelock's delay has passed; anyone may call it.
    function execute(uint256 proposalId) external {
        ProposalState s = state(proposalId);
        if (s != ProposalState.Queued) revert UnexpectedProposalState(proposalId, s);
        Proposal storage p = _proposals[proposalId];
        p.executed = true;
        timelock.execute(address(parameters), 0, abi.encodeWithSelector(p.selector, p.value), bytes32(0), bytes32(proposalId));
        emit ProposalExecuted(proposalId);
    }

    /// @notice Where `proposalId` stands: Active until its vote ends, then Succeeded (more For than Against, and For plus Abstain reach the quorum) or Defeated.
    function state(uint256 proposalId) public view returns (ProposalState) {
        Proposal storage p = _proposals[proposalId];
        if (p.voteEnd == 0) return ProposalState.None;
        if (p.executed) return ProposalState.Executed;
        if (p.queued) return ProposalState.Queued;
        if (block.timestamp <= p.voteEnd) return ProposalState.Active;
        bool passed = p.forVotes > p.againstVotes && uint256(p.forVotes) + p.abstainVotes >= p.quorum;
        return passed ? ProposalState.Succeeded : ProposalState.Defeated;
    }

    /// @notice The proposal as stored (voteEnd 0 when there is none).
    function proposalOf(uint256 proposalId) external view returns (Proposal memory) {
        return _proposals[proposalId];
    }

    /// @notice Whether `nullifier` voted on `proposalId`.
    function hasVoted(uint256 proposalId, uint256 nullifier) external view returns (bool) {
        return _voted[proposalId][nullifier];
    }
}
