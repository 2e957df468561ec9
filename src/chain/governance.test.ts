import { encodeFunctionData, type Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { nexusTokenAbi, parameterRegistryAbi, rewardDistributorAbi, stakingAbi } from './artifacts.js';
import { evidenceHash } from './client.js';
import { DEFAULT_GOVERNANCE, nxs } from './deploy.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { write } from './transact.js';

let n: EmbeddedNexus;
let clean: Hex;

beforeAll(async () => {
  // The default settings: 1 day voting delay, 1 week voting (in blocks), 4% quorum, 2-day timelock.
  n = await startEmbeddedNexus({ accounts: 4, allocation: nxs(100_000) });
  for (const p of n.participants) await p.delegate();
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});

describe('NexusGovernor and the timelock', () => {
  it('count votes only while a proposal is active, once per account; a tie is defeated and cannot be queued', async () => {
    const [alice, bob, carol] = n.participants;
    const { proposalId } = await alice.gov.proposeParameterChange('rewardPerRound', nxs(2_500), 'Raise the reward per round to 2,500 NXS');
    expect((await alice.gov.status(proposalId)).state).toBe('Pending');
    await expect(alice.gov.castVote(proposalId, 'for')).rejects.toMatchObject({ errorName: 'GovernorUnexpectedProposalState' });

    expect(await alice.gov.fastForward(proposalId)).toBe('Active');
    await alice.gov.castVote(proposalId, 'for');
    await bob.gov.castVote(proposalId, 'against', 'too generous');
    await carol.gov.castVote(proposalId, 'abstain');
    await expect(alice.gov.castVote(proposalId, 'for')).rejects.toMatchObject({ errorName: 'GovernorAlreadyCastVote', args: [alice.account] });
    await expect(alice.gov.queue(proposalId)).rejects.toMatchObject({ errorName: 'GovernorUnexpectedProposalState' });

    expect(await alice.gov.fastForward(proposalId)).toBe('Defeated');
    await expect(alice.gov.queue(proposalId)).rejects.toMatchObject({ errorName: 'GovernorUnexpectedProposalState' });
  });

  it('change the reward per round: a passed proposal waits out the timelock, executes, and the next round pays the new amount', async () => {
    const [alice, bob] = n.participants;
    const next = [{ account: alice.account, amount: nxs(2_000) }, { account: bob.account, amount: nxs(500) }];
    await expect(n.coordinator.postRewardRoot(1n, next)).rejects.toMatchObject({ errorName: 'RewardExceedsLimit', args: [nxs(2_500), nxs(1_000)] });

    const { proposalId } = await bob.gov.proposeParameterChange('rewardPerRound', nxs(2_500));
    await bob.gov.fastForward(proposalId);
    await alice.gov.castVote(proposalId, 'for');
    await bob.gov.castVote(proposalId, 'for');
    const voting = await bob.gov.status(proposalId);
    expect(voting).toMatchObject({ state: 'Active', forVotes: nxs(200_000), againstVotes: 0n, quorum: nxs((3 * 100_000 + 100_000 + 1_000_000) * 0.04) });
    expect(voting.deadline - voting.snapshot).toBe(BigInt(DEFAULT_GOVERNANCE.votingPeriodBlocks));

    expect(await bob.gov.fastForward(proposalId)).toBe('Succeeded');
    await bob.gov.queue(proposalId);
    const queued = await bob.gov.status(proposalId);
    expect(queued.state).toBe('Queued');
    expect(queued.eta).toBe((await n.conn.publicClient.getBlock()).timestamp + BigInt(DEFAULT_GOVERNANCE.timelockDelaySeconds));
    await expect(bob.gov.execute(proposalId)).rejects.toMatchObject({ errorName: 'TimelockUnexpectedOperationState' });

    expect(await bob.gov.fastForward(proposalId)).toBe('Queued');
    await n.coordinator.gov.execute(proposalId);
    expect((await bob.gov.status(proposalId)).state).toBe('Executed');
    expect((await n.coordinator.parameters()).rewardPerRound).toBe(nxs(2_500));

    const posted = await n.coordinator.postRewardRoot(1n, next);
    await alice.claimFromTree(1n, posted.tree);
    expect(await alice.balanceOf()).toBe(nxs(102_000));
  });

  it('slash an exact amount, move the treasury and withdraw from the reward pool, all in one proposal', async () => {
    const [alice, bob, carol] = n.participants;
    await carol.stake(nxs(1_000));
    const actions = [
      { target: n.deployment.staking, data: encodeFunctionData({ abi: stakingAbi, functionName: 'slashAmount', args: [carol.account, nxs(300), evidenceHash('vote 1')] }) },
      { target: n.deployment.staking, data: encodeFunctionData({ abi: stakingAbi, functionName: 'setTreasury', args: [bob.account] }) },
      { target: n.deployment.staking, data: encodeFunctionData({ abi: stakingAbi, functionName: 'slashAmount', args: [carol.account, nxs(70), evidenceHash('vote 2')] }) },
      { target: n.deployment.distributor, data: encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'withdrawPool', args: [alice.account, nxs(5_000)] }) },
    ];
    const { proposalId } = await alice.gov.propose(actions, 'Slash carol, move the treasury to bob, pay alice from the pool');
    await alice.gov.fastForward(proposalId);
    await alice.gov.castVote(proposalId, 'for');
    await alice.gov.fastForward(proposalId);
    await alice.gov.queue(proposalId);
    await alice.gov.fastForward(proposalId);
    await alice.gov.execute(proposalId);
    // 300 to the timelock; then 70 to bob, the new treasury.
    expect(await carol.stakeOf()).toMatchObject({ active: nxs(630) });
    expect(await n.coordinator.balanceOf(n.deployment.timelock)).toBe(nxs(300));
    expect(await bob.balanceOf()).toBe(nxs(100_070));
    expect(await alice.balanceOf()).toBe(nxs(105_000));
    expect(await n.coordinator.rewardPoolAvailable()).toBe(nxs(995_000));
  });

  /** Proposes, votes (alice), waits, queues and executes: what a passed proposal does. */
  async function pass(proposalId: bigint): Promise<void> {
    const [alice] = n.participants;
    await alice.gov.fastForward(proposalId);
    await alice.gov.castVote(proposalId, 'for');
    await alice.gov.fastForward(proposalId);
    await alice.gov.queue(proposalId);
    await alice.gov.fastForward(proposalId);
    await alice.gov.execute(proposalId);
  }

  it('cancel a slash within its challenge period: it never takes effect', async () => {
    const [alice, , carol] = n.participants;
    await carol.stake(nxs(1_000));
    const { evidence } = await n.coordinator.proposeSlash(carol.account, 'round 3: flagged by a faulty detector');
    // The vote and the timelock take about 10 days, inside the 14-day challenge period.
    await pass((await alice.gov.proposeSlashDecision(evidence, 'cancel')).proposalId);
    expect(await carol.slashOf(evidence)).toMatchObject({ status: 'Cancelled' });
    await n.conn.increaseTime(14 * 86_400);
    await expect(alice.finalizeSlash(evidence)).rejects.toMatchObject({ errorName: 'SlashNotOpen', args: [evidence, 4] });
    expect(await carol.stakeOf()).toMatchObject({ active: nxs(1_000) });
    await expect(alice.gov.proposeSlashDecision(evidence, 'forgive' as never)).rejects.toMatchObject({ code: 'GOV_BAD_SLASH_DECISION' });
  });

  it('uphold a contested slash: it takes effect when the proposal executes', async () => {
    const [alice, , carol] = n.participants;
    await carol.stake(nxs(1_000));
    const { evidence } = await n.coordinator.proposeSlash(carol.account, 'round 4: scaled update, norm 41');
    await carol.contestSlash(evidence, 'a learning-rate bug, not an attack');
    await pass((await alice.gov.proposeSlashDecision(evidence, 'uphold')).proposalId);
    expect(await carol.slashOf(evidence)).toMatchObject({ status: 'Executed' });
    expect(await carol.stakeOf()).toMatchObject({ active: nxs(900) });
    expect(await n.coordinator.balanceOf(n.deployment.timelock)).toBe(nxs(100));
  });

  it('pause the token and cap the epoch\'s rewards by proposal, as the timelock holds those powers', async () => {
    const [alice, bob] = n.participants;
    const pause = encodeFunctionData({ abi: nexusTokenAbi, functionName: 'pause', args: [] });
    await pass((await alice.gov.propose([{ target: n.deployment.token, data: pause }], 'Pause NXS')).proposalId);
    await expect(alice.transfer(bob.account, 1n)).rejects.toMatchObject({ errorName: 'EnforcedPause' });

    const unpause = encodeFunctionData({ abi: nexusTokenAbi, functionName: 'unpause', args: [] });
    await pass((await alice.gov.propose([{ target: n.deployment.token, data: unpause }], 'Unpause NXS')).proposalId);
    await pass((await alice.gov.proposeParameterChange('maxRewardPerEpoch', nxs(1_500), 'Cap rewards at 1,500 NXS a day')).proposalId);
    expect((await n.coordinator.parameters()).maxRewardPerEpoch).toBe(nxs(1_500));
    // Start just after an epoch (a day) begins, so both posts fall inside it.
    const now = (await n.conn.publicClient.getBlock()).timestamp;
    await n.conn.increaseTime(Number(86_400n - (now % 86_400n)) + 1);
    await n.coordinator.postRewardRoot(1n, [{ account: bob.account, amount: nxs(1_000) }]);
    await expect(n.coordinator.postRewardRoot(2n, [{ account: bob.account, amount: nxs(600) }])).rejects.toMatchObject({ errorName: 'EpochRewardExceedsLimit' });
  });

  it('keep the registry and admin roles out of everyone else\'s reach', async () => {
    await expect(
      write(n.conn, n.conn.accounts[0], { address: n.deployment.registry, abi: parameterRegistryAbi, action: 'set', functionName: 'setRewardPerRound', args: [1n] }),
    ).rejects.toMatchObject({ errorName: 'OwnableUnauthorizedAccount' });
    await expect(n.coordinator.gov.queue(123n)).rejects.toMatchObject({ code: 'PROPOSAL_NOT_FOUND' });
    await expect(n.coordinator.gov.propose([], 'nothing')).rejects.toMatchObject({ code: 'GOV_EMPTY_PROPOSAL' });
    await expect(n.coordinator.gov.fastForward(123n)).rejects.toMatchObject({ code: 'PROPOSAL_NOT_FOUND' });
  });
});
