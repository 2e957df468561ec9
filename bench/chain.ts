import { keccak256, toHex, getAddress, type Address } from 'viem';
import { nxs, startEmbeddedNexus, type NexusClient, type RewardTree } from '../src/chain/index.js';
import type { BenchResult } from './run.js';

const PARTICIPANTS = 1_000;

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
  const gas: bigint[] = [];
  for (const { account } of tree.entries) gas.push((await submitter.claimFromTree(round, tree, account)).gasUsed);
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
  const first = await claimAll(relayer, 1n, round1.tree);
  row('claim (first ever)', first.mean, 'recipient had no tokens and no claimed-rounds word', { ...first });
  const round2 = await n.coordinator.postRewardRoot(2n, entries);
  const again = await claimAll(relayer, 2n, round2.tree);
  row('claim (returning participant)', again.mean, 'recipient holds tokens and claimed an earlier round', { ...again });

  const fresh = await transferAll(n.coordinator, participants(PARTICIPANTS, 'transfer-recipient'), nxs(1));
  row('transfer (fresh recipient)', fresh.mean, 'ERC-20 transfer to an address with no tokens', { ...fresh });
  const holders = await transferAll(n.coordinator, roster, nxs(1));
  row('transfer (existing holder)', holders.mean, 'ERC-20 transfer to an address holding tokens', { ...holders });

  const perRound = [
    { scheme: 'Merkle distributor, first round', coordinator: Number(round1.gasUsed), participants: first.total },
    { scheme: 'Merkle distributor, later rounds', coordinator: Number(round2.gasUsed), participants: again.total },
    { scheme: '1000 transfers, fresh recipients', coordinator: fresh.total, participants: 0 },
    { scheme: '1000 transfers, existing holders', coordinator: holders.total, participants: 0 },
  ];
  for (const p of perRound) rows.push({ operation: `pay ${PARTICIPANTS} participants: ${p.scheme}`, coordinatorGas: p.coordinator, participantGas: p.participants, totalGas: p.coordinator + p.participants });

  const k = (g: number): string => g.toLocaleString('en-US');
  const single = rows.filter((r) => typeof r.gas === 'number');
  const lines = [
    'gas per transaction (in-process EVM, Prague rules; claims submitted for the participants, which costs what their own claim would):',
    'operation                                gas      note',
    ...single.map((r) => `${String(r.operation).padEnd(38)}  ${k(r.gas as number).padStart(8)}  ${String(r.note)}${r.min !== undefined ? ` (min ${k(r.min as number)}, max ${k(r.max as number)})` : ''}`),
    '',
    `paying ${PARTICIPANTS} participants in one round:`,
    'scheme                              coordinator gas  participants gas     total gas',
    ...perRound.map((p) => `${p.scheme.padEnd(34)}  ${k(p.coordinator).padStart(15)}  ${k(p.participants).padStart(16)}  ${k(p.coordinator + p.participants).padStart(12)}`),
    '',
    `targets: posting a root < 100,000 gas (${k(Number(round1.gasUsed))} for ${PARTICIPANTS}); a claim < 80,000 gas (returning ${k(again.mean)}, first ever ${k(first.mean)})`,
  ];
  return {
    name: 'chain',
    description: 'token economy gas: stake, vote, reward root posting, Merkle claims against ERC-20 transfers for 1,000 participants',
    rows,
    table: lines.join('\n'),
  };
}
