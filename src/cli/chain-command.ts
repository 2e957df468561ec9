import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { InvalidInputError } from '../core/errors.js';
import type { Address, Hex } from 'viem';
import type { ChainClient, ParameterName, RewardTreeDump, TxResult, VoteSupport } from '../chain/index.js';
import { printJson } from './output.js';

// viem and the contract artefacts take a good part of a second to load; commands that do not touch
// the chain (dp, budget, help) should not pay for them, so values are imported when an action runs.
const loadChain = (): Promise<typeof import('../chain/index.js')> => import('../chain/index.js');

/** Parameters given in NXS on the command line (converted to base units); the others are plain integers. */
const TOKEN_PARAMETERS: readonly ParameterName[] = ['rewardPerRound', 'minimumStake', 'maxRewardPerEpoch'];
const DECIMALS = 18;

/** Base units as NXS, every significant decimal kept. */
export function fmt(units: bigint): string {
  const scale = 10n ** BigInt(DECIMALS);
  const fraction = (units % scale).toString().padStart(DECIMALS, '0').replace(/0+$/, '');
  return `${units / scale}${fraction ? `.${fraction}` : ''} NXS`;
}
/** A value with its bigints as decimal strings, ready for JSON. */
export const jsonSafe = (value: unknown): unknown => JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));

/** An amount of NXS given on the command line, in base units; more than 0. */
export function amountArg(what: string, value: string): bigint {
  const match = /^(\d+)(?:\.(\d{1,18}))?$/.exec(value.trim());
  if (!match) throw new InvalidInputError('CLI_BAD_AMOUNT', `${what} must be a number of NXS like 12 or 0.5, got '${value}'`);
  const units = BigInt(match[1]) * 10n ** BigInt(DECIMALS) + BigInt((match[2] ?? '').padEnd(DECIMALS, '0'));
  if (units === 0n) throw new InvalidInputError('CLI_BAD_AMOUNT', `${what} must be more than 0, got '${value}'`);
  return units;
}

/** Checks the form here; the chain client checks the checksum of a mixed-case address. */
export function addressArg(what: string, value: string): Address {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) throw new InvalidInputError('CLI_BAD_ADDRESS', `${what} must be a 0x-prefixed 20-byte address, got '${value}'`);
  return value as Address;
}

/** A non-negative integer given on the command line. */
export function integerArg(what: string, value: string): bigint {
  if (!/^\d+$/.test(value.trim())) throw new InvalidInputError('CLI_BAD_INTEGER', `${what} must be a non-negative integer, got '${value}'`);
  return BigInt(value.trim());
}

/** A slash's id: the 32-byte evidence hash the coordinator proposed it with. */
function evidenceArg(what: string, value: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new InvalidInputError('CLI_BAD_EVIDENCE', `${what} must be the slash's 32-byte 0x evidence hash (cipher-nexus slash show ACCOUNT prints it), got '${value}'`);
  return value as Hex;
}

const isoTime = (unixSeconds: bigint): string => new Date(Number(unixSeconds) * 1000).toISOString();

/** One line that says what a transaction did, with its hash and gas. */
export function txLine(what: string, tx: TxResult): string {
  return `${what} (tx ${tx.hash}, ${tx.gasUsed} gas)\n`;
}

/** `name=value` of `gov propose --set`: the parameter and its value in base units. */
function parameterChange(spec: string, known: readonly ParameterName[]): { name: ParameterName; value: bigint } {
  const [name, raw, ...rest] = spec.split('=');
  if (raw === undefined || rest.length > 0) throw new InvalidInputError('CLI_BAD_PARAMETER', `--set takes NAME=VALUE, got '${spec}'`);
  if (!(known as string[]).includes(name)) {
    throw new InvalidInputError('CLI_BAD_PARAMETER', `unknown parameter '${name}'; one of ${known.join(', ')}`);
  }
  const parameter = name as ParameterName;
  return { name: parameter, value: TOKEN_PARAMETERS.includes(parameter) ? amountArg(`--set ${name}`, raw) : integerArg(`--set ${name}`, raw) };
}

