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
 * cooling down) can be slashed; slashed tokens go to the treasury. The coordinator only proposes
 * a slash, with evidence: it takes effect after the registry's challenge period, unless the
 * accused contests it with counter-evidence (then governance decides: it upholds the slash, or
 * the slash lapses after {RESOLUTION_PERIOD}) or governance cancels it. An account has at most one
 * open slash, so a slasher key cannot stack fresh evidence against it; governance may also slash
 * a set amount at once ({slashAmount}), as its own proposals already waited out a vote and the
 * timelock.
 * @dev The minimum stake, the slash fraction and the cool-down are read from the ParameterRegistry
 * on every call, so a passed proposal applies at once. Tokens cooling down stay slashable, so a
 * participant cannot escape a slash by requesting an unstake just before it, and while a slash is
 * open the accused cannot withdraw below its amount. Every stake also
 * registers the staker with the RewardDistributor (see {RewardDistributor-register}), so the
 * storage a first reward claim would set from zero is paid here, once per 255 rounds at most.
 */
contract Staking is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice May propose slashes with evidence (the coordinator).
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

    /// @notice Where a proposed slash stands.
    enum SlashStatus {
        None,
        Pending,
        Contested,
        Executed,
        Cancelled,
        Lapsed
    }

    /// @notice A slash proposed by the coordinator, keyed by its evidence hash.
    struct SlashProposal {
        address account;
        uint128 amount;
        /// @dev Unix seconds: when a pending slash may take effect.
        uint40 challengeEndsAt;
        /// @dev Unix seconds: until when governance may uphold a contested slash (0 while not contested).
        uint40 resolveBy;
        SlashStatus status;
    }

    /// @notice How long governance has to uphold a contested slash before it lapses: a vote plus the timelock, with room.
    uint256 public constant RESOLUTION_PERIOD = 30 days;

    mapping(address account => StakeInfo) private _stakes;
    mapping(bytes32 evidence => bool) private _evidenceUsed;
    mapping(bytes32 evidence => SlashProposal) private _slashes;
    mapping(address account => bytes32 evidence) private _openSlash;

    /// @notice `account` added `amount` to its active stake.
    event Staked(address indexed account, uint256 amount);
    /// @notice `account` moved `amount` from active stake into the cool-down, withdrawable at `readyAt`.
    event UnstakeRequested(address indexed account, uint256 amount, uint64 readyAt);
    /// @notice `account` withdrew `amount` after its cool-down.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice `amount` of `account`'s stake went to the treasury for `evidence`; `slasher` is who made it take effect.
    event Slashed(address indexed account, uint256 amount, bytes32 indexed evidence, address indexed slasher);
    /// @notice `slasher` proposed taking `amount` of `account`'s stake for `evidence`, effective from `challengeEndsAt` unless contested.
    event SlashProposed(address indexed account, uint256 amount, bytes32 indexed evidence, uint40 challengeEndsAt, address indexed slasher);
    /// @notice `account` contested the slash for `evidence` with `counterEvidence`; governance may uphold it until `resolveBy`.
    event SlashContested(address indexed account, bytes32 indexed evidence, bytes32 counterEvidence, uint40 resolveBy);
    /// @notice Governance cancelled the slash for `evidence`.
    event SlashCancelled(address indexed account, bytes32 indexed evidence);
    /// @notice The contested slash for `evidence` was not upheld in time and no longer applies.
    event SlashLapsed(address indexed account, bytes32 indexed evidence);
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
    /// @notice `account` already has the open slash `evidence`; it must be decided before another is proposed.
    error SlashAlreadyOpen(address account, bytes32 evidence);
    /// @notice No slash was proposed with `evidence`.
    error UnknownSlash(bytes32 evidence);
    /// @notice The slash for `evidence` is `status`, not in a state that allows this.
    error SlashNotOpen(bytes32 evidence, SlashStatus status);
    /// @notice Only the accused, `account`, may contest its slash.
    error NotAccused(address account);
    /// @notice The challenge period of the slash ended at `challengeEndsAt`.
    error ChallengePeriodOver(uint40 challengeEndsAt);
    /// @notice The slash may not take effect before `notBefore`.
    error ChallengePeriodNotOver(uint40 notBefore);
    /// @notice Governance may uphold the contested slash until `resolveBy`; it lapses only after that.
    error ResolutionPeriodNotOver(uint40 resolveBy);
    /// @notice `account` has an open slash of `frozen`; its active stake must cover that before it withdraws.
    error StakeFrozen(address account, uint256 frozen);
    /// @notice A stake does not fit in 128 bits.
    error StakeTooLarge(uint256 amount);

    /**
     * @param token_ the staked token
     * @param registry_ the parameter registry
     * @param governance the timelock: DEFAULT_ADMIN_ROLE and GOVERNANCE_ROLE
     * @param treasury_ receives slashed tokens
     * @param slasher SLASHER_ROLE (the coordinator): proposes slashes
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
        bytes32 open = _openSlash[msg.sender];
        if (open != bytes32(0) && s.active < _slashes[open].amount) revert StakeFrozen(msg.sender, _slashes[open].amount);
        s.pending = 0;
        s.readyAt = 0;
        totalStaked -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /**
     * @notice Proposes slashing the registry's slash fraction of `account`'s whole stake (active
     * and cooling down, as of now) to the treasury. Only SLASHER_ROLE; each evidence hash once; one
     * open slash per account. It takes effect through {finalizeSlash} once the registry's
     * challenge period has passed, unless contested or cancelled first.
     * @param evidence hash of the misbehaviour evidence (e.g. the detector's report); the slash's id
     * @return amount the tokens the slash will take
     */
    function proposeSlash(address account, bytes32 evidence) external onlyRole(SLASHER_ROLE) returns (uint256 amount) {
        bytes32 open = _openSlash[account];
        if (open != bytes32(0)) revert SlashAlreadyOpen(account, open);
        if (_evidenceUsed[evidence]) revert EvidenceAlreadyUsed(evidence);
        StakeInfo memory s = _stakes[account];
        amount = ((uint256(s.active) + s.pending) * registry.slashFractionBps()) / registry.BPS();
        if (amount == 0) revert NothingToSlash(account);
        _evidenceUsed[evidence] = true;
        _openSlash[account] = evidence;
        uint40 challengeEndsAt = uint40(block.timestamp + registry.slashChallengePeriod());
        _slashes[evidence] = SlashProposal(account, uint128(amount), challengeEndsAt, 0, SlashStatus.Pending);
        emit SlashProposed(account, amount, evidence, challengeEndsAt, msg.sender);
    }

    /**
     * @notice The accused contests its pending slash with `counterEvidence` (a hash of its
     * answer, kept in the event) before the challenge period ends: the slash then takes effect
     * only if governance upholds it within {RESOLUTION_PERIOD}.
     */
    function contestSlash(bytes32 evidence, bytes32 counterEvidence) external {
        SlashProposal storage p = _openProposal(evidence);
        if (msg.sender != p.account) revert NotAccused(p.account);
        if (p.status != SlashStatus.Pending) revert SlashNotOpen(evidence, p.status);
        if (block.timestamp >= p.challengeEndsAt) revert ChallengePeriodOver(p.challengeEndsAt);
        uint40 resolveBy = uint40(block.timestamp + RESOLUTION_PERIOD);
        p.status = SlashStatus.Contested;
        p.resolveBy = resolveBy;
        emit SlashContested(p.account, evidence, counterEvidence, resolveBy);
    }

    /// @notice Cancels an open slash (pending or contested): it never takes effect. Only GOVERNANCE_ROLE.
    function cancelSlash(bytes32 evidence) external onlyRole(GOVERNANCE_ROLE) {
        SlashProposal storage p = _openProposal(evidence);
        p.status = SlashStatus.Cancelled;
        delete _openSlash[p.account];
        emit SlashCancelled(p.account, evidence);
    }

    /// @notice Lets an open slash (pending or contested) take effect now. Only GOVERNANCE_ROLE.
    function upholdSlash(bytes32 evidence) external onlyRole(GOVERNANCE_ROLE) returns (uint256 amount) {
        return _execute(evidence, _openProposal(evidence));
    }

    /**
     * @notice Settles an open slash once its time has come; anyone may call it. A pending slash
     * whose challenge period has passed takes effect; a contested one that governance did not
     * uphold by its deadline lapses.
     * @return amount the tokens taken (0 when it lapsed)
     */
    function finalizeSlash(bytes32 evidence) external returns (uint256 amount) {
        SlashProposal storage p = _openProposal(evidence);
        if (p.status == SlashStatus.Pending) {
            if (block.timestamp < p.challengeEndsAt) revert ChallengePeriodNotOver(p.challengeEndsAt);
            return _execute(evidence, p);
        }
        if (block.timestamp < p.resolveBy) revert ResolutionPeriodNotOver(p.resolveBy);
        p.status = SlashStatus.Lapsed;
        delete _openSlash[p.account];
        emit SlashLapsed(p.account, evidence);
    }

    /// @notice The slash proposed with `evidence` (status None when there is none).
    function slashOf(bytes32 evidence) external view returns (SlashProposal memory) {
        return _slashes[evidence];
    }

    /// @notice The evidence of `account`'s open slash, or zero when it has none.
    function openSlashOf(address account) external view returns (bytes32) {
        return _openSlash[account];
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

    function _openProposal(bytes32 evidence) private view returns (SlashProposal storage p) {
        p = _slashes[evidence];
        if (p.status == SlashStatus.None) revert UnknownSlash(evidence);
        if (p.status != SlashStatus.Pending && p.status != SlashStatus.Contested) revert SlashNotOpen(evidence, p.status);
    }

    /// @dev Takes the proposed amount, or what is left of the stake when a governance slash took some meanwhile.
    function _execute(bytes32 evidence, SlashProposal storage p) private returns (uint256 amount) {
        address account = p.account;
        p.status = SlashStatus.Executed;
        delete _openSlash[account];
        StakeInfo memory s = _stakes[account];
        uint256 total = uint256(s.active) + s.pending;
        amount = p.amount <= total ? p.amount : total;
        if (amount != 0) _take(account, amount, evidence);
    }

    function _slash(address account, uint256 amount, bytes32 evidence) private {
        if (amount == 0) revert NothingToSlash(account);
        if (_evidenceUsed[evidence]) revert EvidenceAlreadyUsed(evidence);
        _evidenceUsed[evidence] = true;
        _take(account, amount, evidence);
    }

    function _take(address account, uint256 amount, bytes32 evidence) private {
        StakeInfo storage s = _stakes[account];
        uint256 fromActive = amount <= s.active ? amount : s.active;
        s.active -= uint128(fromActive);
        s.pending -= uint128(amount - fromActive);
        totalStaked -= amount;
        token.safeTransfer(treasury, amount);
        emit Slashed(account, amount, evidence, msg.sender);
    }
}
