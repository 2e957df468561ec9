// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {DataAsset} from "./DataAsset.sol";

/**
 * @title MarketEscrow
 * @notice Settles fills of the off-chain order book and holds the buyer's NXS until the job the
 * fill bought is done. Orders are EIP-712 messages signed by their makers (domain "CipherNexus
 * Market", version "1"); anyone may submit a matched bid and ask. A settled fill is held until the
 * coordinator posts completion evidence; the buyer may dispute it before completion or within
 * {disputeWindow} after; then anyone releases it to the seller. The seller may revoke a fill before
 * completion (full refund); the arbiter (the governance timelock) decides disputes.
 * @dev Gas per fill is kept low (see src/chain/market.test.ts) by writing little storage:
 *  - One word per (maker, nonce) holds the cancel flag, the filled units and a tag of the
 *    order's EIP-712 digest (a nonce serves one order), so a fill reads one word per order.
 *    A bid filled completely at once (the common taker) writes nothing there: its fill's
 *    record, whose id is derived from the bid's digest and the units filled before, already
 *    refuses a replay.
 *  - A fill is one storage word: a 200-bit tag of its data (buyer, seller, asset, units, amount),
 *    the completion time and the status. The data itself is in the {Filled} event; the calls that
 *    pay someone take it back and check it against the tag.
 *  - The price oracle is Uniswap v2's: per asset and per category one word holding the last
 *    price, its time and the running sum of price times seconds. A reader takes two observations
 *    ({observeAsset}, {observeCategory}) and divides; {assetTwapSince} does it against one it kept.
 *    A ring buffer of past observations would let a reader ask for any window but costs a further
 *    storage write on every fill.
 * Slashing a seller is not done here: the arbiter is the timelock, which already holds Staking's
 * GOVERNANCE_ROLE, so one proposal both resolves the dispute here and calls Staking.slashAmount.
 * This contract needs no power over stakes.
 */
