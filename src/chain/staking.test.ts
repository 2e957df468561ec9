import { keccak256, toBytes, zeroAddress, type Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stakingAbi, stakingBytecode } from './artifacts.js';
import { evidenceHash } from './client.js';
import { nxs } from './deploy.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { toChainError } from './errors.js';
import { write } from './transact.js';

let n: EmbeddedNexus;
let clean: Hex;

beforeAll(async () => {
  // Minimum stake 100 NXS, 10% slash, 7-day cool-down (the defaults).
  n = await startEmbeddedNexus({ accounts: 4 });
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});

const staking = (who: number, functionName: string, args: readonly unknown[]) =>
  write(n.conn, n.conn.accounts[who], { address: n.deployment.staking, abi: stakingAbi, action: functionName, functionName, args } as never);

describe('Staking', () => {
  it('makes an account eligible once its active stake reaches the minimum', async () => {
    const [alice] = n.participants;
    expect(await n.coordinator.isEligible(alice.account)).toBe(false);
    await alice.stake(nxs(60));
    expect(await n.coordinator.isEligible(alice.account)).toBe(false);
    await alice.stake(nxs(40));
    expect(await n.coordinator.isEligible(alice.account)).toBe(true);
    expect(await alice.stakeOf()).toEqual({ active: nxs(100), pending: 0n, readyAt: 0n });
    expect(await alice.balanceOf()).toBe(nxs(9_900));
    await expect(alice.stake(0n)).rejects.toMatchObject({ code: 'CHAIN_BAD_AMOUNT' });
    await expect(staking(1, 'stake', [0n])).rejects.toMatchObject({ errorName: 'ZeroAmount' });
    await expect(staking(1, 'stake', [nxs(1)])).rejects.toMatchObject({ errorName: 'ERC20InsufficientAllowance' });
  });

  it('registers every staker with the reward distributor, seeding a wallet the stake emptied with one base unit', async () => {
    const [alice, bob] = n.participants;
    expect(await alice.isRegisteredForRewards(alice.account, 1n)).toBe(false);
    await alice.stake(nxs(100));
    // Rounds 1 to 509 (two claimed-flags words of 255 rounds) are prepaid; alice kept tokens, so no seed.
    for (const round of [1n, 254n, 255n, 509n]) expect(await alice.isRegisteredForRewards(alice.account, round)).toBe(true);
    expect(await alice.isRegisteredForRewards(alice.account, 510n)).toBe(false);
    expect(await alice.balanceOf()).toBe(nxs(9_900));
    const pool = await n.coordinator.rewardPoolAvailable();
    await bob.stake(nxs(10_000));
    expect(await bob.balanceOf()).toBe(1n);
    expect(await n.coordinator.rewardPoolAvailable()).toBe(pool - 1n);
    expect(await bob.isClaimed(1n, bob.account)).toBe(false);
  });

  it('unstakes in two steps: request, then withdraw after the cool-down', async () => {
    const [alice] = n.participants;
    await alice.stake(nxs(150));
    await expect(alice.requestUnstake(nxs(151))).rejects.toMatchObject({ errorName: 'InsufficientStake', args: [alice.account, nxs(150), nxs(151)] });
    await expect(alice.withdraw()).rejects.toMatchObject({ errorName: 'NoPendingUnstake' });
    await expect(staking(1, 'requestUnstake', [0n])).rejects.toMatchObject({ errorName: 'ZeroAmount' });
    await alice.requestUnstake(nxs(100));
    const { active, pending, readyAt } = await alice.stakeOf();
    expect([active, pending]).toEqual([nxs(50), nxs(100)]);
    expect(await n.coordinator.isEligible(alice.account)).toBe(false);
    await expect(alice.withdraw()).rejects.toMatchObject({ errorName: 'CooldownNotOver', args: [readyAt] });
    await n.conn.increaseTime(7 * 86_400);
    await alice.withdraw();
    expect(await alice.stakeOf()).toEqual({ active: nxs(50), pending: 0n, readyAt: 0n });
    expect(await alice.balanceOf()).toBe(nxs(9_950));
  });

  it('proposes a slash of the registry fraction of active and cooling-down stake; it takes effect after the challenge period, once per evidence', async () => {
    const [alice, bob] = n.participants;
    await alice.stake(nxs(200));
    await alice.requestUnstake(nxs(190));
    const evidence = 'round 7: update flagged by the poisoning detector';
    const proposed = await n.coordinator.proposeSlash(alice.account, evidence);
    expect(proposed).toMatchObject({ evidence: evidenceHash(evidence), amount: nxs(20) });
    // Nothing is taken yet: the slash waits out the 14-day challenge period.
    expect(await alice.stakeOf()).toMatchObject({ active: nxs(10), pending: nxs(190) });
    expect(await n.coordinator.openSlashOf(alice.account)).toMatchObject({ account: alice.account, amount: nxs(20), status: 'Pending', challengeEndsAt: proposed.challengeEndsAt });
    await expect(bob.finalizeSlash(evidence)).rejects.toMatchObject({ errorName: 'ChallengePeriodNotOver', args: [Number(proposed.challengeEndsAt)] });
    await n.conn.increaseTime(14 * 86_400);
    // Anyone may make it take effect: 10 from active, then 10 from the cool-down.
    await bob.finalizeSlash(evidence);
    expect(await alice.stakeOf()).toMatchObject({ active: 0n, pending: nxs(180) });
    expect(await n.coordinator.balanceOf(n.deployment.timelock)).toBe(nxs(20));
    expect((await n.coordinator.slashOf(evidence)).status).toBe('Executed');
    expect(await n.coordinator.openSlashOf(alice.account)).toBeUndefined();
    await expect(bob.finalizeSlash(evidence)).rejects.toMatchObject({ errorName: 'SlashNotOpen', args: [evidenceHash(evidence), 3] });
    expect(await n.conn.publicClient.readContract({ address: n.deployment.staking, abi: stakingAbi, functionName: 'evidenceUsed', args: [evidenceHash(evidence)] })).toBe(true);
    await expect(n.coordinator.proposeSlash(alice.account, evidence)).rejects.toMatchObject({ errorName: 'EvidenceAlreadyUsed', args: [keccak256(toBytes(evidence))] });
  });

  it('refuses a second slash of the same account with fresh evidence while one is open', async () => {
    const [alice] = n.participants;
    await alice.stake(nxs(1_000));
    const first = await n.coordinator.proposeSlash(alice.account, 'round 1: outlier');
    await expect(n.coordinator.proposeSlash(alice.account, 'round 2: outlier')).rejects.toMatchObject({ errorName: 'SlashAlreadyOpen', args: [alice.account, first.evidence] });
    await n.conn.increaseTime(14 * 86_400);
    await n.coordinator.finalizeSlash(first.evidence);
    // Decided: the next slash may be proposed, of what is left.
    expect((await n.coordinator.proposeSlash(alice.account, 'round 3: outlier')).amount).toBe(nxs(90));
  });

  it('lets the accused contest within the challenge period; a contested slash takes nothing unless governance upholds it in time', async () => {
    const [alice, bob] = n.participants;
    await alice.stake(nxs(500));
    const { evidence, challengeEndsAt } = await n.coordinator.proposeSlash(alice.account, 'round 4: outlier');
    await expect(bob.contestSlash(evidence, 'not mine')).rejects.toMatchObject({ errorName: 'NotAccused', args: [alice.account] });
    await alice.contestSlash(evidence, 'my update was a fine-tune on new data: report sha256 ...');
    const contested = await alice.slashOf(evidence);
    expect(contested).toMatchObject({ status: 'Contested' });
    await expect(alice.contestSlash(evidence, 'again')).rejects.toMatchObject({ errorName: 'SlashNotOpen', args: [evidence, 2] });
    await n.conn.increaseTime(Number(challengeEndsAt - (await n.conn.publicClient.getBlock()).timestamp) + 1);
    await expect(bob.finalizeSlash(evidence)).rejects.toMatchObject({ errorName: 'ResolutionPeriodNotOver', args: [Number(contested.resolveBy)] });
    await n.conn.increaseTime(30 * 86_400);
    await bob.finalizeSlash(evidence);
    expect((await alice.slashOf(evidence)).status).toBe('Lapsed');
    expect(await alice.stakeOf()).toMatchObject({ active: nxs(500) });
    expect(await n.coordinator.balanceOf(n.deployment.timelock)).toBe(0n);
  });

  it('refuses a contest after the challenge period', async () => {
    const [alice] = n.participants;
    await alice.stake(nxs(500));
    const { evidence, challengeEndsAt } = await n.coordinator.proposeSlash(alice.account, 'round 5: outlier');
    await n.conn.increaseTime(14 * 86_400);
    await expect(alice.contestSlash(evidence, 'late')).rejects.toMatchObject({ errorName: 'ChallengePeriodOver', args: [Number(challengeEndsAt)] });
  });

  it('keeps the amount of an open slash from being withdrawn', async () => {
    const [alice] = n.participants;
    await alice.stake(nxs(200));
    const { evidence } = await n.coordinator.proposeSlash(alice.account, 'round 6: outlier');
    await alice.requestUnstake(nxs(200));
    await n.conn.increaseTime(7 * 86_400);
    await expect(alice.withdraw()).rejects.toMatchObject({ errorName: 'StakeFrozen', args: [alice.account, nxs(20)] });
    await alice.contestSlash(evidence, 'wrong');
    await n.conn.increaseTime(31 * 86_400);
    await alice.finalizeSlash(evidence);
    await alice.withdraw();
    expect(await alice.stakeOf()).toEqual({ active: 0n, pending: 0n, readyAt: 0n });
  });

  it('lets only the slasher propose, only governance cancel or uphold, and only existing stake be slashed', async () => {
    const [alice, bob] = n.participants;
    await alice.stake(nxs(100));
    await expect(bob.proposeSlash(alice.account, 'grudge')).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount', args: [bob.account, keccak256(toBytes('SLASHER_ROLE'))] });
    await expect(n.coordinator.proposeSlash(bob.account, 'no stake')).rejects.toMatchObject({ errorName: 'NothingToSlash', args: [bob.account] });
    const { evidence } = await n.coordinator.proposeSlash(alice.account, 'round 8: outlier');
    for (const fn of ['cancelSlash', 'upholdSlash']) {
      await expect(staking(0, fn, [evidence])).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
    }
    await expect(bob.finalizeSlash('never proposed')).rejects.toMatchObject({ errorName: 'UnknownSlash', args: [evidenceHash('never proposed')] });
    await expect(staking(0, 'slashAmount', [alice.account, nxs(1), evidenceHash('x')])).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
    await expect(staking(0, 'setTreasury', [alice.account])).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
  });

  it('refuses stakes beyond 128 bits and zero addresses at deployment', async () => {
    const huge = await startEmbeddedNexus({ accounts: 2, cap: 2n ** 131n, allocation: 2n ** 129n, rewardPool: 0n });
    await expect(huge.participants[0].stake(2n ** 128n)).rejects.toMatchObject({ errorName: 'StakeTooLarge', args: [2n ** 128n] });
    const deploying = n.conn
      .walletFor(n.conn.accounts[0])
      .deployContract({ abi: stakingAbi, bytecode: stakingBytecode, args: [n.deployment.token, n.deployment.registry, n.deployment.timelock, zeroAddress, n.addresses[0], n.deployment.distributor] });
    await expect(deploying.catch((e: unknown) => Promise.reject(toChainError('deploy', e)))).rejects.toMatchObject({ errorName: 'ZeroAddress' });
  });
});
