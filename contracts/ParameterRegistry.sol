// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/**
 * @title ParameterRegistry
 * @notice The protocol parameters that token holders steer: reward per round, minimum stake, slash
 * fraction, default privacy budget, unstake cool-down, claim window, reputation decay, the reward
 * budget of an epoch and its length, and the challenge period of a proposed slash.
 * @dev The owner is the governance timelock, so every change is a proposal that passed a vote and
 * waited out the timelock. Off-chain components (the coordinator) read the values at the start of
 * each job; on-chain components (Staking, RewardDistributor, Reputation) read them on every call.
 */
contract ParameterRegistry is Ownable {
    /// @notice One basis point is 1/10,000.
    uint256 public constant BPS = 10_000;

    /// @notice The set of governed parameters, returned together by {parameters}.
    struct Parameters {
        uint256 rewardPerRound;
        uint256 minimumStake;
        uint256 slashFractionBps;
        uint256 defaultPrivacyBudgetMilli;
        uint256 unstakeCooldown;
        uint256 claimWindow;
        uint256 reputationDecayBps;
        uint256 maxRewardPerEpoch;
        uint256 rewardEpoch;
        uint256 slashChallengePeriod;
    }

    /// @notice Most tokens (in base units) one round may pay out in rewards.
    uint256 public rewardPerRound;
    /// @notice Stake (in base units) an account needs to take part in training or to sell data.
    uint256 public minimumStake;
    /// @notice Share of a stake taken by one slash, in basis points.
    uint256 public slashFractionBps;
    /// @notice Default differential-privacy budget of a job, epsilon times 1,000.
    uint256 public defaultPrivacyBudgetMilli;
    /// @notice Seconds between an unstake request and the withdrawal it allows.
    uint256 public unstakeCooldown;
    /// @notice Seconds a round's rewards stay claimable after its root is posted.
    uint256 public claimWindow;
    /// @notice Share of a reputation score kept per round without activity, in basis points.
    uint256 public reputationDecayBps;
    /// @notice Most tokens (in base units) all rounds posted in one reward epoch may pay out together.
    uint256 public maxRewardPerEpoch;
    /// @notice Seconds of one reward epoch; epoch n covers [n * rewardEpoch, (n + 1) * rewardEpoch).
    uint256 public rewardEpoch;
    /// @notice Seconds a proposed slash waits, contestable by the accused or governance, before it may take effect.
    uint256 public slashChallengePeriod;

    /// @notice A parameter changed from `oldValue` to `newValue`.
    event ParameterChanged(bytes32 indexed name, uint256 oldValue, uint256 newValue);

    /// @notice `value` is outside the range allowed for parameter `name`.
    error ParameterOutOfRange(bytes32 name, uint256 value);

    /**
     * @param governance the timelock that owns the registry
     * @param initial the parameters the protocol starts with
     */
    constructor(address governance, Parameters memory initial) Ownable(governance) {
        _set("rewardPerRound", initial.rewardPerRound);
        _set("minimumStake", initial.minimumStake);
        _set("slashFractionBps", initial.slashFractionBps);
        _set("defaultPrivacyBudgetMilli", initial.defaultPrivacyBudgetMilli);
        _set("unstakeCooldown", initial.unstakeCooldown);
        _set("claimWindow", initial.claimWindow);
        _set("reputationDecayBps", initial.reputationDecayBps);
        _set("maxRewardPerEpoch", initial.maxRewardPerEpoch);
        _set("rewardEpoch", initial.rewardEpoch);
        _set("slashChallengePeriod", initial.slashChallengePeriod);
    }

    /// @notice All parameters in one call.
    function parameters() external view returns (Parameters memory) {
        return Parameters(
            rewardPerRound,
            minimumStake,
            slashFractionBps,
            defaultPrivacyBudgetMilli,
            unstakeCooldown,
            claimWindow,
            reputationDecayBps,
            maxRewardPerEpoch,
            rewardEpoch,
            slashChallengePeriod
        );
    }

    /// @notice Sets the most a round may pay out. Only governance.
    function setRewardPerRound(uint256 value) external onlyOwner {
        _set("rewardPerRound", value);
    }

    /// @notice Sets the stake needed for eligibility. Only governance.
    function setMinimumStake(uint256 value) external onlyOwner {
        _set("minimumStake", value);
    }

    /// @notice Sets the share of a stake one slash takes, in basis points (at most 10,000). Only governance.
    function setSlashFractionBps(uint256 value) external onlyOwner {
        _set("slashFractionBps", value);
    }

    /// @notice Sets the default privacy budget of a job, epsilon times 1,000 (non-zero). Only governance.
    function setDefaultPrivacyBudgetMilli(uint256 value) external onlyOwner {
        _set("defaultPrivacyBudgetMilli", value);
    }

    /// @notice Sets the unstake cool-down in seconds (at most 365 days). Only governance.
    function setUnstakeCooldown(uint256 value) external onlyOwner {
        _set("unstakeCooldown", value);
    }

    /// @notice Sets how long rewards stay claimable, in seconds (1 hour to 365 days). Only governance.
    function setClaimWindow(uint256 value) external onlyOwner {
        _set("claimWindow", value);
    }

    /// @notice Sets the share of reputation kept per idle round, in basis points (at most 10,000). Only governance.
    function setReputationDecayBps(uint256 value) external onlyOwner {
        _set("reputationDecayBps", value);
    }

    /// @notice Sets the most all rounds of one reward epoch may pay out. Only governance.
    function setMaxRewardPerEpoch(uint256 value) external onlyOwner {
        _set("maxRewardPerEpoch", value);
    }

    /// @notice Sets the length of a reward epoch in seconds (1 hour to 365 days); the epoch under way restarts its count. Only governance.
    function setRewardEpoch(uint256 value) external onlyOwner {
        _set("rewardEpoch", value);
    }

    /// @notice Sets how long a proposed slash stays contestable, in seconds (1 hour to 90 days); applies to slashes proposed afterwards. Only governance.
    function setSlashChallengePeriod(uint256 value) external onlyOwner {
        _set("slashChallengePeriod", value);
    }

    function _set(bytes32 name, uint256 value) private {
        uint256 old;
        if (name == "rewardPerRound") {
            old = rewardPerRound;
            rewardPerRound = value;
        } else if (name == "minimumStake") {
            old = minimumStake;
            minimumStake = value;
        } else if (name == "slashFractionBps") {
            if (value > BPS) revert ParameterOutOfRange(name, value);
            old = slashFractionBps;
            slashFractionBps = value;
        } else if (name == "defaultPrivacyBudgetMilli") {
            if (value == 0) revert ParameterOutOfRange(name, value);
            old = defaultPrivacyBudgetMilli;
            defaultPrivacyBudgetMilli = value;
        } else if (name == "unstakeCooldown") {
            if (value > 365 days) revert ParameterOutOfRange(name, value);
            old = unstakeCooldown;
            unstakeCooldown = value;
        } else if (name == "claimWindow") {
            if (value < 1 hours || value > 365 days) revert ParameterOutOfRange(name, value);
            old = claimWindow;
            claimWindow = value;
        } else if (name == "reputationDecayBps") {
            if (value > BPS) revert ParameterOutOfRange(name, value);
            old = reputationDecayBps;
            reputationDecayBps = value;
        } else if (name == "maxRewardPerEpoch") {
            old = maxRewardPerEpoch;
            maxRewardPerEpoch = value;
        } else if (name == "rewardEpoch") {
            if (value < 1 hours || value > 365 days) revert ParameterOutOfRange(name, value);
            old = rewardEpoch;
            rewardEpoch = value;
        } else {
            if (value < 1 hours || value > 90 days) revert ParameterOutOfRange(name, value);
            old = slashChallengePeriod;
            slashChallengePeriod = value;
        }
        emit ParameterChanged(name, old, value);
    }
}
