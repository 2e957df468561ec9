import { zeroHash, type Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPUTATION_ONE } from './client.js';
import { nxs } from './deploy.js';
import { JobEconomy } from './job-economy.js';
import { openSimulatedFederation, type SimulatedFederation } from './simulated-federation.js';

let f: SimulatedFederation;
let clean: Hex;
const ids = ['client-00', 'client-01', 'client-02'];

beforeAll(async () => {
  // Defaults: reward per round 1,000 NXS, minimum stake 100 NXS, 10% slash; each client stakes 1,000 NXS.
  // 500,000 NXS each lets two clients reach the 4% quorum (the 1,000,000 NXS reward pool counts in the supply).
  f = await openSimulatedFederation({ clients: 3, allocation: nxs(500_000) });
  clean = await f.conn.snapshot();
});
beforeEach(async () => {
  await f.conn.revert(clean);
  clean = await f.conn.snapshot();
});

const open = () => JobEconomy.open({ coordinator: f.coordinator, participants: new Map(ids.map((id, i) => [id, f.participants[i]])) });

describe('JobEconomy', () => {
  it('simulated federation: every client staked ten times the minimum', async () => {
    for (const p of f.participants) expect((await p.stakeOf()).active).toBe(nxs(1_000));
  });

  it('re-registers, with its own key, a participant whose stake no longer covers the next rounds', async () => {
    const [alice] = f.participants;
    expect(await alice.isRegisteredForRewards(alice.account, 1n)).toBe(true);
    // Staking registered rounds 1 to 509; a root at round 600 moves the chain past them.
    await f.coordinator.postRewardRoot(600n, [{ account: alice.account, amount: 1n }]);
    expect(await alice.isRegisteredForRewards(alice.account, 601n)).toBe(false);
    const economy = await open();
    expect(economy.baseRound).toBe(600n);
    for (const p of f.participants) expect(await p.isRegisteredForRewards(p.account, 601n)).toBe(true);
  });

  it('refuses a node below the minimum stake with a message that says how much more to stake', async () => {
    const [, bob] = f.participants;
    await bob.requestUnstake(nxs(950));
    const economy = await open();
    const refused = await economy.admit(ids);
    expect(refused).toEqual([{ clientId: 'client-01', code: 'NODE_STAKE_TOO_LOW', reason: expect.stringContaining('has 50 NXS staked, below the minimum stake of 100 NXS; stake 50 NXS more') }]);
    expect(refused[0].reason).toContain(bob.account);
    await expect(economy.admit(['client-99'])).rejects.toMatchObject({ code: 'ECONOMY_UNKNOWN_CLIENT' });
  });

  it('pays each round by examples, slashes and penalises the flagged client, and claims everything at the end', async () => {
    const economy = await open();
    expect(await economy.selectionWeights(ids)).toEqual({ 'client-00': 1, 'client-01': 1, 'client-02': 1 });
    const first = await economy.settle(1, {
      contributions: [
        { clientId: 'client-00', score: 300 },
        { clientId: 'client-01', score: 100 },
        { clientId: 'client-02', score: 600 },
      ],
      flagged: [{ clientId: 'client-02', evidence: 'round 1: cosine -0.4' }],
    });
    expect(first.ledgerRound).toBe('1');
    expect(first.rewardRoot).toBe((await f.coordinator.rewardRound(1n)).root);
    expect(first.paid.units).toBe(nxs(1_000).toString());
    expect(first.rewards).toEqual([
      { clientId: 'client-00', amount: { units: nxs(750).toString(), display: '750 NXS' } },
      { clientId: 'client-01', amount: { units: nxs(250).toString(), display: '250 NXS' } },
    ]);
    expect(first.slashed).toEqual([{ clientId: 'client-02', amount: { units: nxs(100).toString(), display: '100 NXS' } }]);
    // client-00 earned one full point, client-01 a third, client-02 lost everything.
    const weights = await economy.selectionWeights(ids);
    expect(weights['client-00']).toBeCloseTo(2, 9);
    expect(weights['client-01']).toBeCloseTo(1 + 1 / 3, 6);
    expect(weights['client-02']).toBe(1);
    expect(await f.coordinator.reputationOf(f.participants[0].account)).toBe(REPUTATION_ONE);

    const second = await economy.settle(2, { contributions: [{ clientId: 'client-00', score: 1 }, { clientId: 'client-01', score: 1 }], flagged: [] });
    expect(second.ledgerRound).toBe('2');
    const summary = await economy.finish();
    expect(summary).toMatchObject({ network: 'in-process EVM, chain 31337', rewardPerRound: { display: '1000 NXS' }, minimumStake: { display: '100 NXS' } });
    // 500,000 allocated, 1,000 staked: 499,000 plus what was earned.
    expect(summary.balances).toEqual([
      { clientId: 'client-00', account: f.participants[0].account, earned: { units: nxs(1_250).toString(), display: '1250 NXS' }, balance: { units: nxs(500_250).toString(), display: '500250 NXS' } },
      { clientId: 'client-01', account: f.participants[1].account, earned: { units: nxs(750).toString(), display: '750 NXS' }, balance: { units: nxs(499_750).toString(), display: '499750 NXS' } },
      { clientId: 'client-02', account: f.participants[2].account, earned: { units: '0', display: '0 NXS' }, balance: { units: nxs(499_000).toString(), display: '499000 NXS' } },
    ]);
    expect(await f.coordinator.isClaimed(2n, f.participants[1].account)).toBe(true);
  });

  it('numbers a later job after the last settled round, and reports a round that paid nobody with the zero root', async () => {
    const economy = await open();
    const thirds = await economy.settle(1, { contributions: [{ clientId: 'client-00', score: 1 }, { clientId: 'client-01', score: 2 }], flagged: [] });
    // Exact units, and a display cut (not rounded) to four decimals.
    expect(thirds.rewards.map((r) => r.amount)).toEqual([
      { units: '333333333333333333333', display: '333.3333 NXS' },
      { units: '666666666666666666666', display: '666.6666 NXS' },
    ]);
    await economy.settle(2, { contributions: [{ clientId: 'client-00', score: 1 }], flagged: [] });
    const next = await open();
    expect(next.chainRound(1)).toBe(3n);
    // A root posted outside a job (here round 7) moves the numbering too, so no round is posted twice.
    await f.coordinator.postRewardRoot(7n, [{ account: f.participants[0].account, amount: 1n }]);
    expect((await open()).chainRound(1)).toBe(8n);
    const empty = await (await open()).settle(1, { contributions: [{ clientId: 'client-01', score: 5 }], flagged: [{ clientId: 'client-01', evidence: 'norm 9.1' }] });
    expect(empty).toMatchObject({ rewardRoot: zeroHash, ledgerRound: '8', paid: { units: '0' }, rewards: [] });
  });

  it('pays a lowered reward per round at once; the next job opens with the new parameters', async () => {
    const economy = await open();
    await f.participants[0].delegate();
    await f.participants[1].delegate();
    const voted = await f.participants[0].gov.proposeParameterChange('rewardPerRound', nxs(400), 'Lower the reward to 400 NXS');
    await f.coordinator.gov.fastForward(voted.proposalId);
    await f.participants[0].gov.castVote(voted.proposalId, 'for');
    await f.participants[1].gov.castVote(voted.proposalId, 'for');
    await f.coordinator.gov.fastForward(voted.proposalId);
    await f.coordinator.gov.queue(voted.proposalId);
    await f.coordinator.gov.fastForward(voted.proposalId);
    await f.coordinator.gov.execute(voted.proposalId);
    const settled = await economy.settle(1, { contributions: [{ clientId: 'client-00', score: 1 }], flagged: [] });
    expect(settled.paid.units).toBe(nxs(400).toString());
    expect(economy.parameters.rewardPerRound).toBe(nxs(1_000));
    expect((await open()).parameters.rewardPerRound).toBe(nxs(400));
  });
});
