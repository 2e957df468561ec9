import { keccak256, toHex, getAddress, type Address } from 'viem';
import { nxs, startEmbeddedNexus, type NexusClient, type RewardTree } from '../src/chain/index.js';
import type { BenchResult } from './bench-result.js';

const PARTICIPANTS = 1_000;
const k = (g: number): string => g.toLocaleString('en-US');

/** Deterministic addresses with no keys: reward recipients only (a claim may be submitted by anyone). */
const participants = (count: number, salt: string): Address[] =>
  Array.from({ length: count }, (_, i) => getAddress(`0x${keccak256(toHex(`${salt}-${i}`)).slice(26)}`));

interface Stats {
  mean: number;
  min: number;
  max: number;
  total: number;
}

function stats(values: bigint[]): Stats {
  const n = values.map(Number);
  const total = n.reduce((a, b) => a + b, 0);
  return { mean: Math.round(total / n.length), min: Math.min(...n), max: Math.max(...n), total };
}

async function claimAllOf(submitter: NexusClient, round: bigint, tree: RewardTree, accounts: readonly Address[]): Promise<Stats> {
  const gas: bigint[] = [];
  for (const account of accounts) gas.push((await submitter.claimFromTree(round, tree, account)).gasUsed);
  return stats(gas);
}

/** Each account claims `rounds` rounds in one claimMany (submitted by `submitter`, which costs what its own would). */
async function claimManyAll(submitter: NexusClient, accounts: readonly Address[], rounds: readonly { round: bigint; tree: RewardTree }[]): Promise<Stats> {
  const gas: bigint[] = [];
  for (const account of accounts) gas.push((await submitter.claimMany(rounds, account)).gasUsed);
  return stats(gas);
}

async function transferAll(sender: NexusClient, to: readonly Address[], amount: bigint): Promise<Stats> {
  const gas: bigint[] = [];
  for (const account of to) gas.push((await sender.transfer(account, amount)).gasUsed);
  return stats(gas);
}

