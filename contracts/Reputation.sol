// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ParameterRegistry} from "./ParameterRegistry.sol";

/**
 * @title Reputation
 * @notice A score per participant, raised by its contribution to each round and lowered by
 * misbehaviour, decaying by the registry's decay factor for every round that passes. Client
 * selection reads {scoreOf} / {scoresOf}.
 * @dev Scores are points where 1,000,000 is one full contribution to one round. A record at round
 * r first decays the stored score from its last round to r, then adds the contribution and
 * subtracts the penalty (not below zero). Views decay to the latest round recorded for anyone, so
 * an idle participant fades. Rounds are the coordinator's global round numbers (increasing across
 * jobs), the same numbers the RewardDistributor uses.
 */
contract Reputation is AccessControl {
    /// @notice May record contributions and penalties (the coordinator).
    bytes32 public constant UPDATER_ROLE = keccak256("UPDATER_ROLE");
    /// @notice Points of one full contribution to one round.
    uint256 public constant ONE = 1_000_000;

    struct Entry {
        uint128 score;
        uint64 lastRound;
        uint32 misbehaviours;
    }

    /// @notice Where the decay factor is read.
    ParameterRegistry public immutable registry;
    /// @notice The latest round recorded for any participant.
    uint64 public latestRound;

    mapping(address participant => Entry) private _entries;

    /// @notice `participant` earned `contribution` and lost `penalty` points in `round`; its score is now `score`.
    event ReputationUpdated(address indexed participant, uint64 indexed round, uint256 contribution, uint256 penalty, uint256 score);

    /// @notice `participant` was last recorded at `lastRound`, after `round`.
    error RoundInPast(address participant, uint64 lastRound, uint64 round);
    /// @notice The arrays given to {recordBatch} differ in length.
    error LengthMismatch();
    /// @notice A contribution or penalty exceeds one full round (`ONE`).
    error PointsOutOfRange(uint256 points);
    /// @notice The zero address was given.
    error ZeroAddress();

    /**
     * @param registry_ the parameter registry (decay factor)
     * @param admin DEFAULT_ADMIN_ROLE (the governance timelock)
     * @param updater UPDATER_ROLE (the coordinator)
     */
    constructor(ParameterRegistry registry_, address admin, address updater) {
        if (address(registry_) == address(0) || admin == address(0) || updater == address(0)) revert ZeroAddress();
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(UPDATER_ROLE, updater);
    }

    /// @notice Records one participant's `contribution` and misbehaviour `penalty` (points, at most `ONE` each) for `round`. Only UPDATER_ROLE.
    function record(uint64 round, address participant, uint256 contribution, uint256 penalty) external onlyRole(UPDATER_ROLE) {
        uint256 decay = registry.reputationDecayBps();
        _record(round, participant, contribution, penalty, decay);
        if (round > latestRound) latestRound = round;
    }

    /// @notice Records a whole round at once; arrays are index-aligned. Only UPDATER_ROLE.
    function recordBatch(uint64 round, address[] calldata participants, uint256[] calldata contributions, uint256[] calldata penalties)
        external
        onlyRole(UPDATER_ROLE)
    {
        if (participants.length != contributions.length || participants.length != penalties.length) revert LengthMismatch();
        uint256 decay = registry.reputationDecayBps();
        for (uint256 i = 0; i < participants.length; ++i) {
            _record(round, participants[i], contributions[i], penalties[i], decay);
        }
        if (round > latestRound) latestRound = round;
    }

    /// @notice `participant`'s score decayed to the latest round.
    function scoreOf(address participant) public view returns (uint256) {
        Entry memory e = _entries[participant];
        return _decayed(e.score, latestRound - e.lastRound, registry.reputationDecayBps());
    }

    /// @notice The scores of `participants`, decayed to the latest round, in the same order.
    function scoresOf(address[] calldata participants) external view returns (uint256[] memory scores) {
        uint256 decay = registry.reputationDecayBps();
        scores = new uint256[](participants.length);
        for (uint256 i = 0; i < participants.length; ++i) {
            Entry memory e = _entries[participants[i]];
            scores[i] = _decayed(e.score, latestRound - e.lastRound, decay);
        }
    }

    /// @notice `participant`'s stored (undecayed) score, last recorded round and misbehaviour count.
    function entryOf(address participant) external view returns (uint256 score, uint64 lastRound, uint32 misbehaviours) {
        Entry memory e = _entries[participant];
        return (e.score, e.lastRound, e.misbehaviours);
    }

    function _record(uint64 round, address participant, uint256 contribution, uint256 penalty, uint256 decay) private {
        if (participant == address(0)) revert ZeroAddress();
        if (contribution > ONE) revert PointsOutOfRange(contribution);
        if (penalty > ONE) revert PointsOutOfRange(penalty);
        Entry storage e = _entries[participant];
        if (round < e.lastRound) revert RoundInPast(participant, e.lastRound, round);
        uint256 score = _decayed(e.score, round - e.lastRound, decay) + contribution;
        score = score > penalty ? score - penalty : 0;
        e.score = uint128(score);
        e.lastRound = round;
        if (penalty > 0) e.misbehaviours += 1;
        emit ReputationUpdated(participant, round, contribution, penalty, score);
    }

    /// @dev score * (decayBps / 10,000)^rounds, by square-and-multiply in 1e18 fixed point.
    function _decayed(uint256 score, uint256 rounds, uint256 decayBps) private pure returns (uint256) {
        if (score == 0 || rounds == 0) return score;
        if (decayBps == 0) return 0;
        uint256 result = 1e18;
        uint256 base = (decayBps * 1e18) / 10_000;
        while (rounds > 0 && result > 0) {
            if (rounds & 1 == 1) result = (result * base) / 1e18;
            base = (base * base) / 1e18;
            rounds >>= 1;
        }
        return (score * result) / 1e18;
    }
}
