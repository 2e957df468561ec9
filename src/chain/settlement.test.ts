import type { Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPUTATION_ONE, evidenceHash } from './client.js';
import { nxs } from './deploy.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { participantStanding, settleRound, splitReward } from './settlement.js';

let n: EmbeddedNexus;
let clean: Hex;

beforeAll(async () => {
  // Reward per round 1,000 NXS, 10% slash, minimum stake 100 NXS.
  n = await startEmbeddedNexus({ accounts: 5 });
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});

describe('round settlement', () => {
  it('splits a reward in proportion to scores without exceeding it', () => {
    expect(splitReward(1_000n, [1, 1, 2])).toEqual([250n, 250n, 500n]);
    const parts = splitReward(nxs(1_000), [1, 1, 1]);
    const paid = parts.reduce((a, b) => a + b, 0n);
    expect(paid <= nxs(1_000) && paid > nxs(1_000) - 3n).toBe(true);
    expect(splitReward(10n, [0, 0])).toEqual([0n, 0n]);
    expect(() => splitReward(10n, [-1])).toThrow(expect.objectContaining({ code: 'SETTLEMENT_BAD_SCORE' }));
  });

  it('pays contributors by one root, raises their reputation, and proposes a slash of the flagged one and penalises it', async () => {
    const [alice, bob, mallory] = n.participants;
    for (const p of [alice, bob, mallory]) await p.stake(nxs(200));
    const settled = await settleRound(n.coordinator, {
      round: 1n,
      contributions: [
        { account: alice.account, score: 300 },
        { account: bob.account, score: 100 },
        { account: mallory.account, score: 500 },
      ],
      flagged: [{ account: mallory.account, evidence: 'cosine outlier' }],
    });
    expect(settled.rewards).toEqual([
      { account: alice.account, amount: nxs(750) },
      { account: bob.account, amount: nxs(250) },
    ]);
    expect(settled.slashes).toEqual([{ account: mallory.account, amount: nxs(20), evidence: evidenceHash('round 1: cosine outlier'), challengeEndsAt: expect.any(BigInt) }]);
    expect(await n.coordinator.openSlashOf(mallory.account)).toMatchObject({ amount: nxs(20), status: 'Pending', challengeEndsAt: settled.slashes[0].challengeEndsAt });
    // The stake is untouched until the challenge period has passed.
    expect((await mallory.stakeOf()).active).toBe(nxs(200));
    expect((await n.coordinator.rewardRound(1n)).root).toBe(settled.tree!.root);

    await alice.claimFromTree(1n, settled.tree!.dump());
    expect(await alice.balanceOf()).toBe(nxs(10_000 - 200 + 750));
    expect(await participantStanding(n.coordinator, [alice.account, bob.account, mallory.account])).toEqual([
      { account: alice.account, eligible: true, reputation: REPUTATION_ONE },
      { account: bob.account, eligible: true, reputation: REPUTATION_ONE / 3n },
      { account: mallory.account, eligible: true, reputation: 0n },
    ]);
  });

  it('skips the root when nobody earned anything and reports a zero slash for flagged accounts without stake', async () => {
    const [alice] = n.participants;
    const settled = await settleRound(n.coordinator, { round: 2n, contributions: [], flagged: [{ account: alice.account, evidence: 'norm outlier' }] });
    expect(settled.tree).toBeUndefined();
    expect(settled.slashes).toEqual([{ account: alice.account, amount: 0n }]);
    expect((await n.coordinator.rewardRound(2n)).total).toBe(0n);
  });

  it('proposes no second slash while the first is open: a repeat offence costs reputation only', async () => {
    const [alice, mallory] = n.participants;
    await mallory.stake(nxs(1_000));
    const flagged = [{ account: mallory.account, evidence: 'norm outlier' }];
    const first = await settleRound(n.coordinator, { round: 1n, contributions: [{ account: alice.account, score: 1 }], flagged });
    const second = await settleRound(n.coordinator, { round: 2n, contributions: [{ account: alice.account, score: 1 }], flagged });
    expect(first.slashes[0].amount).toBe(nxs(100));
    expect(second.slashes).toEqual([{ account: mallory.account, amount: 0n }]);
    expect((await n.coordinator.openSlashOf(mallory.account))?.evidence).toBe(first.slashes[0].evidence);
  });

  it('pays no more than the reward epoch has left', async () => {
    const [alice] = n.participants;
    const epochLeft = await n.coordinator.epochRewardLeft();
    expect(epochLeft).toBe((await n.coordinator.parameters()).maxRewardPerEpoch);
    // 99 rounds of 1,000 NXS leave 1,000 of the 100,000 NXS epoch budget; then ask for 1,000 twice.
    // Start just after an epoch (a day) begins, so the posts below stay inside it.
    const now = (await n.conn.publicClient.getBlock()).timestamp;
    await n.conn.increaseTime(Number(86_400n - (now % 86_400n)) + 1);
    for (let r = 1n; r <= 99n; r++) await n.coordinator.postRewardRoot(r, [{ account: alice.account, amount: nxs(1_000) }]);
    await n.coordinator.postRewardRoot(100n, [{ account: alice.account, amount: nxs(400) }]);
    const settled = await settleRound(n.coordinator, { round: 101n, contributions: [{ account: alice.account, score: 1 }] });
    expect(settled.rewards).toEqual([{ account: alice.account, amount: nxs(600) }]);
    const empty = await settleRound(n.coordinator, { round: 102n, contributions: [{ account: alice.account, score: 1 }] });
    expect(empty.tree).toBeUndefined();
    expect(await n.coordinator.epochRewardLeft()).toBe(0n);
  });
});
