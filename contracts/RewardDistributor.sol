// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ParameterRegistry} from "./ParameterRegistry.sol";

/**
 * @title RewardDistributor
 * @notice Pays each training round's rewards from a funded pool. The coordinator posts one Merkle
 * root per round with the round's total (constant gas, whatever the number of participants);
 * each participant (or anyone on its behalf) claims its amount with a proof. Unclaimed rewards
 * return to the pool when the claim window has passed. The poster's power is bounded three ways,
 * all set by governance through the registry: a round pays at most the reward per round, rounds
 * are posted in increasing order (at most {MAX_ROUND_STEP} past the latest), and all rounds
 * posted within one reward epoch pay at most the epoch's budget, so a stolen or faulty poster key
 * can promise at most one epoch's budget before governance revokes it.
 * @dev Leaves are OpenZeppelin StandardMerkleTree leaves of type (address, uint256):
 * keccak256(bytes.concat(keccak256(abi.encode(account, amount)))). The double hash keeps a leaf
 * from being read as an inner node (second pre-image). Claimed flags are one bit per account and
 * round, 255 rounds to a word; the word's top bit is a sentinel that {register} sets, so that a
 * claim rewrites a non-zero word (5,000 gas) instead of setting one from zero (22,100). Staking
 * registers every staker, so a participant's first claim costs what a returning one does, and
 * {claimMany} settles up to 255 of its rounds with one word write and one token transfer.
 */