function readTree(path: string): RewardTreeDump {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InvalidInputError('CLI_TREE_UNREADABLE', `cannot read the reward tree file '${path}'`);
  }
  try {
    return JSON.parse(text) as RewardTreeDump;
  } catch {
    throw new InvalidInputError('CLI_TREE_UNREADABLE', `'${path}' is not JSON; give the tree the coordinator published for the round`);
  }
}

/**
 * Adds `token balance|transfer|delegate`, `stake`, `unstake`, `rewards claim`, `slash
 * show|contest|finalize` and `gov propose|vote|queue|execute|fast-forward|status` to the program; `open` gives the chain client (its
 * signer is the acting account) each command uses.
 */
export function registerChainCommands(program: Command, open: () => Promise<ChainClient>): void {
  const token = program.command('token').description('the NXS token: balances and transfers');
  token
    .command('balance')
    .description("an account's NXS balance and stake (the signer's unless given)")
    .argument('[account]', 'address')
    .option('--json', 'print JSON')
    .action(async (account: string | undefined, opts: { json?: boolean }) => {
      const who = account === undefined ? undefined : addressArg('the account', account);
      const client = await open();
      const address = who ?? client.account;
      const balance = await client.balanceOf(address);
      const stake = await client.stakeOf(address);
      if (opts.json) return printJson(jsonSafe({ account: address, balance, stake }));
      process.stdout.write(`${address}: ${fmt(balance)}; staked ${fmt(stake.active)}${stake.pending > 0n ? `, ${fmt(stake.pending)} cooling down` : ''}\n`);
    });
  token
    .command('transfer')
    .description('send NXS from the signer')
    .argument('<to>', 'recipient address')
    .argument('<amount>', 'NXS, e.g. 12.5')
    .action(async (to: string, amount: string) => {
      const recipient = addressArg('the recipient', to);
      const units = amountArg('the amount', amount);
      const tx = await (await open()).transfer(recipient, units);
      process.stdout.write(txLine(`sent ${fmt(units)} to ${recipient}`, tx));
    });

  token
    .command('delegate')
    .description('give your voting power to an account (yourself unless given); tokens vote only once delegated')
    .argument('[delegatee]', 'address')
    .action(async (delegatee: string | undefined) => {
      const to = delegatee === undefined ? undefined : addressArg('the delegatee', delegatee);
      const client = await open();
      const tx = await client.delegate(to);
      process.stdout.write(txLine(`votes of ${client.account} delegated to ${to ?? 'itself'}; ${fmt(await client.votesOf(to ?? client.account))} of votes there now`, tx));
    });

  program
    .command('stake')
    .description('stake NXS to become eligible for training and data sales')
    .argument('<amount>', 'NXS, e.g. 100')
    .action(async (amount: string) => {
      const units = amountArg('the stake', amount);
      const client = await open();
      const tx = await client.stake(units);
      const eligible = await client.isEligible(client.account);
      process.stdout.write(txLine(`staked ${fmt(units)}; ${eligible ? 'eligible' : 'not yet eligible (below the minimum stake)'}`, tx));
    });
  program
    .command('unstake')
    .description('start the cool-down of staked NXS, or withdraw what finished it')
    .argument('[amount]', 'NXS to start cooling down')
    .option('--withdraw', 'withdraw the stake whose cool-down has ended')
    .action(async (amount: string | undefined, opts: { withdraw?: boolean }) => {
      if ((amount === undefined) === !opts.withdraw) throw new InvalidInputError('CLI_UNSTAKE_USAGE', 'give an amount to start the cool-down, or --withdraw to collect, not both');
      if (opts.withdraw) {
        const client = await open();
        const { pending } = await client.stakeOf();
        const tx = await client.withdraw();
        process.stdout.write(txLine(`withdrew ${fmt(pending)}`, tx));
        return;
      }
      const units = amountArg('the amount', amount as string);
      const client = await open();
      const tx = await client.requestUnstake(units);
      const { readyAt } = await client.stakeOf();
      process.stdout.write(txLine(`${fmt(units)} cooling down until ${new Date(Number(readyAt) * 1000).toISOString()}`, tx));
    });

  const rewards = program.command('rewards').description('training rewards paid by Merkle proof');
  rewards
    .command('claim')
    .description("claim a round's reward with the tree the coordinator published, or an explicit amount and proof")
    .requiredOption('--round <n>', 'round number')
    .option('--tree <file>', 'the round tree JSON (StandardMerkleTree dump)')
    .option('--amount <nxs>', 'amount in the leaf in NXS (up to 18 decimals), with --proof')
    .option('--proof <hashes>', 'comma-separated 0x hashes, with --amount')
    .option('--account <address>', 'whose reward (the signer unless given; the tokens go to that account)')
    .action(async (opts: { round: string; tree?: string; amount?: string; proof?: string; account?: string }) => {
      const round = integerArg('--round', opts.round);
      const account = opts.account === undefined ? undefined : addressArg('--account', opts.account);
      if ((opts.tree === undefined) === (opts.amount === undefined)) throw new InvalidInputError('CLI_CLAIM_USAGE', 'give --tree FILE, or --amount and --proof');
      if (opts.tree !== undefined) {
        const dump = readTree(opts.tree);
        const tx = await (await open()).claimFromTree(round, dump, account);
        process.stdout.write(txLine(`claimed round ${round}`, tx));
        return;
      }
      const units = amountArg('--amount', opts.amount as string);
      const proof = (opts.proof ?? '').split(',').filter((p) => p !== '');
      if (!proof.every((p) => /^0x[0-9a-fA-F]{64}$/.test(p))) throw new InvalidInputError('CLI_BAD_PROOF', '--proof must be comma-separated 32-byte 0x hashes');
      const client = await open();
      const tx = await client.claim(round, account ?? client.account, units, proof as Hex[]);
      process.stdout.write(txLine(`claimed ${fmt(units)} for round ${round}`, tx));
    });

  const slash = program.command('slash').description('slashes the coordinator proposed: each takes effect after a challenge period unless contested or cancelled');
  slash
    .command('show')
    .description("an account's open slash (the signer's unless given): amount, status, deadlines")
    .argument('[account]', 'address')
    .option('--json', 'print JSON')
    .action(async (account: string | undefined, opts: { json?: boolean }) => {
      const who = account === undefined ? undefined : addressArg('the account', account);
      const client = await open();
      const address = who ?? client.account;
      const open_ = await client.openSlashOf(address);
      if (opts.json) return printJson(jsonSafe({ account: address, open: open_ ?? null }));
      if (!open_) return void process.stdout.write(`${address}: no open slash\n`);
      const until =
        open_.status === 'Pending'
          ? `takes effect from ${isoTime(open_.challengeEndsAt)} unless contested or cancelled before`
          : `contested; lapses at ${isoTime(open_.resolveBy)} unless governance upholds it before`;
      process.stdout.write(`${address}: slash ${open_.evidence} of ${fmt(open_.amount)}, ${until}\n`);
    });
  slash
    .command('contest')
    .description('as the accused (the signer), contest your pending slash with counter-evidence before its challenge period ends')
    .argument('<evidence>', "the slash's 0x evidence hash")
    .requiredOption('--counter <text>', 'your counter-evidence: a 0x 32-byte hash, or text that is hashed (publish the full text)')
    .action(async (evidence: string, opts: { counter: string }) => {
      const id = evidenceArg('the evidence', evidence);
      if (opts.counter.trim() === '') throw new InvalidInputError('CLI_BAD_EVIDENCE', '--counter must not be empty');
      const client = await open();
      const tx = await client.contestSlash(id, opts.counter);
      const { resolveBy } = await client.slashOf(id);
      process.stdout.write(txLine(`contested ${id}; it takes effect only if governance upholds it before ${isoTime(resolveBy)}`, tx));
    });
  slash
    .command('finalize')
    .description('anyone: make a slash whose challenge period has passed take effect, or let a contested one governance did not uphold lapse')
    .argument('<evidence>', "the slash's 0x evidence hash")
    .action(async (evidence: string) => {
      const id = evidenceArg('the evidence', evidence);
      const client = await open();
      const tx = await client.finalizeSlash(id);
      const after = await client.slashOf(id);
      process.stdout.write(txLine(after.status === 'Executed' ? `slash ${id} took effect: ${fmt(after.amount)} at most to the treasury` : `slash ${id} lapsed`, tx));
    });

  const gov = program.command('gov').description('governance: proposals voted with NXS, executed by the timelock');
  gov
    .command('propose')
    .description("propose a change of a protocol parameter, or a decision on an open slash")
    .option('--set <name=value>', 'a ParameterRegistry parameter and its new value; rewardPerRound, minimumStake and maxRewardPerEpoch in NXS')
    .option('--cancel-slash <evidence>', 'cancel the open slash with this 0x evidence hash')
    .option('--uphold-slash <evidence>', 'let the open slash with this 0x evidence hash take effect')
    .option('--description <text>', 'what the proposal does and why')
    .action(async (opts: { set?: string; cancelSlash?: string; upholdSlash?: string; description?: string }) => {
      const given = [opts.set, opts.cancelSlash, opts.upholdSlash].filter((o) => o !== undefined).length;
      if (given !== 1) throw new InvalidInputError('CLI_PROPOSE_USAGE', 'give exactly one of --set NAME=VALUE, --cancel-slash EVIDENCE or --uphold-slash EVIDENCE');
      if (opts.set !== undefined) {
        const { name, value } = parameterChange(opts.set, (await loadChain()).PARAMETER_NAMES);
        const created = await (await open()).gov.proposeParameterChange(name, value, opts.description);
        return void process.stdout.write(txLine(`proposal ${created.proposalId}`, created));
      }
      const decision = opts.cancelSlash !== undefined ? 'cancel' : 'uphold';
      const id = evidenceArg(`--${decision}-slash`, (opts.cancelSlash ?? opts.upholdSlash) as string);
      const created = await (await open()).gov.proposeSlashDecision(id, decision, opts.description);
      process.stdout.write(txLine(`proposal ${created.proposalId}`, created));
    });
  gov
    .command('vote')
    .description('vote on an active proposal with your delegated votes')
    .argument('<proposal>', 'proposal id')
    .argument('<support>', 'for, against or abstain')
    .option('--reason <text>', 'recorded with the vote')
    .action(async (proposal: string, support: string, opts: { reason?: string }) => {
      const id = integerArg('the proposal id', proposal);
      if (!Object.hasOwn((await loadChain()).VOTE_SUPPORT, support)) throw new InvalidInputError('CLI_BAD_SUPPORT', `a vote is for, against or abstain, got '${support}'`);
      const tx = await (await open()).gov.castVote(id, support as VoteSupport, opts.reason);
      process.stdout.write(txLine(`voted ${support} on ${id}`, tx));
    });
  for (const [name, description] of [
    ['queue', 'queue a succeeded proposal in the timelock'],
    ['execute', 'execute a queued proposal after the timelock delay'],
  ] as const) {
    gov
      .command(name)
      .description(description)
      .argument('<proposal>', 'proposal id')
      .action(async (proposal: string) => {
        const id = integerArg('the proposal id', proposal);
        const client = await open();
        const tx = name === 'queue' ? await client.gov.queue(id) : await client.gov.execute(id);
        process.stdout.write(txLine(`${name === 'queue' ? 'queued' : 'executed'} ${id}`, tx));
      });
  }
  gov
    .command('fast-forward')
    .description("development chains only: mine blocks or move the clock to the proposal's next stage (voting opens, voting ends, the timelock ends)")
    .argument('<proposal>', 'proposal id')
    .action(async (proposal: string) => {
      const id = integerArg('the proposal id', proposal);
      const state = await (await open()).gov.fastForward(id);
      process.stdout.write(`${id}: ${state}\n`);
    });
  gov
    .command('status')
    .description("a proposal's state, votes, quorum and timing")
    .argument('<proposal>', 'proposal id')
    .option('--json', 'print JSON')
    .action(async (proposal: string, opts: { json?: boolean }) => {
      const s = await (await open()).gov.status(integerArg('the proposal id', proposal));
      if (opts.json) return printJson(jsonSafe(s));
      process.stdout.write(
        `${s.proposalId}: ${s.state} — ${s.description}\n` +
          `  for ${fmt(s.forVotes)}, against ${fmt(s.againstVotes)}, abstain ${fmt(s.abstainVotes)}; quorum ${fmt(s.quorum)}\n` +
          `  voting blocks ${s.snapshot + 1n}..${s.deadline}${s.eta > 0n ? `; executable after ${new Date(Number(s.eta) * 1000).toISOString()}` : ''}\n`,
      );
    });
}
