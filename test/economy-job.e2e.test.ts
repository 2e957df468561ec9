import { zeroHash, type Hex } from 'viem';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JobEconomy, nxs, openSimulatedFederation, type SimulatedFederation } from '../src/chain/index.js';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareJob, runJob, type JobConfigInput, type JobReport, type PreparedJob } from '../src/fl/index.js';

// Federated jobs wired to the token economy on the in-process EVM: 4 clients, 3 short rounds each.
const CLIENTS = 4;
const config = (overrides: Partial<JobConfigInput> = {}): JobConfigInput => ({
  ...demoConfig({ clients: CLIENTS, rounds: 3, seed: 7 }),
  training: { epochs: 1, batchSize: 32, learningRate: 0.005, optimizer: 'adam' },
  execution: { mode: 'in-process' },
  ...overrides,
});

let storage: Storage;
let f: SimulatedFederation;
let clean: Hex;
let plain: PreparedJob;

async function withEconomy(prepared: PreparedJob): Promise<JobReport> {
  const ids = [...prepared.clients.keys()];
  const incentives = await JobEconomy.open({ coordinator: f.coordinator, participants: new Map(ids.map((id, i) => [id, f.participants[i]])) });
  return runJob(prepared, storage, {}, { incentives });
}

beforeAll(async () => {
  storage = openStorage({ path: ':memory:' });
  // 500,000 NXS per account so that two participants' votes reach the 4% quorum.
  f = await openSimulatedFederation({ clients: CLIENTS, allocation: nxs(500_000) });
  clean = await f.conn.snapshot();
  plain = await prepareJob(config());
}, 60_000);
beforeEach(async () => {
  await f.conn.revert(clean);
  clean = await f.conn.snapshot();
});
afterAll(async () => {
  await storage.close();
});