/** Gas of the token economy on the in-process EVM: stake, vote, a round's root, and paying 1,000 participants by Merkle claims against plain transfers. */
export async function benchChain(): Promise<BenchResult> {
  const n = await startEmbeddedNexus({
    accounts: 5,
    allocation: nxs(1_000_000),
    rewardPool: nxs(10_000_000),
    parameters: { rewardPerRound: nxs(1_000_000), maxRewardPerEpoch: nxs(10_000_000) },
    governance: { votingDelayBlocks: 1, votingPeriodBlocks: 10 },
  });
  const [alice, bob, relayer, carol] = n.participants;
  const rows: Record<string, unknown>[] = [];
  const row = (operation: string, gas: number, note: string, extra: Record<string, unknown> = {}) => rows.push({ operation, gas, note, ...extra });
  const TARGET = 80_000;
  const claimRow = (operation: string, x: Stats, note: string) => row(operation, x.mean, note, { ...x, target: TARGET, met: x.max < TARGET });

  await alice.approve(n.deployment.staking, nxs(1_000));
  row('stake (first, tokens left)', Number((await alice.stake(nxs(200))).gasUsed), 'allowance already given; new stake slot, registers 2 claimed-flags words (255 to 510 rounds)');
  row('stake (top-up)', Number((await alice.stake(nxs(200))).gasUsed), 'existing stake; registration already done (a check)');
  // carol stakes her whole wallet: the registration seeds it with one base unit in the same transaction.
  await carol.transfer(n.addresses[0], nxs(1_000_000 - 200));
  await carol.approve(n.deployment.staking, nxs(200));
  row('stake (first, whole wallet)', Number((await carol.stake(nxs(200))).gasUsed), 'as above, and the emptied wallet gets 1 base unit back from the pool');
  row('requestUnstake', Number((await alice.requestUnstake(nxs(100))).gasUsed), 'starts the cool-down');
  const proposed = await n.coordinator.proposeSlash(alice.account, 'bench evidence');
  row('proposeSlash', Number(proposed.gasUsed), 'registry fraction of the stake, taken after the challenge period');
  await n.conn.increaseTime(Number((await n.coordinator.parameters()).slashChallengePeriod));
  row('finalizeSlash', Number((await bob.finalizeSlash(proposed.evidence)).gasUsed), 'anyone, after the challenge period: the stake to the treasury');

  await alice.delegate();
  await bob.delegate();
  await bob.stake(nxs(200));
  // The relayer (which submits the claims below) stakes too, keeping tokens and its votes undelegated.
  await relayer.stake(nxs(200));
  const { proposalId } = await alice.gov.proposeParameterChange('rewardPerRound', nxs(2_000_000));
  await alice.gov.fastForward(proposalId);
  row('castVote', Number((await bob.gov.castVote(proposalId, 'for')).gasUsed), 'GovernorCountingSimple, votes from checkpoints');

  // Roster quarters: registered holders, registered empty wallets (seeded), unregistered holders,
  // unregistered empty wallets. Registering is what every stake does; here the relayer calls it
  // for key-less addresses (anyone may), which costs what the stake's share of it does.
  const roster = participants(PARTICIPANTS, 'participant');
  const Q = PARTICIPANTS / 4;
  const [regHolders, regEmpty, holders1, empty1] = [0, 1, 2, 3].map((q) => roster.slice(q * Q, (q + 1) * Q));
  await transferAll(n.coordinator, [...regHolders, ...holders1], 1n);
  const register = async (accounts: readonly Address[]): Promise<Stats> => {
    const gas: bigint[] = [];
    for (const account of accounts) gas.push((await relayer.registerForRewards(account)).gasUsed);
    return stats(gas);
  };
  const regH = await register(regHolders);
  const regE = await register(regEmpty);
  row('register (token holder)', regH.mean, 'what stake adds once: 2 claimed-flags words set to the sentinel', { ...regH });
  row('register (empty wallet)', regE.mean, 'and seeds 1 base unit from the pool (about 2k instead inside the stake that emptied it)', { ...regE });

  // Stakers in the rounds: the relayer (kept tokens), carol (staked her whole wallet), bob (delegated his votes to himself).
  const stakers = [relayer.account, carol.account, bob.account];
  const entries = [...roster, ...stakers].map((account, i) => ({ account, amount: nxs(1) + BigInt(i) }));
  // Rounds are posted in increasing order: 1 and 2 here, 3 and 4 claimed below.
  for (const [round, size] of [[1n, 10], [2n, 100]] as const) {
    const posted = await n.coordinator.postRewardRoot(round, entries.slice(0, size));
    row(`postRewardRoot (${size} participants)`, Number(posted.gasUsed), 'one root and total');
  }
  const round1 = await n.coordinator.postRewardRoot(3n, entries);
  row(`postRewardRoot (${PARTICIPANTS} participants)`, Number(round1.gasUsed), 'one root and total, independent of the count', { target: 100_000, met: round1.gasUsed < 100_000n });
  const firstRegH = await claimAllOf(relayer, 3n, round1.tree, regHolders);
  const firstRegE = await claimAllOf(relayer, 3n, round1.tree, regEmpty);
  const firstH = await claimAllOf(relayer, 3n, round1.tree, holders1);
  const firstE = await claimAllOf(relayer, 3n, round1.tree, empty1);
  const own = async (c: NexusClient): Promise<Stats> => stats([(await c.claimFromTree(3n, round1.tree)).gasUsed]);
  const firstKept = await own(relayer);
  const firstCarol = await own(carol);
  const firstBob = await own(bob);
  claimRow('claim (first, staked, tokens left)', firstKept, 'its stake registered it; its own transaction');
  claimRow('claim (first, staked whole wallet)', firstCarol, 'carol: registered and seeded by her stake');
  claimRow('claim (first, registered, token holder)', firstRegH, 'rewrites the sentinel word and a non-zero balance');
  claimRow('claim (first, registered, empty wallet)', firstRegE, 'the seed made the balance non-zero');
  claimRow('claim (first, never registered, token holder)', firstH, 'sets the claimed-flags word from zero (never staked)');
  claimRow('claim (first, never registered, empty wallet)', firstE, 'sets the flags word and the token balance from zero');
  claimRow('claim (first, staked, votes delegated)', firstBob, 'bob: ERC20Votes writes a vote checkpoint on every balance change of a delegator');
  const round2 = await n.coordinator.postRewardRoot(4n, entries);
  const again = await claimAllOf(relayer, 4n, round2.tree, roster);
  claimRow('claim (returning participant)', again, 'claimed an earlier round in the same word');

  // claimMany: rounds 20 to 29 of 1,003-leaf trees (10-deep proofs), in the same claimed-flags
  // word as rounds 3 and 4, each participant's rounds in one transaction. Newcomers (empty
  // wallets, never claimed; half registered) take the places of 40 participants in rounds 30 to 39.
  const CLAIMED_ROUNDS = 10;
  const postRounds = async (first: number, list: typeof entries): Promise<{ round: bigint; tree: RewardTree }[]> => {
    const out: { round: bigint; tree: RewardTree }[] = [];
    for (let r = first; r < first + CLAIMED_ROUNDS; r++) out.push({ round: BigInt(r), tree: (await n.coordinator.postRewardRoot(BigInt(r), list)).tree });
    return out;
  };
  const returning = await postRounds(20, entries);
  const one = await claimManyAll(relayer, roster.slice(200, 220), returning.slice(0, 1));
  const many = await claimManyAll(relayer, roster.slice(100, 120), returning);
  const newcomers = participants(40, 'newcomer');
  await register(newcomers.slice(20));
  const newRounds = await postRounds(30, [...newcomers.map((account) => ({ account, amount: nxs(1) })), ...entries.slice(40)]);
  const manyNew = await claimManyAll(relayer, newcomers.slice(0, 20), newRounds);
  const manyNewReg = await claimManyAll(relayer, newcomers.slice(20), newRounds);
  const gasPerRound = (x: Stats): number => Math.round(x.mean / CLAIMED_ROUNDS);
  row('claimMany (1 round, returning)', one.mean, 'one round through claimMany, to compare with claim', { ...one });
  row(`claimMany (${CLAIMED_ROUNDS} rounds, returning)`, many.mean, `${k(gasPerRound(many))} gas per round claimed`, { ...many, perRound: gasPerRound(many) });
  row(`claimMany (${CLAIMED_ROUNDS} rounds, first, registered, empty wallet)`, manyNewReg.mean, `${k(gasPerRound(manyNewReg))} gas per round claimed`, {
    ...manyNewReg,
    perRound: gasPerRound(manyNewReg),
  });
  row(`claimMany (${CLAIMED_ROUNDS} rounds, first, never registered, empty wallet)`, manyNew.mean, `${k(gasPerRound(manyNew))} gas per round claimed`, {
    ...manyNew,
    perRound: gasPerRound(manyNew),
  });

  const fresh = await transferAll(n.coordinator, participants(PARTICIPANTS, 'transfer-recipient'), nxs(1));
  row('transfer (fresh recipient)', fresh.mean, 'ERC-20 transfer to an address with no tokens', { ...fresh });
  const holders = await transferAll(n.coordinator, roster, nxs(1));
  row('transfer (existing holder)', holders.mean, 'ERC-20 transfer to an address holding tokens', { ...holders });

  const registered = firstRegH.total + firstRegE.total;
  const perRound = [
    { scheme: 'Merkle distributor, first round', coordinator: Number(round1.gasUsed), participants: registered + firstH.total + firstE.total },
    { scheme: 'Merkle distributor, later rounds', coordinator: Number(round2.gasUsed), participants: again.total },
    { scheme: '1000 transfers, fresh recipients', coordinator: fresh.total, participants: 0 },
    { scheme: '1000 transfers, existing holders', coordinator: holders.total, participants: 0 },
  ];
  for (const p of perRound) rows.push({ operation: `pay ${PARTICIPANTS} participants: ${p.scheme}`, coordinatorGas: p.coordinator, participantGas: p.participants, totalGas: p.coordinator + p.participants });

  const single = rows.filter((r) => typeof r.gas === 'number');
  const width = Math.max(...single.map((r) => String(r.operation).length));
  const mark = (r: Record<string, unknown>): string => (r.met === undefined ? '' : r.met ? ' [met]' : ' [NOT met]');
  const staked = [firstKept, firstCarol, firstRegH, firstRegE, again];
  const worst = Math.max(...staked.map((x) => x.max));
  const lines = [
    'gas per transaction (in-process EVM, Prague rules; claims submitted for the participants, which costs what their own claim would):',
    `${'operation'.padEnd(width)}       gas  note`,
    ...single.map(
      (r) => `${String(r.operation).padEnd(width)}  ${k(r.gas as number).padStart(8)}  ${String(r.note)}${r.min !== undefined ? ` (min ${k(r.min as number)}, max ${k(r.max as number)})` : ''}${mark(r)}`,
    ),
    '',
    `paying ${PARTICIPANTS} participants in one round (the first: a quarter each registered holders, registered empty wallets, unregistered holders, unregistered empty wallets):`,
    'scheme                              coordinator gas  participants gas     total gas',
    ...perRound.map((p) => `${p.scheme.padEnd(34)}  ${k(p.coordinator).padStart(15)}  ${k(p.participants).padStart(16)}  ${k(p.coordinator + p.participants).padStart(12)}`),
    '',
    `targets: posting a root < 100,000 gas (${k(Number(round1.gasUsed))} for ${PARTICIPANTS}); a claim < ${k(TARGET)} gas: every claim of a staked (registered) participant, first or`,
    `  returning, empty wallet or not, at most ${k(worst)} (${worst < TARGET ? 'met' : 'NOT met'}). Staking pays the two zero-to-non-zero writes a first claim used to make`,
    `  (claimed-flags words for the next 255 to 510 rounds, and a 1-base-unit seed for an emptied wallet). Not covered: an address that never staked`,
    `  or registered (${k(firstH.mean)} / ${k(firstE.mean)}), a claim more than 255 to 510 rounds after the participant's last stake or registration (as unregistered), and`,
    `  an account with delegated votes (${k(firstBob.mean)}: ERC20Votes checkpoints, on any token receipt). claimMany: ${k(gasPerRound(manyNewReg))} a round for a registered newcomer, ${k(gasPerRound(many))} returning.`,
  ];
  return {
    name: 'chain',
    description: 'token economy gas: stake, vote, reward root posting, Merkle claims (first and returning, against the 80k target) against ERC-20 transfers for 1,000 participants',
    rows,
    table: lines.join('\n'),
  };
}
