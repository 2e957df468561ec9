// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/**
 * @title NexusToken
 * @notice The Cipher Nexus token (NXS): ERC-20 with EIP-2612 permits and ERC-5805 votes, a capped
 * supply, role-based minting and pausing, and transfer restrictions (a deny list and per-account
 * lock-ups) enforced on every balance change. Pausing and the restrictions belong to governance
 * (the timelock), not to the coordinator: whoever holds them could freeze accounts until their
 * reward claim windows lapse, so each use is a proposal that passed a vote and the timelock.
 * @dev One storage slot per account holds its restriction, so a transfer pays one extra cold read
 * per side. Mints are restricted like transfers (a denied account cannot receive); burns are not
 * offered.
 */
contract NexusToken is ERC20, ERC20Capped, ERC20Permit, ERC20Votes, AccessControl, Pausable {
    /// @notice May mint up to the cap.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice May pause and unpause every transfer.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice May change the deny list and lock-ups.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");

    /// @notice A restriction on one account: denied, or `amount` locked until `until` (unix seconds).
    struct Restriction {
        bool denied;
        uint64 until;
        uint128 amount;
    }

    mapping(address account => Restriction) private _restrictions;

    /// @notice `account` was added to (`denied` true) or removed from the deny list.
    event DenyListUpdated(address indexed account, bool denied);
    /// @notice `amount` of `account`'s balance cannot leave it before `until`.
    event LockupSet(address indexed account, uint256 amount, uint64 until);

    /// @notice `account` is on the deny list and may neither send nor receive.
    error AccountDenied(address account);
    /// @notice `account` may move at most `available` before its lock-up ends, not `requested`.
    error TokensLocked(address account, uint256 available, uint256 requested);
    /// @notice The lock-up amount does not fit in 128 bits.
    error LockupTooLarge(uint256 amount);
    /// @notice The zero address cannot be given a role.
    error ZeroAddress();

    /**
     * @param admin receives DEFAULT_ADMIN_ROLE, PAUSER_ROLE and COMPLIANCE_ROLE (the governance timelock)
     * @param minter receives MINTER_ROLE for the launch allocations (renounced afterwards)
     * @param cap_ the maximum total supply, in base units
     */
    constructor(address admin, address minter, uint256 cap_)
        ERC20("Cipher Nexus", "NXS")
        ERC20Capped(cap_)
        ERC20Permit("Cipher Nexus")
    {
        if (admin == address(0) || minter == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, minter);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(COMPLIANCE_ROLE, admin);
    }

    /// @notice Mints `amount` to `to`, within the cap. Only MINTER_ROLE.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Stops every transfer, mint and stake movement of the token. Only PAUSER_ROLE.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Lets transfers happen again. Only PAUSER_ROLE.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice Adds `account` to the deny list (`denied` true) or removes it. Only COMPLIANCE_ROLE.
    function setDenied(address account, bool denied) external onlyRole(COMPLIANCE_ROLE) {
        _restrictions[account].denied = denied;
        emit DenyListUpdated(account, denied);
    }

    /// @notice Keeps `amount` of `account`'s balance from leaving before `until`; amount 0 lifts it. Only COMPLIANCE_ROLE.
    function setLockup(address account, uint256 amount, uint64 until) external onlyRole(COMPLIANCE_ROLE) {
        if (amount > type(uint128).max) revert LockupTooLarge(amount);
        Restriction storage r = _restrictions[account];
        r.amount = uint128(amount);
        r.until = until;
        emit LockupSet(account, amount, until);
    }

    /// @notice Whether `account` is on the deny list.
    function isDenied(address account) external view returns (bool) {
        return _restrictions[account].denied;
    }

    /// @notice The lock-up of `account`: the locked amount and when it ends (0, 0 when none).
    function lockupOf(address account) external view returns (uint256 amount, uint64 until) {
        Restriction memory r = _restrictions[account];
        return (r.amount, r.until);
    }

    /// @notice What `account` may transfer now: its balance less any active lock-up.
    function transferableBalanceOf(address account) public view returns (uint256) {
        uint256 balance = balanceOf(account);
        Restriction memory r = _restrictions[account];
        if (block.timestamp >= r.until || r.amount == 0) return balance;
        return balance > r.amount ? balance - r.amount : 0;
    }

    /// @dev Every balance change passes here: pause, deny list, lock-ups, then cap and vote bookkeeping.
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped, ERC20Votes) {
        _requireNotPaused();
        if (from != address(0)) {
            Restriction memory r = _restrictions[from];
            if (r.denied) revert AccountDenied(from);
            if (r.amount != 0 && block.timestamp < r.until) {
                uint256 available = transferableBalanceOf(from);
                if (value > available) revert TokensLocked(from, available, value);
            }
        }
        if (to != address(0) && _restrictions[to].denied) revert AccountDenied(to);
        super._update(from, to, value);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
