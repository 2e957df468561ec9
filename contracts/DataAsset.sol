// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/**
 * @title DataAsset
 * @notice One ERC-721 token per listed data set. The token holds what a buyer needs to judge the
 * set without seeing a row: hashes of its content and schema, its size, licence, consent and
 * region flags, category, and the privacy budget (epsilon) its owner lets one buyer spend. The
 * rows stay on the owner's node; a purchase buys training jobs there (see MarketEscrow).
 * @dev Whoever holds the token is the seller: MarketEscrow checks the ask's maker against
 * {ownerOf} at settlement, so a transfer moves future income (sales after it need the new owner's
 * ask) while fills already settled still pay the seller who signed them. Versions form a chain:
 * each token may be replaced once, by its owner, and the new token records the one it replaces.
 */
contract DataAsset is ERC721 {
    /// @notice What the owner states when listing a data set (every field but the version link).
    struct Listing {
        /// @dev Hash of the data set's canonical content (e.g. sha256 of its rows in a fixed order).
        bytes32 contentHash;
        /// @dev Hash of the canonical schema (column names and types).
        bytes32 schemaHash;
        /// @dev Licence identifier (an SPDX-like id or a short string, right-padded).
        bytes32 licence;
        /// @dev Category, for search and the per-category price oracle.
        bytes32 category;
        uint64 rows;
        /// @dev Bitmask of the uses the data subjects consented to.
        uint32 consentFlags;
        /// @dev Bitmask of the regions where buyers may use it.
        uint32 regionFlags;
        /// @dev Differential-privacy budget one buyer may spend on this set, epsilon times 1,000.
        uint32 epsilonMilli;
    }

    /// @notice A listed data set: its listing and the token id of the version it replaces (0 for none).
    /// @dev The last five fields share one storage slot.
    struct Asset {
        bytes32 contentHash;
        bytes32 schemaHash;
        bytes32 licence;
        bytes32 category;
        uint64 rows;
        uint32 consentFlags;
        uint32 regionFlags;
        uint32 epsilonMilli;
        uint96 replaces;
    }

    mapping(uint256 id => Asset) private _assets;
    mapping(uint256 id => uint256 newer) private _replacedBy;
    uint256 private _lastId;

    /// @notice `owner` listed data set `id` with content `contentHash` in `category`.
    event Listed(uint256 indexed id, address indexed owner, bytes32 contentHash, bytes32 indexed category);
    /// @notice `owner` listed `id` as the new version of `replaces`.
    event VersionListed(uint256 indexed id, uint256 indexed replaces, address indexed owner);

    /// @notice A listing needs a non-zero content hash and schema hash and at least one row.
    error EmptyListing();
    /// @notice Only `owner`, the holder of `id`, may do this; `caller` tried.
    error NotAssetOwner(uint256 id, address caller, address owner);
    /// @notice `id` was already replaced by `newer`; version the newest one instead.
    error AlreadyReplaced(uint256 id, uint256 newer);

    constructor() ERC721("Cipher Nexus Data Asset", "NXDA") {}

    /// @notice Lists a data set: mints a new token to the caller and returns its id (ids start at 1).
    function list(Listing calldata listing) external returns (uint256 id) {
        id = _store(listing, 0);
        emit Listed(id, msg.sender, listing.contentHash, listing.category);
    }

    /**
     * @notice Lists a new version of `replacedId`: a new token to the caller, linked to the one it
     * replaces. Only the current owner of `replacedId`, and once per token.
     */
    function listVersion(uint256 replacedId, Listing calldata listing) external returns (uint256 id) {
        address owner = _requireOwned(replacedId);
        if (owner != msg.sender) revert NotAssetOwner(replacedId, msg.sender, owner);
        uint256 newer = _replacedBy[replacedId];
        if (newer != 0) revert AlreadyReplaced(replacedId, newer);
        id = _store(listing, uint96(replacedId));
        _replacedBy[replacedId] = id;
        emit Listed(id, msg.sender, listing.contentHash, listing.category);
        emit VersionListed(id, replacedId, msg.sender);
    }

    /// @notice The data set `id` (reverts with ERC721NonexistentToken when there is none).
    function assetOf(uint256 id) external view returns (Asset memory) {
        _requireOwned(id);
        return _assets[id];
    }

    /// @notice The token that replaced `id`, or 0 when `id` is the newest version.
    function replacedBy(uint256 id) external view returns (uint256) {
        return _replacedBy[id];
    }

    /// @notice The seller of `id` and its category: what MarketEscrow reads at each settlement, in one call.
    function ownerAndCategory(uint256 id) external view returns (address owner, bytes32 category) {
        return (_requireOwned(id), _assets[id].category);
    }

    /// @notice How many tokens were ever listed (the newest id).
    function totalListed() external view returns (uint256) {
        return _lastId;
    }

    function _store(Listing calldata l, uint96 replaces) private returns (uint256 id) {
        if (l.contentHash == bytes32(0) || l.schemaHash == bytes32(0) || l.rows == 0) revert EmptyListing();
        id = ++_lastId;
        _assets[id] = Asset(l.contentHash, l.schemaHash, l.licence, l.category, l.rows, l.consentFlags, l.regionFlags, l.epsilonMilli, replaces);
        // _mint, not _safeMint: the caller chose to list, so a contract lister needs no receiver hook.
        _mint(msg.sender, id);
    }
}