contract RewardDistributor is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice May post round roots (the coordinator).
    bytes32 public constant POSTER_ROLE = keccak256("POSTER_ROLE");

    /// @notice One round: its root, its total, what has been claimed, when claims close, whether swept.
    struct Round {
        bytes32 root;
        uint96 total;
        uint96 claimed;
        uint40 expiresAt;
        bool swept;
    }

    /// @notice The reward token.
    IERC20 public immutable token;
    /// @notice Where the reward per round and the claim window are read.
    ParameterRegistry public immutable registry;
    /// @notice Funded tokens not yet promised to any round.
    uint192 public available;
    /// @notice The highest round posted so far (shares a slot with `available`, which posting writes anyway).
    uint64 public latestRound;
    /// @notice The reward epoch of the latest posting (block time / the registry's epoch length).
    uint64 public epoch;
    /// @notice Tokens promised to rounds posted in {epoch} so far.
    uint192 public epochPosted;

    /// @notice How far past {latestRound} a new round may be numbered, so a poster cannot exhaust the round numbers.
    uint64 public constant MAX_ROUND_STEP = 1_000_000;

    /// @notice Rounds per claimed-flags word: bit 255 of each word is the registration sentinel, never a round.
    uint256 public constant ROUNDS_PER_WORD = 255;
    uint256 private constant SENTINEL = 1 << 255;

    mapping(uint64 round => Round) private _rounds;
    mapping(address account => mapping(uint256 word => uint256 bits)) private _claimed;

    /// @notice `funder` added `amount` to the pool.
    event Funded(address indexed funder, uint256 amount);
    /// @notice Governance took `amount` out of the unpromised pool to `to`.
    event PoolWithdrawn(address indexed to, uint256 amount);
    /// @notice The root of `round` was posted: `total` claimable until `expiresAt`.
    event RootPosted(uint64 indexed round, bytes32 root, uint256 total, uint40 expiresAt);
    /// @notice `account` received `amount` for `round`.
    event Claimed(uint64 indexed round, address indexed account, uint256 amount);
    /// @notice `account`'s claimed-flags words for rounds `firstRound` to `firstRound` + 509 were set up; `seeded` when it was also sent one base unit.
    event Registered(address indexed account, uint64 firstRound, bool seeded);
    /// @notice `amount` unclaimed in `round` returned to the pool.
    event Swept(uint64 indexed round, uint256 amount);

    /// @notice An amount of zero was given.
    error ZeroAmount();
    /// @notice The zero address was given.
    error ZeroAddress();
    /// @notice The root is zero.
    error EmptyRoot();
    /// @notice `round` already has a root.
    error RoundAlreadyPosted(uint64 round);
    /// @notice `round` has no root.
    error RoundNotPosted(uint64 round);
    /// @notice `total` is more than the registry's reward per round, `limit`.
    error RewardExceedsLimit(uint256 total, uint256 limit);
    /// @notice `round` is not after the latest posted round `latest`, or more than {MAX_ROUND_STEP} past it.
    error RoundOutOfSequence(uint64 round, uint64 latest);
    /// @notice Epoch `epoch_` has promised `posted` already; `total` more would pass its budget, `limit`.
    error EpochRewardExceedsLimit(uint64 epoch_, uint256 posted, uint256 total, uint256 limit);
    /// @notice The pool holds `available` unpromised tokens, less than `requested`.
    error InsufficientPool(uint256 available, uint256 requested);
    /// @notice `account` already claimed `round`.
    error AlreadyClaimed(uint64 round, address account);
    /// @notice The proof does not lead from (account, amount) to the round's root.
    error InvalidProof();
    /// @notice Claims of `round` closed at `expiresAt`.
    error ClaimWindowClosed(uint64 round, uint40 expiresAt);
    /// @notice Claims of `round` stay open until `expiresAt`.
    error ClaimWindowOpen(uint64 round, uint40 expiresAt);
    /// @notice `round` was already swept.
    error AlreadySwept(uint64 round);
    /// @notice The claims of `round` would exceed its posted total (a malformed tree).
    error RoundOverclaimed(uint64 round);
    /// @notice An amount does not fit its field (96 bits for a round, 192 for the pool).
    error AmountTooLarge(uint256 amount);
    /// @notice {claimMany} was given no rounds, or arrays of different lengths.
    error LengthMismatch();

    /**
     * @param token_ the reward token
     * @param registry_ the parameter registry (reward per round, claim window)
     * @param admin DEFAULT_ADMIN_ROLE (the governance timelock)
     * @param poster POSTER_ROLE (the coordinator)
     */
    constructor(IERC20 token_, ParameterRegistry registry_, address admin, address poster) {
        if (address(token_) == address(0) || address(registry_) == address(0) || admin == address(0) || poster == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(POSTER_ROLE, poster);
    }

    /// @notice Adds `amount` of the caller's tokens to the pool (approve this contract first).
    function fund(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint192).max) revert AmountTooLarge(amount);
        available += uint192(amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Funded(msg.sender, amount);
    }

    /// @notice Takes `amount` of unpromised tokens out of the pool to `to`. Only DEFAULT_ADMIN_ROLE.
    function withdrawPool(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (to == address(0)) revert ZeroAddress();
        if (amount > available) revert InsufficientPool(available, amount);
        available -= uint192(amount);
        token.safeTransfer(to, amount);
        emit PoolWithdrawn(to, amount);
    }

    /**
     * @notice Posts the reward root of `round`, promising `total` from the pool until the claim
     * window ends. Only POSTER_ROLE; once per round, after the latest posted one; `total` at most
     * the registry's reward per round and, with what the current epoch promised already, at most
     * its reward per epoch.
     */
    function postRoot(uint64 round, bytes32 root, uint256 total) external onlyRole(POSTER_ROLE) {
        if (root == bytes32(0)) revert EmptyRoot();
        if (total == 0) revert ZeroAmount();
        Round storage r = _rounds[round];
        if (r.root != bytes32(0)) revert RoundAlreadyPosted(round);
        uint64 latest = latestRound;
        if (round <= latest || round - latest > MAX_ROUND_STEP) revert RoundOutOfSequence(round, latest);
        uint256 limit = registry.rewardPerRound();
        if (total > limit) revert RewardExceedsLimit(total, limit);
        if (total > type(uint96).max) revert AmountTooLarge(total);
        uint64 current = uint64(block.timestamp / registry.rewardEpoch());
        uint256 posted = (current == epoch ? epochPosted : 0) + total;
        uint256 epochLimit = registry.maxRewardPerEpoch();
        if (posted > epochLimit) revert EpochRewardExceedsLimit(current, posted - total, total, epochLimit);
        uint256 pool = available;
        if (total > pool) revert InsufficientPool(pool, total);
        available = uint192(pool - total);
        latestRound = round;
        epoch = current;
        epochPosted = uint192(posted);
        uint40 expiresAt = uint40(block.timestamp + registry.claimWindow());
        r.root = root;
        r.total = uint96(total);
        r.expiresAt = expiresAt;
        emit RootPosted(round, root, total, expiresAt);
    }

    /**
     * @notice Prepays `account`'s claims of the next 255 to 510 rounds (Staking calls it on every
     * stake; anyone may): sets its claimed-flags words for the rounds after {latestRound} to the
     * non-zero sentinel and, when it holds no tokens, sends it one base unit from the pool, so
     * that its claims rewrite non-zero storage. Does nothing when both are already so.
     * @dev Costs the caller two new storage slots (about 44k gas) the first time, and about 30k
     * when it seeds a balance (about 2k inside the stake that emptied the wallet, as the balance
     * was non-zero when that transaction began). A seed is one base unit (1e-18 NXS) of the
     * unpromised pool, skipped when the pool is empty; an account gets another only after
     * emptying its wallet again. The flags keep their meaning: the sentinel is no round's bit.
     */
    function register(address account) external {
        if (account == address(0)) revert ZeroAddress();
        uint256 first = uint256(latestRound) + 1;
        uint256 word = first / ROUNDS_PER_WORD;
        mapping(uint256 => uint256) storage flags = _claimed[account];
        bool fresh;
        if (flags[word] == 0) {
            flags[word] = SENTINEL;
            fresh = true;
        }
        if (flags[word + 1] == 0) {
            flags[word + 1] = SENTINEL;
            fresh = true;
        }
        bool seeded = available != 0 && token.balanceOf(account) == 0;
        if (seeded) {
            available -= 1;
            token.safeTransfer(account, 1);
        }
        if (fresh || seeded) emit Registered(account, uint64(word * ROUNDS_PER_WORD), seeded);
    }

    /// @notice Whether `account`'s claims of `round` rewrite a registered (non-zero) claimed-flags word.
    function isRegistered(address account, uint64 round) external view returns (bool) {
        return _claimed[account][round / ROUNDS_PER_WORD] != 0;
    }

    /// @notice Pays `account` its `amount` for `round`, proven by `proof`; anyone may submit it, the tokens go to `account`.
    function claim(uint64 round, address account, uint256 amount, bytes32[] calldata proof) external {
        uint256 word = round / ROUNDS_PER_WORD;
        _claimed[account][word] = _claimRound(round, account, amount, proof, _claimed[account][word]);
        token.safeTransfer(account, amount);
    }

    /**
     * @notice Pays `account` for several rounds at once (index-aligned arrays, each round as in
     * {claim}) with one token transfer; rounds sharing a claimed-flags word share its write.
     */
    function claimMany(address account, uint64[] calldata rounds, uint256[] calldata amounts, bytes32[][] calldata proofs) external {
        uint256 n = rounds.length;
        if (n == 0 || amounts.length != n || proofs.length != n) revert LengthMismatch();
        uint256 word = rounds[0] / ROUNDS_PER_WORD;
        uint256 bits = _claimed[account][word];
        uint256 total;
        for (uint256 i = 0; i < n; ++i) {
            uint256 next = rounds[i] / ROUNDS_PER_WORD;
            if (next != word) {
                _claimed[account][word] = bits;
                word = next;
                bits = _claimed[account][word];
            }
            // The flag is set in `bits` at once, so a round listed twice fails as AlreadyClaimed.
            bits = _claimRound(rounds[i], account, amounts[i], proofs[i], bits);
            total += amounts[i];
        }
        _claimed[account][word] = bits;
        token.safeTransfer(account, total);
    }

    /// @notice Returns what `round` left unclaimed to the pool, once its claim window has passed; anyone may call it.
    function sweep(uint64 round) external returns (uint256 amount) {
        Round storage r = _rounds[round];
        if (r.root == bytes32(0)) revert RoundNotPosted(round);
        if (block.timestamp < r.expiresAt) revert ClaimWindowOpen(round, r.expiresAt);
        if (r.swept) revert AlreadySwept(round);
        r.swept = true;
        amount = uint256(r.total) - r.claimed;
        available += uint192(amount);
        emit Swept(round, amount);
    }

    /// @notice What rounds posted now may still promise in the current reward epoch (the per-round limit applies too).
    function epochRewardLeft() external view returns (uint256) {
        uint256 limit = registry.maxRewardPerEpoch();
        uint256 posted = uint64(block.timestamp / registry.rewardEpoch()) == epoch ? epochPosted : 0;
        return posted >= limit ? 0 : limit - posted;
    }

    /// @notice Whether `account` has claimed `round`.
    function isClaimed(uint64 round, address account) external view returns (bool) {
        return _claimed[account][round / ROUNDS_PER_WORD] & (1 << (round % ROUNDS_PER_WORD)) != 0;
    }

    /// @notice The state of `round` (a zero root when it was never posted).
    function roundOf(uint64 round) external view returns (Round memory) {
        return _rounds[round];
    }

    /// @dev Checks and books one claim against `bits`, the account's claimed-flags word for `round`; returns the word with the flag set.
    function _claimRound(uint64 round, address account, uint256 amount, bytes32[] calldata proof, uint256 bits) private returns (uint256) {
        Round storage r = _rounds[round];
        bytes32 root = r.root;
        if (root == bytes32(0)) revert RoundNotPosted(round);
        uint40 expiresAt = r.expiresAt;
        if (block.timestamp >= expiresAt) revert ClaimWindowClosed(round, expiresAt);
        uint256 bit = 1 << (round % ROUNDS_PER_WORD);
        if (bits & bit != 0) revert AlreadyClaimed(round, account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof();
        uint256 claimed = uint256(r.claimed) + amount;
        if (claimed > r.total) revert RoundOverclaimed(round);
        r.claimed = uint96(claimed);
        emit Claimed(round, account, amount);
        return bits | bit;
    }
}
