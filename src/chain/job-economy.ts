import { formatUnits, getAddress, zeroHash, type Address } from 'viem';
import { InvalidInputError } from '../core/errors.js';
import type {
  AdmissionRefusal,
  IncentivesSummary,
  ParticipantBalance,
  RoundContributions,
  RoundIncentives,
  RoundSettlementReport,
  TokenAmount,
} from '../fl/index.js';
import { REPUTATION_ONE, type NexusClient } from './client.js';
import type { ProtocolParameters } from './deploy.js';
import type { RewardTree } from './merkle.js';
import { settleRound } from './settlement.js';

/** Rounds per claim transaction at the end of a job, so a long job's claim stays far below a block's gas limit. */
const ROUNDS_PER_CLAIM = 100;

/** Exact base units, and NXS cut to four decimals for people (the units stay exact). */
function amount(units: bigint): TokenAmount {
  const [whole, fraction = ''] = formatUnits(units, 18).split('.');
  const shown = fraction.slice(0, 4).replace(/0+$/, '');
  return { units: units.toString(), display: `${whole}${shown ? `.${shown}` : ''} NXS` };
}

export interface JobEconomyOptions {
  /** Signs as the coordinator: posts reward roots, records reputation, proposes slashes (POSTER, UPDATER and SLASHER roles). */
  coordinator: NexusClient;
  /**
   * Each client id's chain client, signing as that participant. The simulation holds every
   * participant's key, so {@link JobEconomy.finish} claims for each of them with its own key.
   */
  participants: ReadonlyMap<string, NexusClient>;
}

/**
 * The token economy behind a federated job (the `RoundIncentives` of src/fl): stake to join,
 * reputation-weighted selection, one reward root per round, slashes and reputation penalties for
 * flagged clients, and rewards claimed at the end. Parameters are read once, when the job opens, so
 * a proposal executed during a job applies from the next job on (except that a lowered reward is
 * honoured at once: the distributor would refuse more).
 */
export class JobEconomy implements RoundIncentives {
  private readonly accounts = new Map<string, Address>();
  private readonly clientOf = new Map<Address, string>();
  private readonly trees = new Map<bigint, RewardTree>();

  private constructor(
    private readonly coordinator: NexusClient,
    private readonly participants: ReadonlyMap<string, NexusClient>,
    /** The registry's parameters when the job opened. */
    readonly parameters: ProtocolParameters,
    /** The chain round before this job's first: job round r is chain round `baseRound + r`. */
    readonly baseRound: bigint,
  ) {
    for (const [clientId, client] of participants) {
      const account = getAddress(client.account);
      this.accounts.set(clientId, account);
      this.clientOf.set(account, clientId);
    }
  }

  /** Reads the registry's parameters and the latest chain round, and registers unregistered participants' claims: the job's economy as of now. */
  static async open(options: JobEconomyOptions): Promise<JobEconomy> {
    if (options.participants.size === 0) throw new InvalidInputError('ECONOMY_NO_PARTICIPANTS', 'a job economy needs at least one participant account');
    const parameters = await options.coordinator.parameters();
    // Rounds are global on the chain; Reputation records every settled round, so it knows the last one.
    const baseRound = await options.coordinator.latestRound();
    // Staking registered each participant's claims of the 255 to 510 rounds after its stake; one
    // that has not staked since re-registers with its own key, so its claims stay under 80k gas.
    await Promise.all(
      [...options.participants.values()].map(async (client) => {
        if (!(await client.isRegisteredForRewards(client.account, baseRound + 1n))) await client.registerForRewards();
      }),
    );
    return new JobEconomy(options.coordinator, options.participants, parameters, baseRound);
  }

  /** The chain round of job round `round`. */
  chainRound(round: number): bigint {
    return this.baseRound + BigInt(round);
  }

  private account(clientId: string): Address {
    const account = this.accounts.get(clientId);
    if (!account) throw new InvalidInputError('ECONOMY_UNKNOWN_CLIENT', `client '${clientId}' has no chain account in this job's economy`);
    return account;
  }

