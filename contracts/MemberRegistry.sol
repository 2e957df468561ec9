// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {MembershipVerifier} from "./MembershipVerifier.sol";
import {ParameterRegistry} from "./ParameterRegistry.sol";
import {Staking} from "./Staking.sol";

/**
 * @title MemberRegistry
 * @notice The anonymous member set of Cipher Nexus, after Semaphore (https://docs.semaphore.pse.dev/): each account
 * with at least the minimum stake may add one identity commitment, Poseidon(secret), to a depth-20 Poseidon Merkle
 * tree kept on chain; a member then proves membership with a Groth16 proof (circuits/membership.circom) without
 * saying which leaf is theirs, and {verifyMembership} spends the proof's nullifier in its scope, so each member
 * speaks once per scope. A member whose active stake falls below the minimum can be removed by anyone.
 * @dev The tree is computed here rather than posted from off chain, so no one has to be trusted to post honest roots:
 * every node is stored (a removal then needs no caller-supplied path), an empty subtree is its precomputed zero node,
 * and a removed member's leaf becomes 0 without moving anyone else's path. Hashing is poseidon-solidity's PoseidonT3,
 * the same Poseidon(2) as circomlib's and src/privacy/zk/poseidon.ts. A replaced root stays accepted for
 * {rootValidity} seconds, so a proof made just before another member joined still verifies (as in Semaphore V4).
 */