describe('a federated job with the token economy', () => {
  it('posts one reward root per round, pays by examples, and ends with every client claimed; the model is the one trained without a chain', async () => {
    const report = await withEconomy(plain);
    const chain = report.chain!;
    expect(chain.rewardRoots).toHaveLength(3);
    for (const [i, root] of chain.rewardRoots.entries()) {
      expect(root).toMatch(/^0x[0-9a-f]{64}$/);
      const onChain = await f.coordinator.rewardRound(BigInt(i + 1));
      expect(onChain.root).toBe(root);
      expect(onChain.claimed).toBe(onChain.total);
      expect(report.rounds[i].settlement?.rewardRoot).toBe(root);
    }
    const examples = new Map(report.participants.map((p) => [p.id, p.numExamples]));
    const total = [...examples.values()].reduce((a, b) => a + b, 0);
    const first = report.rounds[0].settlement!;
    for (const r of first.rewards) {
      const expected = (nxs(1_000) * BigInt(examples.get(r.clientId)!)) / BigInt(total);
      expect(r.amount.units).toBe(expected.toString());
    }
    expect(chain.balances.map((b) => b.clientId)).toEqual([...examples.keys()]);
    for (const b of chain.balances) {
      const earned = report.rounds.reduce((sum, r) => sum + BigInt(r.settlement!.rewards.find((x) => x.clientId === b.clientId)?.amount.units ?? '0'), 0n);
      expect(b.earned.units).toBe(earned.toString());
      // 500,000 NXS allocated, 1,000 NXS staked.
      expect(b.balance.units).toBe((nxs(499_000) + earned).toString());
      expect(b.balance.display).toMatch(/^\d+(\.\d+)? NXS$/);
      expect(BigInt(b.balance.units)).toBe(await f.coordinator.balanceOf(b.account as Hex));
    }
    expect(chain.refused).toEqual([]);

    const without = await runJob(plain, storage);
    expect(without.chain).toBeUndefined();
    expect(without.rounds[0].settlement).toBeUndefined();
    expect(without.model.sha256).toBe(report.model.sha256);
  }, 60_000);

  it('refuses a node below the minimum stake at registration and trains without it', async () => {
    await f.participants[2].requestUnstake(nxs(950));
    const report = await withEconomy(plain);
    expect(report.chain!.refused).toEqual([
      { clientId: 'client-02', round: 0, code: 'NODE_STAKE_TOO_LOW', reason: expect.stringContaining('has 50 NXS staked, below the minimum stake of 100 NXS') },
    ]);
    for (const r of report.rounds) expect(r.participants).toEqual(['client-00', 'client-01', 'client-03']);
    expect(report.chain!.balances.find((b) => b.clientId === 'client-02')?.earned.units).toBe('0');
    expect(await storage.nodes.list()).toHaveLength(0);
  }, 60_000);

  it('proposes a slash of a client the poisoning detector flags, takes it after the challenge period, and takes its reputation', async () => {
    const prepared = await prepareJob(config({ adversaries: { clients: 1, kind: 'scale', factor: 10 } }));
    const [attacker] = prepared.adversaries.keys();
    const account = f.participants[[...prepared.clients.keys()].indexOf(attacker)].account;
    const report = await withEconomy(prepared);
    const flaggedRounds = report.rounds.filter((r) => r.flagged?.some((x) => x.clientId === attacker));
    expect(flaggedRounds.length).toBeGreaterThan(0);
    for (const r of flaggedRounds) {
      expect(r.settlement!.slashed.map((s) => s.clientId)).toContain(attacker);
      expect(r.settlement!.rewards.map((x) => x.clientId)).not.toContain(attacker);
    }
    // One slash is open per account: the first flag proposes it, later flags within its challenge period cost reputation only.
    const proposed = flaggedRounds.map((r) => BigInt(r.settlement!.slashed.find((s) => s.clientId === attacker)!.amount.units));
    expect(proposed[0]).toBe(nxs(100));
    expect(proposed.slice(1).every((a) => a === 0n)).toBe(true);
    expect((await f.coordinator.stakeOf(account)).active).toBe(nxs(1_000));
    const open = await f.coordinator.openSlashOf(account);
    expect(open).toMatchObject({ status: 'Pending', amount: nxs(100) });
    await f.conn.increaseTime(Number((await f.coordinator.parameters()).slashChallengePeriod));
    await f.coordinator.finalizeSlash(open!.evidence);
    expect((await f.coordinator.stakeOf(account)).active).toBe(nxs(900));
    const honest = f.participants.find((p) => p.account !== account)!.account;
    expect(await f.coordinator.reputationOf(account)).toBeLessThan(await f.coordinator.reputationOf(honest));
  }, 60_000);

  it('governance: a passed proposal raising the reward per round pays the new amount from the next round on', async () => {
    const before = await withEconomy(plain);
    expect(before.chain!.rewardPerRound.units).toBe(nxs(1_000).toString());
    // Shares are floored, so a round pays the reward per round less under one base unit per client.
    for (const r of before.rounds) expect(nxs(1_000) - BigInt(r.settlement!.paid.units)).toBeLessThan(BigInt(CLIENTS));

    const [alice, bob] = f.participants;
    await alice.delegate();
    await bob.delegate();
    const { proposalId } = await alice.gov.proposeParameterChange('rewardPerRound', nxs(2_500), 'Pay 2,500 NXS per round');
    await alice.gov.fastForward(proposalId);
    await alice.gov.castVote(proposalId, 'for');
    await bob.gov.castVote(proposalId, 'for');
    expect(await alice.gov.fastForward(proposalId)).toBe('Succeeded');
    await alice.gov.queue(proposalId);
    await expect(alice.gov.execute(proposalId)).rejects.toMatchObject({ errorName: 'TimelockUnexpectedOperationState' });
    await alice.gov.fastForward(proposalId);
    await alice.gov.execute(proposalId);

    const after = await withEconomy(plain);
    expect(after.chain!.rewardPerRound.units).toBe(nxs(2_500).toString());
    const next = after.rounds[0].settlement!;
    expect(next.ledgerRound).toBe('4');
    expect(BigInt(next.paid.units)).toBeGreaterThan(nxs(2_499));
    expect((await f.coordinator.rewardRound(4n)).total).toBe(BigInt(next.paid.units));
    expect(after.chain!.rewardRoots).not.toContain(zeroHash);
  }, 90_000);
});
