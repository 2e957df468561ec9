// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/**
 * @title NexusTimelock
 * @notice The TimelockController that executes Cipher Nexus governance: the governor proposes and
 * cancels, anyone executes once the delay has passed, and the timelock administers itself.
 * @dev OpenZeppelin's TimelockController unchanged, named so the build emits its artefact.
 */
contract NexusTimelock is TimelockController {
    /**
     * @param minDelay seconds between queueing and execution
     * @param proposers accounts that may schedule (the governor)
     * @param executors accounts that may execute (address(0) for anyone)
     * @param admin optional admin for the initial wiring, renounced afterwards (address(0) for none)
     */
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
