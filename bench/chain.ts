import { keccak256, toHex, getAddress, type Address } from 'viem';
import { nxs, startEmbeddedNexus, type NexusClient, type RewardTree } from '../src/chain/index.js';
import type { BenchResult } from './run.js';

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

async function claimAll(submitter: NexusClient, round: bigint, tree: RewardTree): Promise<Stats> {
  return claimAllOf(submitter, round, tree, tree.entries.map((e) => e.account));
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
    accounts: 4,
    allocation: nxs(1_000_000),
    rewardPool: nxs(10_000_000),
    parameters: { rewardPerRound: nxs(1_000_000) },
    governance: { votingDelayBlocks: 1, votingPeriodBlocks: 10 },
  });
  const [alice, bob, relayer] = n.participants;
  const rows: Record<string, unknown>[] = [];
  const row = (operation: string, gas: number, note: string, extra: Record<string, unknown> = {}) => rows.push({ operation, gas, note, ...extra });

  await alice.approve(n.deployment.staking, nxs(1_000));
  row('stake (first)', Number((await alice.stake(nxs(200))).gasUsed), 'allowance already given; new stake slot');
  row('stake (top-up)', Number((await alice.stake(nxs(200))).gasUsed), 'existing stake');
  row('requestUnstake', Number((await alice.requestUnstake(nxs(100))).gasUsed), 'starts the cool-down');
  row('slash', Number((await n.coordinator.slash(alice.account, 'bench evidence')).gasUsed), 'registry fraction to the treasury');

  await alice.delegate();
  await bob.delegate();
  const { proposalId } = await alice.gov.proposeParameterChange('rewardPerRound', nxs(2_000_000));
  await alice.gov.fastForward(proposalId);
  row('castVote', Number((await bob.gov.castVote(proposalId, 'for')).gasUsed), 'GovernorCountingSimple, votes from checkpoints');

  const roster = participants(PARTICIPANTS, 'participant');
  const entries = roster.map((account, i) => ({ account, amount: nxs(1) + BigInt(i) }));
  for (const size of [10, 100]) {
    const posted = await n.coordinator.postRewardRoot(BigInt(size), entries.slice(0, size));
    row(`postRewardRoot (${size} participants)`, Number(posted.gasUsed), 'one root and total');
  }
  const round1 = await n.coordinator.postRewardRoot(1n, entries);
  row(`postRewardRoot (${PARTICIPANTS} participants)`, Number(round1.gasUsed), 'one root and total, independent of the count');
  // Half the roster gets a token first: a first claim by a holder creates only the claimed-rounds word.
  const holders1 = roster.slice(0, PARTICIPANTS / 2);
  await transferAll(n.coordinator, holders1, 1n);
  const firstHolder = await claimAllOf(relayer, 1n, round1.tree, holders1);
  const first = await claimAllOf(relayer, 1n, round1.tree, roster.slice(PARTICIPANTS / 2));
  row('claim (first ever, empty wallet)', first.mean, 'new claimed-rounds word and new token balance: two storage slots set from zero', { ...first });
  row('claim (first ever, token holder)', firstHolder.mean, 'new claimed-rounds word only (the recipient already held tokens)', { ...firstHolder });
  const round2 = await n.coordinator.postRewardRoot(2n, entries);
  const again = await claimAll(relayer, 2n, round2.tree);
  row('claim (returning participant)', again.mean, 'recipient holds tokens and claimed an earlier round', { ...again });

  // claimMany: rounds 20 to 29 of 1,000-participant trees (10-deep proofs), in the same claimed-rounds
  // word as rounds 1 and 2, each participant's rounds in one transaction. Newcomers (empty wallets,
  // never claimed) take the places of 20 participants in rounds 30 to 39.
  const CLAIMED_ROUNDS = 10;
  const postRounds = async (first: number, list: typeof entries): Promise<{ round: bigint; tree: RewardTree }[]> => {
    const out: { round: bigint; tree: RewardTree }[] = [];
    for (let r = first; r < first + CLAIMED_ROUNDS; r++) out.push({ round: BigInt(r), tree: (await n.coordinator.postRewardRoot(BigInt(r), list)).tree });
    return out;
  };
  const returning = await postRounds(20, entries);
  const one = await claimManyAll(relayer, roster.slice(200, 220), returning.slice(0, 1));
  const many = await claimManyAll(relayer, roster.slice(100, 120), returning);
  const newcomers = participants(20, 'newcomer');
  const manyNew = await claimManyAll(relayer, newcomers, await postRounds(30, [...newcomers.map((account) => ({ account, amount: nxs(1) })), ...entries.slice(20)]));
  const gasPerRound = (x: Stats): number => Math.round(x.mean / CLAIMED_ROUNDS);
  row('claimMany (1 round, returning)', one.mean, 'one round through claimMany, to compare with claim', { ...one });
  row(`claimMany (${CLAIMED_ROUNDS} rounds, returning)`, many.mean, `${k(gasPerRound(many))} gas per round claimed`, { ...many, perRound: gasPerRound(many) });
  row(`claimMany (${CLAIMED_ROUNDS} rounds, first ever, empty wallet)`, manyNew.mean, `${k(gasPerRound(manyNew))} gas per round claimed`, { ...manyNew, perRound: gasPerRound(manyNew) });

  const fresh = await transferAll(n.coordinator, participants(PARTICIPANTS, 'transfer-recipient'), nxs(1));
  row('transfer (fresh recipient)', fresh.mean, 'ERC-20 transfer to an address with no tokens', { ...fresh });
  const holders = await transferAll(n.coordinator, roster, nxs(1));
  row('transfer (existing holder)', holders.mean, 'ERC-20 transfer to an address holding tokens', { ...holders });

  const perRound = [
    { scheme: 'Merkle distributor, first round', coordinator: Number(round1.gasUsed), participants: first.total + firstHolder.total },
    { scheme: 'Merkle distributor, later rounds', coordinator: Number(round2.gasUsed), participants: again.total },
    { scheme: '1000 transfers, fresh recipients', coordinator: fresh.total, participants: 0 },
    { scheme: '1000 transfers, existing holders', coordinator: holders.total, participants: 0 },
  ];
  for (const p of perRound) rows.push({ operation: `pay ${PARTICIPANTS} participants: ${p.scheme}`, coordinatorGas: p.coordinator, participantGas: p.participants, totalGas: p.coordinator + p.participants });

  const single = rows.filter((r) => typeof r.gas === 'number');
  const width = Math.max(...single.map((r) => String(r.operation).length));
  const lines = [
    'gas per transaction (in-process EVM, Prague rules; claims submitted for the participants, which costs what their own claim would):',
    `${'operation'.padEnd(width)}       gas  note`,
    ...single.map((r) => `${String(r.operation).padEnd(width)}  ${k(r.gas as number).padStart(8)}  ${String(r.note)}${r.min !== undefined ? ` (min ${k(r.min as number)}, max ${k(r.max as number)})` : ''}`),
    '',
    `paying ${PARTICIPANTS} participants in one round (in the first, half of them already held a token):`,
    'scheme                              coordinator gas  participants gas     total gas',
    ...perRound.map((p) => `${p.scheme.padEnd(34)}  ${k(p.coordinator).padStart(15)}  ${k(p.participants).padStart(16)}  ${k(p.coordinator + p.participants).padStart(12)}`),
    '',
    `targets: posting a root < 100,000 gas (${k(Number(round1.gasUsed))} for ${PARTICIPANTS}); a claim < 80,000 gas: returning ${k(again.mean)} (met);`,
    `  a first-ever single-round claim is not: ${k(firstHolder.mean)} by a token holder, ${k(first.mean)} from an empty wallet. Each storage slot set from zero costs`,
    `  22,100 gas (EIP-2200 set + EIP-2929 cold access) against 5,000 for rewriting a non-zero one: the claimed-rounds word (once per account and 256 rounds)`,
    `  and, for an empty wallet, the token balance. A first-timer claiming ${CLAIMED_ROUNDS} rounds at once pays ${k(gasPerRound(manyNew))} per round (claimMany), a returning one ${k(gasPerRound(many))}.`,
  ];
  return {
    name: 'chain',
    description: 'token economy gas: stake, vote, reward root posting, Merkle claims against ERC-20 transfers for 1,000 participants',
    rows,
    table: lines.join('\n'),
  };
}