contract MemberRegistry {
    /// @notice Levels of the tree; the circuit is compiled for this depth.
    uint256 public constant DEPTH = 20;
    /// @notice Order of BN254's scalar field: every leaf and public signal is below it.
    uint256 public constant SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice Where stakes are read.
    Staking public immutable staking;
    /// @notice Where the minimum stake is read (the staking contract's registry).
    ParameterRegistry public immutable parameters;
    /// @notice The Groth16 verifier of the membership circuit.
    MembershipVerifier public immutable verifier;
    /// @notice Seconds a replaced root is still accepted by {verifyMembership}.
    uint256 public immutable rootValidity;

    /// @notice The current root of the member tree.
    uint256 public root;
    /// @notice Leaves ever inserted: the index of the next one (indices are never reused).
    uint256 public size;
    /// @notice Members currently in the tree.
    uint256 public memberCount;

    struct Member {
        uint256 commitment;
        uint32 index;
    }

    // _zeros[l]: the root of an empty subtree of height l.
    uint256[DEPTH + 1] private _zeros;
    // _nodes[l][i]: node i at height l, zero where it equals the empty subtree's root.
    mapping(uint256 level => mapping(uint256 index => uint256)) private _nodes;
    mapping(address account => Member) private _members;
    mapping(uint256 commitment => bool) private _committed;
    mapping(uint256 root => uint256 replacedAt) private _rootReplacedAt;
    mapping(uint256 scope => mapping(uint256 nullifier => bool)) private _spent;

    /// @notice `account` added `commitment` as leaf `index`; the tree's root is now `root`.
    event MemberAdded(address indexed account, uint256 commitment, uint256 index, uint256 root);
    /// @notice `account`'s leaf `index` (holding `commitment`) was cleared; the tree's root is now `root`.
    event MemberRemoved(address indexed account, uint256 commitment, uint256 index, uint256 root);
    /// @notice A member proved membership under `root` and said `signal` in `scope`, spending `nullifier`.
    event MembershipVerified(uint256 indexed scope, uint256 nullifier, uint256 signal, uint256 root);

    /// @notice The zero address was given.
    error ZeroAddress();
    /// @notice `account` has `active` stake, less than the minimum `minimum`.
    error InsufficientStake(address account, uint256 active, uint256 minimum);
    /// @notice `account` already has a commitment in the tree.
    error AlreadyMember(address account);
    /// @notice `account` has no commitment in the tree.
    error NotMember(address account);
    /// @notice `account` still has `active` stake, at least the minimum `minimum`.
    error StillStaked(address account, uint256 active, uint256 minimum);
    /// @notice A commitment must be a non-zero element of BN254's scalar field.
    error InvalidCommitment(uint256 commitment);
    /// @notice `commitment` is already a leaf of the tree.
    error CommitmentTaken(uint256 commitment);
    /// @notice The tree holds 2^DEPTH leaves.
    error TreeFull();
    /// @notice `root` is neither the current root nor one replaced within {rootValidity}.
    error UnknownRoot(uint256 root);
    /// @notice `nullifier` was already spent in `scope`.
    error NullifierAlreadyUsed(uint256 scope, uint256 nullifier);
    /// @notice The Groth16 proof does not verify for these public signals.
    error InvalidProof();

    /**
     * @param staking_ the staking contract whose active stakes admit members
     * @param verifier_ the membership circuit's Groth16 verifier
     * @param rootValidity_ seconds a replaced root is still accepted
     */
    constructor(Staking staking_, MembershipVerifier verifier_, uint256 rootValidity_) {
        if (address(staking_) == address(0) || address(verifier_) == address(0)) revert ZeroAddress();
        staking = staking_;
        parameters = staking_.registry();
        verifier = verifier_;
        rootValidity = rootValidity_;
        for (uint256 level = 0; level < DEPTH; level++) {
            _zeros[level + 1] = PoseidonT3.hash([_zeros[level], _zeros[level]]);
        }
        root = _zeros[DEPTH];
    }

    /**
     * @notice Adds the caller's identity commitment as the next leaf. The caller needs at least the registry's
     * minimum active stake and no commitment already in the tree.
     * @return index the leaf's index, part of the member's Merkle path
     */
    function register(uint256 commitment) external returns (uint256 index) {
        if (commitment == 0 || commitment >= SCALAR_FIELD) revert InvalidCommitment(commitment);
        (uint256 active, uint256 minimum) = _stakeOf(msg.sender);
        if (active < minimum) revert InsufficientStake(msg.sender, active, minimum);
        if (_members[msg.sender].commitment != 0) revert AlreadyMember(msg.sender);
        if (_committed[commitment]) revert CommitmentTaken(commitment);
        index = size;
        if (index >= 1 << DEPTH) revert TreeFull();
        size = index + 1;
        memberCount += 1;
        _members[msg.sender] = Member(commitment, uint32(index));
        _committed[commitment] = true;
        _write(index, commitment);
        emit MemberAdded(msg.sender, commitment, index, root);
    }

    /**
     * @notice Clears `account`'s leaf because its active stake fell below the minimum (it requested an unstake, was
     * slashed, or the minimum rose). Anyone may call it; the account may register again once staked.
     */
    function removeUnstaked(address account) external {
        Member memory m = _members[account];
        if (m.commitment == 0) revert NotMember(account);
        (uint256 active, uint256 minimum) = _stakeOf(account);
        if (active >= minimum) revert StillStaked(account, active, minimum);
        delete _members[account];
        delete _committed[m.commitment];
        memberCount -= 1;
        _write(m.index, 0);
        emit MemberRemoved(account, m.commitment, m.index, root);
    }

    /**
     * @notice Verifies a membership proof and spends its nullifier in `scope`: reverts with {UnknownRoot},
     * {NullifierAlreadyUsed} or {InvalidProof}, so a member can say one `signal` per scope.
     * @param root_ the tree root the proof was made against (current, or replaced within {rootValidity})
     * @param nullifier Poseidon(secret, scope), the circuit's output
     * @param signal the message hash the proof binds (a field element)
     * @param scope the topic the member speaks in (a field element)
     * @param proof a, b, c of the Groth16 proof: a.x, a.y, b.x.im, b.x.re, b.y.im, b.y.re, c.x, c.y
     */
    function verifyMembership(uint256 root_, uint256 nullifier, uint256 signal, uint256 scope, uint256[8] calldata proof) external {
        if (!isKnownRoot(root_)) revert UnknownRoot(root_);
        if (_spent[scope][nullifier]) revert NullifierAlreadyUsed(scope, nullifier);
        if (!verifier.verifyProof([proof[0], proof[1]], [[proof[2], proof[3]], [proof[4], proof[5]]], [proof[6], proof[7]], [nullifier, root_, scope, signal])) {
            revert InvalidProof();
        }
        _spent[scope][nullifier] = true;
        emit MembershipVerified(scope, nullifier, signal, root_);
    }

    /// @notice Whether {verifyMembership} accepts proofs against `root_` now.
    function isKnownRoot(uint256 root_) public view returns (bool) {
        if (root_ == root) return true;
        uint256 replacedAt = _rootReplacedAt[root_];
        return replacedAt != 0 && block.timestamp <= replacedAt + rootValidity;
    }

    /// @notice Whether `nullifier` was spent in `scope`.
    function isNullifierUsed(uint256 scope, uint256 nullifier) external view returns (bool) {
        return _spent[scope][nullifier];
    }

    /// @notice `account`'s commitment and leaf index; commitment 0 when it is not a member.
    function memberOf(address account) external view returns (uint256 commitment, uint256 index) {
        Member memory m = _members[account];
        return (m.commitment, m.index);
    }

    /// @notice The root of an empty subtree of height `level` (0 to DEPTH).
    function zeroNode(uint256 level) external view returns (uint256) {
        return _zeros[level];
    }

    function _stakeOf(address account) private view returns (uint256 active, uint256 minimum) {
        (active,,) = staking.stakeOf(account);
        minimum = parameters.minimumStake();
    }

    /// @dev Sets leaf `index` and rehashes its path to the root: DEPTH Poseidon hashes.
    function _write(uint256 index, uint256 leaf) private {
        uint256 node = leaf;
        for (uint256 level = 0; level < DEPTH; level++) {
            _nodes[level][index] = node;
            uint256 sibling = _nodes[level][index ^ 1];
            if (sibling == 0) sibling = _zeros[level];
            node = index & 1 == 0 ? PoseidonT3.hash([node, sibling]) : PoseidonT3.hash([sibling, node]);
            index >>= 1;
        }
        _rootReplacedAt[root] = block.timestamp;
        root = node;
    }
}