  /** Refuses every client whose active stake is below the minimum stake the job opened with. */
  async admit(clientIds: readonly string[]): Promise<AdmissionRefusal[]> {
    const minimum = this.parameters.minimumStake;
    const stakes = await Promise.all(clientIds.map((id) => this.coordinator.stakeOf(this.account(id))));
    return clientIds.flatMap((clientId, i) => {
      const { active } = stakes[i];
      if (active >= minimum) return [];
      const reason =
        `${clientId} (${this.account(clientId)}) has ${formatUnits(active, 18)} NXS staked, below the minimum stake of ${formatUnits(minimum, 18)} NXS; ` +
        `stake ${formatUnits(minimum - active, 18)} NXS more (cipher-nexus stake) to take part`;
      return [{ clientId, code: 'NODE_STAKE_TOO_LOW', reason }];
    });
  }

  /**
   * Weight 1 + reputation in full contributions: a newcomer (no reputation) still gets picked, a
   * steady contributor up to about 1 / (1 − decay) times as often, and a penalised one falls back
   * toward a newcomer's chance; the stake and the slash, not selection, are the punishment.
   */
  async selectionWeights(clientIds: readonly string[]): Promise<Record<string, number>> {
    const scores = await this.coordinator.reputationsOf(clientIds.map((id) => this.account(id)));
    return Object.fromEntries(clientIds.map((id, i) => [id, 1 + Number(scores[i]) / Number(REPUTATION_ONE)]));
  }

  /** Posts job round `round`'s reward root, records reputation and proposes slashes of the flagged clients (see settleRound). */
  async settle(round: number, outcome: RoundContributions): Promise<RoundSettlementReport> {
    const chainRound = this.chainRound(round);
    // A lowered reward per round applies at once: the distributor checks the live value on posting.
    const live = (await this.coordinator.parameters()).rewardPerRound;
    const reward = live < this.parameters.rewardPerRound ? live : this.parameters.rewardPerRound;
    const settled = await settleRound(this.coordinator, {
      round: chainRound,
      reward,
      contributions: outcome.contributions.map((c) => ({ account: this.account(c.clientId), score: c.score })),
      flagged: outcome.flagged.map((f) => ({ account: this.account(f.clientId), evidence: f.evidence })),
    });
    if (settled.tree) this.trees.set(chainRound, settled.tree);
    const client = (account: Address): string => this.clientOf.get(getAddress(account)) as string;
    return {
      rewardRoot: settled.tree?.root ?? zeroHash,
      ledgerRound: chainRound.toString(),
      paid: amount(settled.rewards.reduce((sum, r) => sum + r.amount, 0n)),
      rewards: settled.rewards.map((r) => ({ clientId: client(r.account), amount: amount(r.amount) })),
      slashed: settled.slashes.map((s) => ({ clientId: client(s.account), amount: amount(s.amount) })),
    };
  }

  /** Each participant claims all its rounds of this job with its own key (claimMany), then every balance is read. */
  async finish(): Promise<IncentivesSummary> {
    const balances = await Promise.all(
      [...this.participants].map(async ([clientId, client]): Promise<ParticipantBalance> => {
        const mine = [...this.trees].filter(([, tree]) => tree.proofOf(client.account) !== undefined);
        let earned = 0n;
        for (let i = 0; i < mine.length; i += ROUNDS_PER_CLAIM) {
          const batch = mine.slice(i, i + ROUNDS_PER_CLAIM);
          await client.claimMany(batch.map(([round, tree]) => ({ round, tree })));
          earned += batch.reduce((sum, [, tree]) => sum + (tree.proofOf(client.account)?.amount ?? 0n), 0n);
        }
        return { clientId, account: client.account, earned: amount(earned), balance: amount(await client.balanceOf()) };
      }),
    );
    const chain = this.coordinator.conn.chain;
    const network = this.coordinator.conn.kind === 'embedded' ? `in-process EVM, chain ${chain.id}` : `${chain.rpcUrls.default.http[0]}, chain ${chain.id}`;
    return { network, rewardPerRound: amount(this.parameters.rewardPerRound), minimumStake: amount(this.parameters.minimumStake), balances };
  }
}
