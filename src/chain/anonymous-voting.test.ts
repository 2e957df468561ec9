import { parseEventLogs, toFunctionSelector, type Hex } from 'viem';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIdentity, Membership, nullifierOf, type Identity } from '../privacy/zk/index.js';
import { AnonymousVotingClient } from './anonymous-voting.js';
import { anonymousVotingAbi, nexusTimelockAbi } from './artifacts.js';
import { DEFAULT_GOVERNANCE, DEFAULT_PARAMETERS, nxs } from './deploy.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { MemberRegistryClient } from './members.js';
import { write } from './transact.js';

let n: EmbeddedNexus;
let clean: Hex;
let membership: Membership;
let identities: Identity[];

const voting = (who: number) => new AnonymousVotingClient(n.conn, n.deployment, n.conn.accounts[who]);

beforeAll(async () => {
  membership = Membership.open(1);
  n = await startEmbeddedNexus({ accounts: 4 });
  identities = [createIdentity(101n), createIdentity(202n), createIdentity(303n)];
  // alice and bob are members; carol stakes but joins only later.
  for (const who of [1, 2, 3]) await n.participants[who - 1].stake(nxs(100));
  for (const who of [1, 2]) await new MemberRegistryClient(n.conn, n.deployment, n.conn.accounts[who]).register(identities[who - 1].commitment);
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});
afterAll(() => membership?.close());

describe('AnonymousVoting', () => {
  it('passes an anonymous vote through the on-chain verifier and the timelock, and the parameter changes', async () => {
    const { proposalId } = await voting(1).propose('rewardPerRound', nxs(2_500));
    expect(proposalId).toBeLessThan(1n << 253n);
    expect(await voting(0).proposal(proposalId)).toMatchObject({ state: 'Active', parameter: 'rewardPerRound', value: nxs(2_500), quorum: 1, forVotes: 0 });

    // Carol joins after the proposal: the member root it froze does not hold her.
    await new MemberRegistryClient(n.conn, n.deployment, n.conn.accounts[3]).register(identities[2].commitment);
    await expect(voting(3).proveVote(membership, identities[2], proposalId, 'for')).rejects.toMatchObject({ code: 'GOV_NOT_A_VOTER' });

    const aliceFor = await voting(1).proveVote(membership, identities[0], proposalId, 'for');
    const bobAgainst = await voting(2).proveVote(membership, identities[1], proposalId, 'against');
    expect(aliceFor.nullifier).toBe(nullifierOf(identities[0], proposalId));
    // The coordinator's account relays both votes: the sender says nothing about who voted.
    const relayer = voting(0);
    await expect(relayer.castVote({ ...aliceFor, signalHash: 2n })).rejects.toMatchObject({ errorName: 'InvalidProof' });
    await expect(relayer.castVote({ ...aliceFor, signalHash: 3n })).rejects.toMatchObject({ errorName: 'InvalidChoice' });
    const cast = await relayer.castVote(aliceFor);
    const [event] = parseEventLogs({ abi: anonymousVotingAbi, logs: cast.receipt.logs, eventName: 'VoteCast' });
    expect(event.args).toMatchObject({ proposalId, nullifier: aliceFor.nullifier, choice: 1 });
    await expect(relayer.castVote(aliceFor)).rejects.toMatchObject({ errorName: 'AlreadyVoted', args: [proposalId, aliceFor.nullifier] });
    await relayer.castVote(bobAgainst);
    // A tie is defeated.
    expect(await relayer.proposal(proposalId)).toMatchObject({ forVotes: 1, againstVotes: 1 });
    await expect(relayer.queue(proposalId)).rejects.toMatchObject({ errorName: 'UnexpectedProposalState' });
    await n.conn.increaseTime(DEFAULT_GOVERNANCE.anonymousVotingPeriodSeconds + 1);
    expect((await relayer.proposal(proposalId)).state).toBe('Defeated');

    // A second proposal where both members vote for it passes.
    const second = await voting(2).propose('rewardPerRound', nxs(2_500), 'Raise the reward per round');
    for (const [who, identity] of [[1, identities[0]], [2, identities[1]]] as const) {
      await relayer.castVote(await voting(who).proveVote(membership, identity, second.proposalId, 'for'));
    }
    await expect(relayer.castVote(aliceFor)).rejects.toMatchObject({ errorName: 'UnexpectedProposalState' });
    await n.conn.increaseTime(DEFAULT_GOVERNANCE.anonymousVotingPeriodSeconds + 1);
    expect(await relayer.proposal(second.proposalId)).toMatchObject({ state: 'Succeeded', forVotes: 2 });
    await relayer.queue(second.proposalId);
    await expect(relayer.execute(second.proposalId)).rejects.toMatchObject({ errorName: 'TimelockUnexpectedOperationState' });
    await n.conn.increaseTime(DEFAULT_GOVERNANCE.timelockDelaySeconds);
    expect((await n.coordinator.parameters()).rewardPerRound).toBe(DEFAULT_PARAMETERS.rewardPerRound);
    await relayer.execute(second.proposalId);
    expect((await relayer.proposal(second.proposalId)).state).toBe('Executed');
    expect((await n.coordinator.parameters()).rewardPerRound).toBe(nxs(2_500));
  });

  it('lets only members propose, and only parameter setters', async () => {
    await expect(voting(0).propose('minimumStake', nxs(1))).rejects.toMatchObject({ errorName: 'NotMember', args: [n.addresses[0]] });
    const ownership = toFunctionSelector('transferOwnership(address)');
    await expect(
      write(n.conn, n.conn.accounts[1], { address: n.deployment.anonymousVoting, abi: anonymousVotingAbi, action: 'proposing', functionName: 'propose', args: [ownership, 1n, 'take the registry'] }),
    ).rejects.toMatchObject({ errorName: 'NotAParameterSetter', args: [ownership] });
  });

  it('is defeated without quorum; on the timelock the member track may schedule but not cancel', async () => {
    const { proposalId } = await voting(1).propose('minimumStake', nxs(50));
    await n.conn.increaseTime(DEFAULT_GOVERNANCE.anonymousVotingPeriodSeconds + 1);
    expect((await voting(0).proposal(proposalId)).state).toBe('Defeated');
    const role = (name: string) => n.conn.publicClient.readContract({ address: n.deployment.timelock, abi: nexusTimelockAbi, functionName: name as 'PROPOSER_ROLE' });
    const has = (r: Hex, who: `0x${string}`) => n.conn.publicClient.readContract({ address: n.deployment.timelock, abi: nexusTimelockAbi, functionName: 'hasRole', args: [r, who] });
    expect(await has(await role('PROPOSER_ROLE'), n.deployment.anonymousVoting)).toBe(true);
    expect(await has(await role('CANCELLER_ROLE'), n.deployment.anonymousVoting)).toBe(false);
    expect(await has(await role('CANCELLER_ROLE'), n.deployment.governor)).toBe(true);
  });
});
