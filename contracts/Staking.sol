// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ParameterRegistry} from "./ParameterRegistry.sol";
import {RewardDistributor} from "./RewardDistributor.sol";

/**
 * @title Staking
 * @notice Participants stake tokens to take part in training or to sell data. Unstaking is two
 * steps: {requestUnstake} starts the cool-down, {withdraw} pays out after it. Stake (active and
 * cooling down) can be slashed by the coordinator with evidence, or by governance; slashed tokens
 * go to the treasury.
 * @dev The minimum stake, the slash fraction and the cool-down are read from the ParameterRegistry
 * on every call, so a passed proposal applies at once. Tokens cooling down stay slashable, so a
 * participant cannot escape a slash by requesting an unstake just before it. Every stake also
 * registers the staker with the RewardDistributor (see {RewardDistributor-register}), so the
 * storage a first reward claim would set from zero is paid here, once per 255 rounds at most.
 */
contract Staking is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice May slash with evidence (the coordinator).
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    /// @notice May slash any amount and move the treasury (the governance timelock).
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");

    /// @notice A participant's stake: `active` counts for eligibility, `pending` waits for `readyAt`.
    struct StakeInfo {
        uint128 active;
        uint128 pending;
        uint64 readyAt;
    }

    /// @notice The staked token.
    IERC20 public immutable token;
    /// @notice Where minimum stake, slash fraction and cool-down are read.
    ParameterRegistry public immutable registry;
    /// @notice Registers each staker's future reward claims (zero: no registration).
    RewardDistributor public immutable rewards;
    /// @notice Receives slashed tokens.
    address public treasury;
    /// @notice Sum of every participant's active and pending stake.
    uint256 public totalStaked;

    mapping(address account => StakeInfo) private _stakes;
    mapping(bytes32 evidence => bool) private _evidenceUsed;

    /// @notice `account` added `amount` to its active stake.
    event Staked(address indexed account, uint256 amount);
    /// @notice `account` moved `amount` from active stake into the cool-down, withdrawable at `readyAt`.
    event UnstakeRequested(address indexed account, uint256 amount, uint64 readyAt);
    /// @notice `account` withdrew `amount` after its cool-down.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice `slasher` took `amount` of `account`'s stake to the treasury for `evidence`.
    event Slashed(address indexed account, uint256 amount, bytes32 indexed evidence, address indexed slasher);
    /// @notice Slashed tokens now go to `treasury`.
    event TreasuryChanged(address indexed oldTreasury, address indexed newTreasury);

    /// @notice An amount of zero was given.
    error ZeroAmount();
    /// @notice The zero address was given.
    error ZeroAddress();
    /// @notice `account` has `available` active stake, less than `requested`.
    error InsufficientStake(address account, uint256 available, uint256 requested);
    /// @notice `account` has nothing cooling down.
    error NoPendingUnstake(address account);
    /// @notice The cool-down ends at `readyAt`.
    error CooldownNotOver(uint64 readyAt);
    /// @notice `account` has no stake to slash.
    error NothingToSlash(address account);
    /// @notice This evidence has already been used for a slash.
    error EvidenceAlreadyUsed(bytes32 evidence);
    /// @notice The caller holds neither SLASHER_ROLE nor GOVERNANCE_ROLE.
    error NotSlasher(address caller);
    /// @notice A stake does not fit in 128 bits.
    error StakeTooLarge(uint256 amount);

    /**
     * @param token_ the staked token
     * @param registry_ the parameter registry
     * @param governance the timelock: DEFAULT_ADMIN_ROLE and GOVERNANCE_ROLE
     * @param treasury_ receives slashed tokens
     * @param slasher SLASHER_ROLE (the coordinator)
     * @param rewards_ the reward distributor each stake registers the staker with (zero for none)
     */
    constructor(IERC20 token_, ParameterRegistry registry_, address governance, address treasury_, address slasher, RewardDistributor rewards_) {
        if (
            address(token_) == address(0) || address(registry_) == address(0) || governance == address(0) || treasury_ == address(0)
                || slasher == address(0)
        ) revert ZeroAddress();
        token = token_;
        registry = registry_;
        rewards = rewards_;
        treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, governance);
        _grantRole(GOVERNANCE_ROLE, governance);
        _grantRole(SLASHER_ROLE, slasher);
    }

    /// @notice Stakes `amount` of the caller's tokens (approve this contract first) and registers the caller's reward claims.
    function stake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        StakeInfo storage s = _stakes[msg.sender];
        uint256 active = uint256(s.active) + amount;
        if (active > type(uint128).max) revert StakeTooLarge(active);
        s.active = uint128(active);
        totalStaked += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Staked(msg.sender, amount);
        // After the transfer, so a wallet the stake emptied is seeded.
        if (address(rewards) != address(0)) rewards.register(msg.sender);
    }

    /// @notice Starts the cool-down of `amount` of the caller's active stake; a second request adds to the first and restarts the clock.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        StakeInfo storage s = _stakes[msg.sender];
        if (amount > s.active) revert InsufficientStake(msg.sender, s.active, amount);
        s.active -= uint128(amount);
        s.pending += uint128(amount);
        uint64 readyAt = uint64(block.timestamp + registry.unstakeCooldown());
        s.readyAt = readyAt;
        emit UnstakeRequested(msg.sender, amount, readyAt);
    }

    /// @notice Pays the caller's stake that finished its cool-down.
    function withdraw() external {
        StakeInfo storage s = _stakes[msg.sender];
        uint256 amount = s.pending;
        if (amount == 0) revert NoPendingUnstake(msg.sender);
        if (block.timestamp < s.readyAt) revert CooldownNotOver(s.readyAt);
        s.pending = 0;
        s.readyAt = 0;
        totalStaked -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /**
     * @notice Slashes the registry's slash fraction of `account`'s whole stake (active first, then
     * cooling down) to the treasury. Only SLASHER_ROLE or GOVERNANCE_ROLE; each evidence hash once.
     * @param evidence hash of the misbehaviour evidence (e.g. the detector's report), kept in the event
     * @return amount the tokens taken
     */
    function slash(address account, bytes32 evidence) external returns (uint256 amount) {
        if (!hasRole(SLASHER_ROLE, msg.sender) && !hasRole(GOVERNANCE_ROLE, msg.sender)) revert NotSlasher(msg.sender);
        StakeInfo memory s = _stakes[account];
        amount = ((uint256(s.active) + s.pending) * registry.slashFractionBps()) / registry.BPS();
        _slash(account, amount, evidence);
    }

    /// @notice Slashes exactly `amount` (at most the whole stake) of `account` to the treasury. Only GOVERNANCE_ROLE.
    function slashAmount(address account, uint256 amount, bytes32 evidence) external onlyRole(GOVERNANCE_ROLE) {
        StakeInfo memory s = _stakes[account];
        uint256 total = uint256(s.active) + s.pending;
        if (amount > total) revert InsufficientStake(account, total, amount);
        _slash(account, amount, evidence);
    }

    /// @notice Sends future slashes to `newTreasury`. Only GOVERNANCE_ROLE.
    function setTreasury(address newTreasury) external onlyRole(GOVERNANCE_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress();
        emit TreasuryChanged(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice Whether `account`'s active stake reaches the registry's minimum stake.
    function isEligible(address account) external view returns (bool) {
        return _stakes[account].active >= registry.minimumStake();
    }

    /// @notice `account`'s active stake, stake cooling down and when the cool-down ends.
    function stakeOf(address account) external view returns (uint256 active, uint256 pending, uint64 readyAt) {
        StakeInfo memory s = _stakes[account];
        return (s.active, s.pending, s.readyAt);
    }

    /// @notice Whether `evidence` has been used for a slash.
    function evidenceUsed(bytes32 evidence) external view returns (bool) {
        return _evidenceUsed[evidence];
    }

    function _slash(address account, uint256 amount, bytes32 evidence) private {
        if (amount == 0) revert NothingToSlash(account);
        if (_evidenceUsed[evidence]) revert EvidenceAlreadyUsed(evidence);
        _evidenceUsed[evidence] = true;
        StakeInfo storage s = _stakes[account];
        uint256 fromActive = amount <= s.active ? amount : s.active;
        s.active -= uint128(fromActive);
        s.pending -= uint128(amount - fromActive);
        totalStaked -= amount;
        token.safeTransfer(treasury, amount);
        emit Slashed(account, amount, evidence, msg.sender);
    }
}