contract MarketEscrow is EIP712, AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Posts completion evidence of a fill's job (the coordinator).
    bytes32 public constant COORDINATOR_ROLE = keccak256("COORDINATOR_ROLE");
    /// @notice Decides disputes (the governance timelock).
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    /// @notice EIP-712 type hash of {Order}.
    bytes32 public constant ORDER_TYPEHASH =
        keccak256("Order(uint256 assetId,uint8 side,uint256 price,uint256 units,uint64 expiry,uint256 nonce,address maker)");
    /// @notice {Order-side} of a buyer's order.
    uint8 public constant BID = 0;
    /// @notice {Order-side} of a seller's order.
    uint8 public constant ASK = 1;
    uint256 private constant CANCELLED = 1 << 128;

    /// @notice A signed order: `units` access units of `assetId` at `price` NXS base units each, live until `expiry` (unix seconds, inclusive).
    struct Order {
        uint256 assetId;
        uint8 side;
        uint256 price;
        uint256 units;
        uint64 expiry;
        uint256 nonce;
        address maker;
    }

    /// @notice What a settled fill holds: `amount` = units times price, paid by `buyer`, owed to `seller`.
    struct Fill {
        address buyer;
        address seller;
        uint256 assetId;
        uint256 units;
        uint256 amount;
    }

    /// @notice Where a fill's escrow stands; Released and Refunded are final.
    enum FillStatus {
        None,
        Held,
        Completed,
        Disputed,
        Released,
        Refunded
    }

    /// @notice One oracle word: the last fill's price, when it happened, and the sum of price times seconds before it (mod 2^120).
    struct PricePoint {
        uint96 price;
        uint40 updatedAt;
        uint120 cumulative;
    }

    /// @notice The token fills are paid in (NXS).
    IERC20 public immutable token;
    /// @notice The data sets sold; the ask's maker must own the asset.
    DataAsset public immutable assets;
    /// @notice Seconds after completion during which the buyer may dispute.
    uint256 public immutable disputeWindow;

    /// @dev Per maker and nonce: digest tag (120 bits) << 136 | cancelled (1 bit) << 128 | filled units (128 bits).
    mapping(address maker => mapping(uint256 nonce => uint256 state)) private _orders;
    mapping(bytes32 fillId => uint256 record) private _fills;
    mapping(uint256 assetId => PricePoint) private _assetPrice;
    mapping(bytes32 category => PricePoint) private _categoryPrice;

    /// @notice `units` of `assetId` sold at `price` each: `amount` moved from `buyer` into escrow, owed to `seller`.
    event Filled(
        bytes32 indexed fillId,
        uint256 indexed assetId,
        address indexed buyer,
        address seller,
        uint256 units,
        uint256 price,
        uint256 amount
    );
    /// @notice `maker` cancelled every order signed with `nonce`.
    event NonceCancelled(address indexed maker, uint256 indexed nonce);
    /// @notice The coordinator posted the job's final model hash and reward root; the buyer may dispute until `disputeUntil`.
    event Completed(bytes32 indexed fillId, bytes32 modelHash, bytes32 rewardRoot, uint256 disputeUntil);
    /// @notice The buyer disputed the fill; the arbiter decides.
    event Disputed(bytes32 indexed fillId, address indexed buyer);
    /// @notice `amount` went to the seller.
    event Released(bytes32 indexed fillId, address indexed seller, uint256 amount);
    /// @notice `amount` went back to the buyer.
    event Refunded(bytes32 indexed fillId, address indexed buyer, uint256 amount);

    /// @notice A fill needs units > 0 and price > 0.
    error ZeroAmount();
    /// @notice The zero address was given.
    error ZeroAddress();
    /// @notice The first order must be a bid (side 0) and the second an ask (side 1).
    error WrongSide(uint8 bidSide, uint8 askSide);
    /// @notice The bid and the ask are for different assets.
    error AssetMismatch(uint256 bidAsset, uint256 askAsset);
    /// @notice The fill price must lie between the ask's and the bid's price.
    error PriceOutsideOrders(uint256 price, uint256 askPrice, uint256 bidPrice);
    /// @notice Prices above 2^96 - 1 base units do not fit the oracle.
    error PriceTooLarge(uint256 price);
    /// @notice A maker may not fill its own order.
    error SelfTrade(address maker);
    /// @notice The order expired at `expiry`.
    error OrderExpired(address maker, uint256 nonce, uint64 expiry);
    /// @notice The signature is not `maker`'s.
    error BadSignature(address maker, address signer);
    /// @notice `maker` cancelled `nonce`.
    error OrderClosed(address maker, uint256 nonce);
    /// @notice `maker`'s `nonce` belongs to another order already partly filled; sign each order with a fresh nonce.
    error NonceTaken(address maker, uint256 nonce);
    /// @notice The order has `available` units left, fewer than `requested`.
    error Overfill(bytes32 orderHash, uint256 available, uint256 requested);
    /// @notice The ask's maker `maker` does not own asset `assetId`; `owner` does.
    error SellerNotOwner(uint256 assetId, address maker, address owner);
    /// @notice No fill `fillId` with this data was settled.
    error UnknownFill(bytes32 fillId);
    /// @notice The fill is `status`, not in a state that allows this.
    error WrongFillStatus(bytes32 fillId, FillStatus status);
    /// @notice Only `expected` may do this.
    error NotParty(bytes32 fillId, address expected);
    /// @notice The dispute window closed at `closedAt`.
    error DisputeWindowOver(uint256 closedAt);
    /// @notice The dispute window is open until `openUntil`; release after it.
    error DisputeWindowOpen(uint256 openUntil);
    /// @notice A time-weighted average needs an observation older than now.
    error EmptyWindow(uint256 since);

    /**
     * @param token_ the payment token (NXS)
     * @param assets_ the DataAsset registry
     * @param arbiter ARBITER_ROLE and DEFAULT_ADMIN_ROLE (the governance timelock)
     * @param coordinator COORDINATOR_ROLE: posts completion evidence
     * @param disputeWindow_ seconds the buyer may dispute after completion
     */
    constructor(IERC20 token_, DataAsset assets_, address arbiter, address coordinator, uint256 disputeWindow_) EIP712("CipherNexus Market", "1") {
        if (address(token_) == address(0) || address(assets_) == address(0) || arbiter == address(0) || coordinator == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        assets = assets_;
        disputeWindow = disputeWindow_;
        _grantRole(DEFAULT_ADMIN_ROLE, arbiter);
        _grantRole(ARBITER_ROLE, arbiter);
        _grantRole(COORDINATOR_ROLE, coordinator);
    }

    // --- settlement ------------------------------------------------------------------------------

    /**
     * @notice Settles `units` of a matched bid and ask at `price` (the resting order's price):
     * checks both orders and signatures, moves units * price NXS from the bid's maker into escrow
     * (approve this contract first) and records the fill. Anyone may submit it.
     * @return fillId keccak256(bid's EIP-712 digest, its units filled before this fill)
     */
    function settle(Order calldata bid, bytes calldata bidSig, Order calldata ask, bytes calldata askSig, uint256 units, uint256 price)
        external
        returns (bytes32 fillId)
    {
        bytes32 category = _checkMatch(bid, ask, units, price);
        return _settle(bid, _verify(bid, bidSig), ask, _verify(ask, askSig), units, price, category);
    }

    /// @notice Cancels every order the caller signed with `nonce`: none of them can be filled any more.
    function cancelNonce(uint256 nonce) external {
        _orders[msg.sender][nonce] |= CANCELLED;
        emit NonceCancelled(msg.sender, nonce);
    }

    /// @notice The EIP-712 digest of `order` under this contract's domain: what its maker signs and what {Filled} names.
    function hashOrder(Order calldata order) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ORDER_TYPEHASH, order)));
    }

    /// @notice Units of `order` that may still be filled (0 once cancelled, filled completely, or its nonce taken by another order).
    function unfilledUnits(Order calldata order) external view returns (uint256) {
        uint256 state = _orders[order.maker][order.nonce];
        bytes32 digest = hashOrder(order);
        uint256 filled = uint128(state);
        if (state & CANCELLED != 0 || (filled != 0 && state >> 136 != uint256(digest) >> 136)) return 0;
        // A bid's completing fill leaves its filled units as they were; that fill's record marks it done.
        if (order.side == BID && _fills[keccak256(abi.encode(digest, filled))] != 0) return 0;
        return order.units - filled;
    }

    /// @notice Whether `maker` cancelled `nonce`.
    function isNonceCancelled(address maker, uint256 nonce) external view returns (bool) {
        return _orders[maker][nonce] & CANCELLED != 0;
    }

    // --- escrow life -----------------------------------------------------------------------------

    /// @notice Posts the job's completion evidence (final model hash, round reward root): the dispute window starts. Only COORDINATOR_ROLE.
    function complete(bytes32 fillId, bytes32 modelHash, bytes32 rewardRoot) external onlyRole(COORDINATOR_ROLE) {
        uint256 record = _fills[fillId];
        _expect(fillId, record, FillStatus.Held);
        _fills[fillId] = _record(_tagOf(record), uint40(block.timestamp), FillStatus.Completed);
        emit Completed(fillId, modelHash, rewardRoot, block.timestamp + disputeWindow);
    }

    /**
     * @notice The buyer disputes the fill: before completion (a job that never completes), or
     * within the dispute window after it. The arbiter then refunds or releases.
     */
    function dispute(bytes32 fillId, Fill calldata fill) external {
        uint256 record = _checked(fillId, fill);
        if (msg.sender != fill.buyer) revert NotParty(fillId, fill.buyer);
        FillStatus status = _statusOf(record);
        if (status == FillStatus.Completed) {
            uint256 closesAt = _completedAt(record) + disputeWindow;
            if (block.timestamp >= closesAt) revert DisputeWindowOver(closesAt);
        } else if (status != FillStatus.Held) {
            revert WrongFillStatus(fillId, status);
        }
        _fills[fillId] = _record(_tagOf(record), _completedAt(record), FillStatus.Disputed);
        emit Disputed(fillId, fill.buyer);
    }

    /// @notice Pays a completed fill to its seller once the dispute window has passed undisputed; anyone may.
    function release(bytes32 fillId, Fill calldata fill) external {
        uint256 record = _checked(fillId, fill);
        _expect(fillId, record, FillStatus.Completed);
        uint256 closesAt = _completedAt(record) + disputeWindow;
        if (block.timestamp < closesAt) revert DisputeWindowOpen(closesAt);
        _pay(fillId, record, fill, false);
    }

    /// @notice The seller withdraws from a fill before its job completed: the buyer gets the whole amount back.
    function revoke(bytes32 fillId, Fill calldata fill) external {
        uint256 record = _checked(fillId, fill);
        if (msg.sender != fill.seller) revert NotParty(fillId, fill.seller);
        _expect(fillId, record, FillStatus.Held);
        _pay(fillId, record, fill, true);
    }

    /// @notice Decides a disputed fill: refunds the buyer (`refund` true) or pays the seller. Only ARBITER_ROLE.
    function resolve(bytes32 fillId, Fill calldata fill, bool refund) external onlyRole(ARBITER_ROLE) {
        uint256 record = _checked(fillId, fill);
        _expect(fillId, record, FillStatus.Disputed);
        _pay(fillId, record, fill, refund);
    }

    /// @notice Where fill `fillId` stands and when its job completed (0 before).
    function fillStatus(bytes32 fillId) external view returns (FillStatus status, uint40 completedAt) {
        uint256 record = _fills[fillId];
        return (_statusOf(record), _completedAt(record));
    }

    /// @notice Whether `fill` is the data of fill `fillId`.
    function fillMatches(bytes32 fillId, Fill calldata fill) external view returns (bool) {
        uint256 record = _fills[fillId];
        return record != 0 && _tagOf(record) == _tag(fill);
    }

    // --- price oracle ----------------------------------------------------------------------------

    /// @notice The last fill's price of `assetId`, its time, and the cumulative price up to it.
    function assetPrice(uint256 assetId) external view returns (PricePoint memory) {
        return _assetPrice[assetId];
    }

    /// @notice The last fill's price in `category`, its time, and the cumulative price up to it.
    function categoryPrice(bytes32 category) external view returns (PricePoint memory) {
        return _categoryPrice[category];
    }

    /// @notice The cumulative price (sum of price times seconds, mod 2^120) of `assetId` up to now, and now.
    function observeAsset(uint256 assetId) public view returns (uint120 cumulative, uint40 timestamp) {
        return _observe(_assetPrice[assetId]);
    }

    /// @notice The cumulative price (sum of price times seconds, mod 2^120) of `category` up to now, and now.
    function observeCategory(bytes32 category) public view returns (uint120 cumulative, uint40 timestamp) {
        return _observe(_categoryPrice[category]);
    }

    /**
     * @notice The time-weighted average price of `assetId` from an earlier observation
     * (`cumulativeThen` at `since`, from {observeAsset}) to now. Exact while the window times the
     * highest price stays below 2^120 (about six months at 2^96 base units per unit).
     */
    function assetTwapSince(uint256 assetId, uint120 cumulativeThen, uint40 since) external view returns (uint256) {
        (uint120 cumulative, uint40 timestamp) = observeAsset(assetId);
        return _average(cumulativeThen, since, cumulative, timestamp);
    }

    /// @notice As {assetTwapSince}, for a category.
    function categoryTwapSince(bytes32 category, uint120 cumulativeThen, uint40 since) external view returns (uint256) {
        (uint120 cumulative, uint40 timestamp) = observeCategory(category);
        return _average(cumulativeThen, since, cumulative, timestamp);
    }

    // --- internals -------------------------------------------------------------------------------

    /// @dev The checks that need no signature, cheapest first; returns the asset's category.
    function _checkMatch(Order calldata bid, Order calldata ask, uint256 units, uint256 price) private view returns (bytes32 category) {
        if (units == 0 || price == 0) revert ZeroAmount();
        if (bid.side != BID || ask.side != ASK) revert WrongSide(bid.side, ask.side);
        if (bid.assetId != ask.assetId) revert AssetMismatch(bid.assetId, ask.assetId);
        if (price < ask.price || price > bid.price) revert PriceOutsideOrders(price, ask.price, bid.price);
        if (price > type(uint96).max) revert PriceTooLarge(price);
        if (bid.maker == ask.maker) revert SelfTrade(bid.maker);
        address owner;
        (owner, category) = assets.ownerAndCategory(ask.assetId);
        if (ask.maker != owner) revert SellerNotOwner(ask.assetId, ask.maker, owner);
    }

    /// @dev Split from {settle} only to stay within the stack's reach.
    function _settle(Order calldata bid, bytes32 bidHash, Order calldata ask, bytes32 askHash, uint256 units, uint256 price, bytes32 category)
        private
        returns (bytes32 fillId)
    {
        fillId = keccak256(abi.encode(bidHash, _take(bid, bidHash, units)));
        if (_fills[fillId] != 0) revert Overfill(bidHash, 0, units);
        _take(ask, askHash, units);
        uint256 amount = units * price;
        _fills[fillId] = _record(_tag(bid.maker, ask.maker, bid.assetId, units, amount), 0, FillStatus.Held);
        _assetPrice[bid.assetId] = _advance(_assetPrice[bid.assetId], price);
        _categoryPrice[category] = _advance(_categoryPrice[category], price);
        token.safeTransferFrom(bid.maker, address(this), amount);
        emit Filled(fillId, bid.assetId, bid.maker, ask.maker, units, price, amount);
    }

    function _verify(Order calldata order, bytes calldata signature) private view returns (bytes32 digest) {
        if (block.timestamp > order.expiry) revert OrderExpired(order.maker, order.nonce, order.expiry);
        digest = hashOrder(order);
        address signer = ECDSA.recoverCalldata(digest, signature);
        if (signer != order.maker) revert BadSignature(order.maker, signer);
    }

    /**
     * @dev Adds `units` to the order's filled units and returns the units filled before. One word
     * per maker and nonce holds the cancel flag and the filled units, so a fill reads one word per
     * order. A bid filled completely at once writes nothing: the fill's own record, keyed by the
     * bid's digest and 0, refuses it a second time (see {_settle}).
     */
    function _take(Order calldata order, bytes32 digest, uint256 units) private returns (uint256 before) {
        uint256 state = _orders[order.maker][order.nonce];
        if (state & CANCELLED != 0) revert OrderClosed(order.maker, order.nonce);
        before = uint128(state);
        if (before != 0 && state >> 136 != uint256(digest) >> 136) revert NonceTaken(order.maker, order.nonce);
        if (units > order.units - before) revert Overfill(digest, order.units - before, units);
        if (order.side == ASK || before + units != order.units) {
            uint256 filled = before + units;
            if (filled > type(uint128).max) revert Overfill(digest, type(uint128).max - before, units);
            _orders[order.maker][order.nonce] = ((uint256(digest) >> 136) << 136) | filled;
        }
    }

    function _pay(bytes32 fillId, uint256 record, Fill calldata fill, bool refund) private {
        _fills[fillId] = _record(_tagOf(record), _completedAt(record), refund ? FillStatus.Refunded : FillStatus.Released);
        if (refund) {
            token.safeTransfer(fill.buyer, fill.amount);
            emit Refunded(fillId, fill.buyer, fill.amount);
        } else {
            token.safeTransfer(fill.seller, fill.amount);
            emit Released(fillId, fill.seller, fill.amount);
        }
    }

    function _checked(bytes32 fillId, Fill calldata fill) private view returns (uint256 record) {
        record = _fills[fillId];
        if (record == 0 || _tagOf(record) != _tag(fill)) revert UnknownFill(fillId);
    }

    function _expect(bytes32 fillId, uint256 record, FillStatus wanted) private pure {
        if (record == 0) revert UnknownFill(fillId);
        FillStatus status = _statusOf(record);
        if (status != wanted) revert WrongFillStatus(fillId, status);
    }

    /// @dev The top 200 bits of the fill data's hash.
    function _tag(address buyer, address seller, uint256 assetId, uint256 units, uint256 amount) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(buyer, seller, assetId, units, amount))) >> 56;
    }

    function _tag(Fill calldata fill) private pure returns (uint256) {
        return _tag(fill.buyer, fill.seller, fill.assetId, fill.units, fill.amount);
    }

    /// @dev A fill's storage word: tag (200 bits) | completedAt (40 bits) | status (8 bits).
    function _record(uint256 tag, uint40 completedAt, FillStatus status) private pure returns (uint256) {
        return (tag << 56) | (uint256(completedAt) << 8) | uint256(status);
    }

    function _tagOf(uint256 record) private pure returns (uint256) {
        return record >> 56;
    }

    function _completedAt(uint256 record) private pure returns (uint40) {
        return uint40(record >> 8);
    }

    function _statusOf(uint256 record) private pure returns (FillStatus) {
        return FillStatus(uint8(record));
    }

    /// @dev Uniswap v2's accumulator: the previous price counts for the seconds it stood, then `price` takes over.
    function _advance(PricePoint memory p, uint256 price) private view returns (PricePoint memory) {
        (uint120 cumulative,) = _observe(p);
        return PricePoint(uint96(price), uint40(block.timestamp), cumulative);
    }

    function _observe(PricePoint memory p) private view returns (uint120 cumulative, uint40 timestamp) {
        // Wraps mod 2^120 on purpose, like Uniswap v2: differences of two observations stay exact.
        unchecked {
            cumulative = p.cumulative + uint120(uint256(p.price) * (block.timestamp - p.updatedAt));
        }
        timestamp = uint40(block.timestamp);
    }

    function _average(uint120 c0, uint40 t0, uint120 c1, uint40 t1) private pure returns (uint256) {
        if (t1 <= t0) revert EmptyWindow(t0);
        unchecked {
            return uint256(c1 - c0) / (t1 - t0);
        }
    }
}
