import { getAddress, zeroAddress, type Hex } from 'viem';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rewardDistributorAbi, rewardDistributorBytecode } from './artifacts.js';
import { nxs } from './deploy.js';
import { startEmbeddedNexus, type EmbeddedNexus } from './dev.js';
import { toChainError } from './errors.js';
import { buildRewardTree } from './merkle.js';
import { write } from './transact.js';

let n: EmbeddedNexus;
let clean: Hex;

beforeAll(async () => {
  // Reward per round 1,000 NXS, claim window 30 days, pool 1,000,000 NXS (the defaults).
  n = await startEmbeddedNexus({ accounts: 5 });
  clean = await n.conn.snapshot();
});
beforeEach(async () => {
  await n.conn.revert(clean);
  clean = await n.conn.snapshot();
});

const distributor = (who: number, functionName: string, args: readonly unknown[]) =>
  write(n.conn, n.conn.accounts[who], { address: n.deployment.distributor, abi: rewardDistributorAbi, action: functionName, functionName, args } as never);
const entries = () => n.participants.map((p, i) => ({ account: p.account, amount: nxs(100 + i) }));

describe('RewardDistributor', () => {
  it('pays every participant its amount once from a posted root', async () => {
    const posted = await n.coordinator.postRewardRoot(1n, entries());
    const info = await n.coordinator.rewardRound(1n);
    expect(info).toMatchObject({ root: posted.tree.root, total: nxs(406), claimed: 0n, swept: false });
    expect(await n.coordinator.rewardPoolAvailable()).toBe(nxs(1_000_000 - 406));
    expect(await n.coordinator.latestRound()).toBe(1n);
    for (const [i, p] of n.participants.entries()) {
      await p.claimFromTree(1n, posted.tree.dump());
      expect(await p.balanceOf()).toBe(nxs(10_000 + 100 + i));
      expect(await p.isClaimed(1n, p.account)).toBe(true);
    }
    expect((await n.coordinator.rewardRound(1n)).claimed).toBe(nxs(406));
    const [alice] = n.participants;
    await expect(alice.claimFromTree(1n, posted.tree)).rejects.toMatchObject({ errorName: 'AlreadyClaimed', args: [1n, alice.account] });
  });

  it('lets anyone submit a claim but pays the account in the leaf', async () => {
    const posted = await n.coordinator.postRewardRoot(2n, entries());
    const [alice, bob] = n.participants;
    await bob.claimFromTree(2n, posted.tree, alice.account);
    expect(await alice.balanceOf()).toBe(nxs(10_100));
    expect(await bob.balanceOf()).toBe(nxs(10_000));
  });

  it('rejects wrong proofs, wrong amounts and unposted rounds', async () => {
    const posted = await n.coordinator.postRewardRoot(3n, entries());
    const [alice, bob] = n.participants;
    const proof = posted.tree.proofOf(alice.account)!;
    await expect(alice.claim(3n, alice.account, proof.amount + 1n, proof.proof)).rejects.toMatchObject({ errorName: 'InvalidProof' });
    await expect(alice.claim(3n, bob.account, proof.amount, proof.proof)).rejects.toMatchObject({ errorName: 'InvalidProof' });
    await expect(alice.claim(4n, alice.account, proof.amount, proof.proof)).rejects.toMatchObject({ errorName: 'RoundNotPosted', args: [4n] });
    await expect(alice.claimFromTree(3n, buildRewardTree([{ account: bob.account, amount: 1n }]))).rejects.toMatchObject({ code: 'REWARD_NOT_IN_TREE' });
  });

  it('posts each round once, within the reward per round and the pool, only as POSTER_ROLE', async () => {
    await n.coordinator.postRewardRoot(1n, entries());
    await expect(n.coordinator.postRewardRoot(1n, entries())).rejects.toMatchObject({ errorName: 'RoundAlreadyPosted', args: [1n] });
    const [alice] = n.participants;
    await expect(n.coordinator.postRewardRoot(2n, [{ account: alice.account, amount: nxs(1_001) }])).rejects.toMatchObject({
      errorName: 'RewardExceedsLimit',
      args: [nxs(1_001), nxs(1_000)],
    });
    await expect(alice.postRewardRoot(2n, entries())).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
    await expect(distributor(0, 'postRoot', [2n, `0x${'0'.repeat(64)}`, 1n])).rejects.toMatchObject({ errorName: 'EmptyRoot' });
    await expect(distributor(0, 'postRoot', [2n, `0x${'1'.repeat(64)}`, 0n])).rejects.toMatchObject({ errorName: 'ZeroAmount' });
    await expect(distributor(0, 'fund', [0n])).rejects.toMatchObject({ errorName: 'ZeroAmount' });
    await expect(distributor(0, 'fund', [2n ** 192n])).rejects.toMatchObject({ errorName: 'AmountTooLarge', args: [2n ** 192n] });
    await expect(distributor(0, 'withdrawPool', [alice.account, 1n])).rejects.toMatchObject({ errorName: 'AccessControlUnauthorizedAccount' });
  });

  it('posts rounds in increasing order only, at most a million past the latest', async () => {
    await n.coordinator.postRewardRoot(5n, entries());
    for (const round of [4n, 0n]) await expect(n.coordinator.postRewardRoot(round, entries())).rejects.toMatchObject({ errorName: 'RoundOutOfSequence', args: [round, 5n] });
    // A round number far ahead would leave no room for the rounds after it.
    await expect(n.coordinator.postRewardRoot(5n + 1_000_001n, entries())).rejects.toMatchObject({ errorName: 'RoundOutOfSequence', args: [1_000_006n, 5n] });
    await expect(n.coordinator.postRewardRoot(2n ** 64n - 1n, entries())).rejects.toMatchObject({ errorName: 'RoundOutOfSequence' });
    await n.coordinator.postRewardRoot(5n + 1_000_000n, entries());
    expect(await n.coordinator.latestRound()).toBe(1_000_005n);
  });

  it('caps what the rounds of one epoch promise: a poster key cannot drain the pool, and the budget renews each epoch', async () => {
    const capped = await startEmbeddedNexus({ accounts: 2, parameters: { maxRewardPerEpoch: nxs(2_500), rewardEpoch: 3_600n } });
    const [alice] = capped.participants;
    const pay = (round: bigint, amount: bigint) => capped.coordinator.postRewardRoot(round, [{ account: alice.account, amount }]);
    // Start just after an epoch (an hour) begins, so the posts below stay inside it.
    const now = (await capped.conn.publicClient.getBlock()).timestamp;
    await capped.conn.increaseTime(Number(3_600n - (now % 3_600n)) + 1);
    await pay(1n, nxs(1_000));
    await pay(2n, nxs(1_000));
    expect(await capped.coordinator.epochRewardLeft()).toBe(nxs(500));
    const epoch = ((await capped.conn.publicClient.getBlock()).timestamp + 1n) / 3_600n;
    await expect(pay(3n, nxs(501))).rejects.toMatchObject({ errorName: 'EpochRewardExceedsLimit', args: [epoch, nxs(2_000), nxs(501), nxs(2_500)] });
    await pay(3n, nxs(500));
    await expect(pay(4n, 1n)).rejects.toMatchObject({ errorName: 'EpochRewardExceedsLimit' });
    expect(await capped.coordinator.rewardPoolAvailable()).toBe(nxs(1_000_000 - 2_500));
    await capped.conn.increaseTime(3_600);
    expect(await capped.coordinator.epochRewardLeft()).toBe(nxs(2_500));
    await pay(4n, nxs(1_000));
  });

  it('refuses a round the pool cannot cover, or whose total does not fit in 96 bits', async () => {
    const small = await startEmbeddedNexus({ accounts: 2, rewardPool: nxs(50), parameters: { rewardPerRound: 2n ** 100n } });
    await expect(small.coordinator.postRewardRoot(1n, [{ account: small.addresses[1], amount: nxs(51) }])).rejects.toMatchObject({
      errorName: 'InsufficientPool',
      args: [nxs(50), nxs(51)],
    });
    await expect(small.coordinator.postRewardRoot(1n, [{ account: small.addresses[1], amount: 2n ** 96n }])).rejects.toMatchObject({ errorName: 'AmountTooLarge' });
  });

  it('never pays a round more than its posted total, whatever the tree says', async () => {
    const [alice, bob] = n.participants;
    const tree = buildRewardTree([{ account: alice.account, amount: nxs(60) }, { account: bob.account, amount: nxs(60) }]);
    await distributor(0, 'postRoot', [1n, tree.root, nxs(100)]);
    await alice.claimFromTree(1n, tree);
    await expect(bob.claimFromTree(1n, tree)).rejects.toMatchObject({ errorName: 'RoundOverclaimed', args: [1n] });
  });

  it('refuses a zero address at deployment', async () => {
    const hash = n.conn.walletFor(n.conn.accounts[0]).deployContract({
      abi: rewardDistributorAbi,
      bytecode: rewardDistributorBytecode,
      args: [n.deployment.token, n.deployment.registry, n.deployment.timelock, zeroAddress],
    });
    await expect(hash.catch((e: unknown) => Promise.reject(toChainError('deploy', e)))).rejects.toMatchObject({ errorName: 'ZeroAddress' });
  });

  it('claims many rounds in one transaction and one transfer, each round once', async () => {
    const [alice, bob] = n.participants;
    const rounds = [1n, 2n, 300n];
    const trees = [];
    for (const round of rounds) trees.push({ round, tree: (await n.coordinator.postRewardRoot(round, entries())).tree });
    await alice.claimFromTree(2n, trees[1].tree);
    await expect(alice.claimMany(trees)).rejects.toMatchObject({ errorName: 'AlreadyClaimed', args: [2n, alice.account] });
    await expect(alice.claimMany([trees[0], trees[0]])).rejects.toMatchObject({ errorName: 'AlreadyClaimed', args: [1n, alice.account] });
    const tx = await bob.claimMany([trees[0], trees[2]], alice.account);
    expect(tx.receipt.logs.filter((l) => l.address.toLowerCase() === n.deployment.token.toLowerCase())).toHaveLength(1);
    expect(await alice.balanceOf()).toBe(nxs(10_000 + 3 * 100));
    for (const round of rounds) expect(await alice.isClaimed(round, alice.account)).toBe(true);
    expect(await alice.isClaimed(300n, bob.account)).toBe(false);
    await bob.claimMany(trees, bob.account);
    expect(await bob.balanceOf()).toBe(nxs(10_000 + 3 * 101));
    await expect(distributor(1, 'claimMany', [alice.account, [], [], []])).rejects.toMatchObject({ errorName: 'LengthMismatch' });
    await expect(distributor(1, 'claimMany', [alice.account, [1n], [], [[]]])).rejects.toMatchObject({ errorName: 'LengthMismatch' });
    await expect(alice.claimMany([])).rejects.toMatchObject({ code: 'REWARD_NO_CLAIMS' });
  });

  it('refuses a whole claimMany when one of its proofs is wrong', async () => {
    const [alice, bob] = n.participants;
    const one = await n.coordinator.postRewardRoot(1n, entries());
    const two = await n.coordinator.postRewardRoot(2n, entries());
    const good = one.tree.proofOf(alice.account)!;
    const bad = two.tree.proofOf(bob.account)!;
    await expect(distributor(1, 'claimMany', [alice.account, [1n, 2n], [good.amount, bad.amount], [good.proof, bad.proof]])).rejects.toMatchObject({ errorName: 'InvalidProof' });
    expect(await alice.isClaimed(1n, alice.account)).toBe(false);
    expect(await alice.balanceOf()).toBe(nxs(10_000));
  });

  it('registers an account: prepaid flags words claim like a returning participant, and every rule still holds', async () => {
    const [alice, bob] = n.participants;
    const empty = getAddress('0x00000000000000000000000000000000000c1a1e');
    const pool = await n.coordinator.rewardPoolAvailable();
    // A holder is registered without a seed; an empty wallet gets one base unit of the pool.
    const first = await bob.registerForRewards(alice.account);
    expect(first.receipt.logs).toHaveLength(1);
    expect(await alice.balanceOf()).toBe(nxs(10_000));
    await bob.registerForRewards(empty);
    expect(await bob.balanceOf(empty)).toBe(1n);
    expect(await n.coordinator.rewardPoolAvailable()).toBe(pool - 1n);
    // Registering again changes nothing and emits nothing.
    expect((await bob.registerForRewards(alice.account)).receipt.logs).toHaveLength(0);
    expect((await bob.registerForRewards(empty)).receipt.logs).toHaveLength(0);
    await expect(distributor(1, 'register', [zeroAddress])).rejects.toMatchObject({ errorName: 'ZeroAddress' });
    // The sentinel is no round's flag: nothing reads as claimed, and each round pays once.
    for (const round of [0n, 1n, 254n, 255n]) expect(await alice.isClaimed(round, alice.account)).toBe(false);
    const list = [...entries(), { account: empty, amount: nxs(7) }];
    const rounds = [1n, 254n, 255n];
    const trees = [];
    for (const round of rounds) trees.push({ round, tree: (await n.coordinator.postRewardRoot(round, list)).tree });
    const tx = await bob.claimFromTree(1n, trees[0].tree, empty);
    expect(tx.gasUsed).toBeLessThan(80_000n);
    expect(await bob.balanceOf(empty)).toBe(nxs(7) + 1n);
    await expect(bob.claimFromTree(1n, trees[0].tree, empty)).rejects.toMatchObject({ errorName: 'AlreadyClaimed', args: [1n, empty] });
    // 254 and 255 sit in different words (255 rounds to a word); claimMany books both.
    await bob.claimMany(trees.slice(1), empty);
    for (const round of rounds) expect(await bob.isClaimed(round, empty)).toBe(true);
    expect(await bob.isClaimed(256n, empty)).toBe(false);
    await expect(bob.claimMany(trees.slice(1), empty)).rejects.toMatchObject({ errorName: 'AlreadyClaimed', args: [254n, empty] });
    const proof = trees[0].tree.proofOf(alice.account)!;
    await expect(alice.claim(1n, alice.account, proof.amount + 1n, proof.proof)).rejects.toMatchObject({ errorName: 'InvalidProof' });
    await alice.claimFromTree(1n, trees[0].tree);
    expect(await alice.balanceOf()).toBe(nxs(10_100));
  });

  it('registers the words after the latest round, and seeds no wallet from an empty pool', async () => {
    const small = await startEmbeddedNexus({ accounts: 2, rewardPool: nxs(5) });
    const [alice] = small.participants;
    const empty = getAddress('0x00000000000000000000000000000000000c1a1f');
    await small.coordinator.postRewardRoot(600n, [{ account: alice.account, amount: nxs(5) }]);
    await alice.registerForRewards(empty);
    expect(await alice.isRegisteredForRewards(empty, 509n)).toBe(false);
    for (const round of [510n, 601n, 1019n]) expect(await alice.isRegisteredForRewards(empty, round)).toBe(true);
    expect(await alice.isRegisteredForRewards(empty, 1020n)).toBe(false);
    expect(await alice.balanceOf(empty)).toBe(0n);
  });

  it('closes claims at expiry and sweeps what is left back to the pool, once', async () => {
    const posted = await n.coordinator.postRewardRoot(1n, entries());
    const [alice, bob] = n.participants;
    await alice.claimFromTree(1n, posted.tree);
    await expect(n.coordinator.sweep(1n)).rejects.toMatchObject({ errorName: 'ClaimWindowOpen' });
    await n.conn.increaseTime(30 * 86_400);
    await expect(bob.claimFromTree(1n, posted.tree)).rejects.toMatchObject({ errorName: 'ClaimWindowClosed' });
    await bob.sweep(1n);
    expect(await n.coordinator.rewardPoolAvailable()).toBe(nxs(1_000_000 - 100));
    expect(await n.coordinator.rewardRound(1n)).toMatchObject({ swept: true, claimed: nxs(100) });
    await expect(bob.sweep(1n)).rejects.toMatchObject({ errorName: 'AlreadySwept', args: [1n] });
    await expect(bob.sweep(9n)).rejects.toMatchObject({ errorName: 'RoundNotPosted', args: [9n] });
  });
});
