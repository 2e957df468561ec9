import type { Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPUTATION_ONE } from './client.js';
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

  it('pays contributors by one root, raises their reputation, and slashes and penalises the flagged one', async () => {
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
    expect(settled.slashed).toEqual([{ account: mallory.account, amount: nxs(20) }]);
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
    expect(settled.slashed).toEqual([{ account: alice.account, amount: 0n }]);
    expect((await n.coordinator.rewardRound(2n)).total).toBe(0n);
  });
});
