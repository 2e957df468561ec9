import { z } from 'zod';
import { CipherNexusError, type PrivacyScope, type Storage } from '../core/index.js';
import { PrivacyLedger, RdpAccountant, SecureNoiseSource, SeededNoiseSource, epsilonOfEvents, type Conversion, type NoiseSource, type PrivacyEvent } from '../privacy/dp/index.js';

/**
 * A job's differential-privacy plan. One of three places for the noise:
 * - `sample`: DP-SGD inside each client's local training (Abadi et al. 2016) — protects each example;
 * - `client`: DP-FedAvg on the server (McMahan et al. 2018) — protects each participant's whole data;
 * - `local`: each client clips and noises its own update before it leaves the node — protects each
 *   participant's data without trusting the coordinator.
 */
export const DpConfigSchema = z
  .object({
    mode: z.enum(['sample', 'client', 'local']),
    noiseMultiplier: z.number().positive().max(1000),
    /** L2 clip: of each example's gradient (sample) or of each client's model delta (client, local). */
    clipNorm: z.number().positive(),
    delta: z.number().gt(0).lt(1).default(1e-5),
    /** The most epsilon this job may spend; also the ledger budget of any scope that has none yet. */
    budget: z.object({ epsilon: z.number().positive() }).strict(),
    /** Poisson sampling rate of DP-SGD; default: batch size / the client's examples. */
    samplingRate: z.number().gt(0).max(1).optional(),
    conversion: z.enum(['classic', 'improved']).default('improved'),
    /**
     * Fixed-point step of every noised release (rounded down to a power of two): values are rounded
     * to it and exact discrete Gaussian noise is added in whole steps. Default: 1% of the clip norm
     * over sqrt(model parameters), so rounding adds at most 1% to the noise.
     */
    gridStep: z.number().positive().finite().optional(),
    /** `seeded-insecure` replays a job bit for bit but anyone with the seed can remove the noise: tests only. */
    noise: z.enum(['secure', 'seeded-insecure']).default('secure'),
    /** Ledger name of the data set; default: the training file's name and content hash. */
    dataset: z.string().min(1).optional(),
  })
  .strict();

export type DpConfig = z.output<typeof DpConfigSchema>;

/** The noise a DP plan asks for: crypto noise, or (tests only) a stream replayed from `seed`. */
export function noiseSourceFor(noise: DpConfig['noise'], seed: number): NoiseSource {
  return noise === 'seeded-insecure' ? new SeededNoiseSource(seed ^ 0x5eed) : new SecureNoiseSource();
}

/** What a client must do for DP in one round (sample-level and local modes). */
export interface ClientPrivacy {
  mode: 'sample' | 'local';
  clipNorm: number;
  noiseMultiplier: number;
  noise: 'secure' | 'seeded-insecure';
  /** Fixed-point step of the exact noise; absent: the default for the clip norm and model size. */
  gridStep?: number;
  /** DP-SGD only: Poisson rate and number of steps, fixed by the coordinator so the accounting matches. */
  samplingRate?: number;
  steps?: number;
}

/** The privacy cost of one round: events per participant and for the data set as a whole. */
export interface RoundPrivacyCost {
  participants: Map<string, PrivacyEvent[]>;
  dataset: PrivacyEvent[];
  clientPlans: Map<string, ClientPrivacy>;
}

/** DP-SGD's Poisson rate and step count for a client with `numExamples` examples. */
export function dpSgdSchedule(dp: DpConfig, numExamples: number, training: { epochs: number; batchSize: number }): { samplingRate: number; steps: number } {
  const samplingRate = dp.samplingRate ?? Math.min(1, training.batchSize / numExamples);
  return { samplingRate, steps: training.epochs * Math.max(1, Math.round(1 / samplingRate)) };
}

/**
 * The accountant events one round costs; every release is the exact discrete Gaussian on a grid.
 * Sample-level: each selected client runs the subsampled discrete Gaussian for its own steps; the partitions are disjoint, so the data set pays the worst client's
 * cost (parallel composition). Client-level: every participant of the federation is sampled with
 * rate m / N and the server releases one Gaussian sum (McMahan et al. 2018 §3); the accountant
 * assumes Poisson sampling while selection draws a fixed m, as in that paper. Local: each selected
 * client releases its clipped delta once through the Gaussian mechanism (sensitivity = clip norm
 * under add/remove of the client's data).
 */
export function roundPrivacyCost(
  dp: DpConfig,
  context: { selected: readonly string[]; federation: ReadonlyMap<string, number>; training: { epochs: number; batchSize: number } },
): RoundPrivacyCost {
  const participants = new Map<string, PrivacyEvent[]>();
  const clientPlans = new Map<string, ClientPrivacy>();
  const base = { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise: dp.noise, ...(dp.gridStep === undefined ? {} : { gridStep: dp.gridStep }) };
  if (dp.mode === 'client') {
    const event: PrivacyEvent = {
      kind: 'sampled-discrete-gaussian',
      samplingRate: context.selected.length / context.federation.size,
      noiseMultiplier: dp.noiseMultiplier,
      steps: 1,
    };
    for (const id of context.federation.keys()) participants.set(id, [event]);
    return { participants, dataset: [event], clientPlans };
  }
  let worst: { events: PrivacyEvent[]; epsilon: number } | undefined;
  for (const id of context.selected) {
    let events: PrivacyEvent[];
    let epsilon: number;
    if (dp.mode === 'sample') {
      const schedule = dpSgdSchedule(dp, context.federation.get(id) ?? 0, context.training);
      events = [{ kind: 'sampled-discrete-gaussian', noiseMultiplier: dp.noiseMultiplier, ...schedule }];
      epsilon = epsilonOfEvents(events, dp.delta, dp.conversion).epsilon;
      clientPlans.set(id, { mode: 'sample', ...base, ...schedule });
    } else {
      events = [{ kind: 'gaussian', noiseMultiplier: dp.noiseMultiplier, steps: 1 }];
      epsilon = epsilonOfEvents(events, dp.delta, dp.conversion).epsilon;
      clientPlans.set(id, { mode: 'local', ...base });
    }
    participants.set(id, events);
    if (!worst || epsilon > worst.epsilon) worst = { events, epsilon };
  }
  return { participants, dataset: worst?.events ?? [], clientPlans };
}

/** The job's own running epsilon: the data set's events composed in RDP, converted once. */
export class JobPrivacyAccount {
  private readonly events: PrivacyEvent[] = [];

  constructor(
    private readonly delta: number,
    private readonly conversion: Conversion,
  ) {}

  /** Epsilon after composing `events` on top of what was spent, without recording them. */
  preview(events: readonly PrivacyEvent[]): number {
    const accountant = new RdpAccountant();
    for (const e of [...this.events, ...events]) accountant.compose(e);
    return this.events.length + events.length === 0 ? 0 : accountant.getEpsilon(this.delta, { conversion: this.conversion }).epsilon;
  }

  /** Records the events and returns the epsilon spent so far. */
  record(events: readonly PrivacyEvent[]): number {
    this.events.push(...events);
    return this.preview([]);
  }
}

/** A round the job's own declared budget cannot pay for. */
export class JobBudgetExceededError extends CipherNexusError {}

/** What charging a round cost. */
export interface RoundCharge {
  cost: RoundPrivacyCost;
  /** The job's epsilon after this round. */
  epsilon: number;
  /** What this round added to the job's epsilon. */
  epsilonRound: number;
}

/**
 * The privacy side of a running job: it charges each round to the job's own budget and to the
 * persistent ledger (the data set and each participant) BEFORE the round runs, so a round that
 * would overspend never touches data, and a crash after the charge can only over-count, never hide
 * a release.
 */
export class JobPrivacy {
  private readonly account: JobPrivacyAccount;

  private constructor(
    private readonly storage: Storage,
    private readonly dp: DpConfig,
    private readonly ledger: PrivacyLedger,
    private readonly context: { jobId: string; datasetId: string; federation: ReadonlyMap<string, number>; training: { epochs: number; batchSize: number } },
  ) {
    this.account = new JobPrivacyAccount(dp.delta, dp.conversion);
  }

  /** Opens the job's privacy account; scopes without a ledger budget get the job's declared one. */
  static async open(storage: Storage, dp: DpConfig, context: JobPrivacy['context']): Promise<JobPrivacy> {
    const ledger = new PrivacyLedger(storage, { conversion: dp.conversion });
    const privacy = new JobPrivacy(storage, dp, ledger, context);
    await storage.transaction(async () => {
      for (const scope of [privacy.datasetScope(), ...[...context.federation.keys()].map((id) => privacy.participantScope(id))]) {
        if (!(await storage.privacy.getBudget(scope))) await ledger.setBudget(scope, { epsilon: dp.budget.epsilon, delta: dp.delta });
      }
    });
    return privacy;
  }

  /** A participant that joined after the job opened: its scope gets the job's declared budget if it has none. */
  async admit(clientId: string): Promise<void> {
    const scope = this.participantScope(clientId);
    if (!(await this.storage.privacy.getBudget(scope))) await this.ledger.setBudget(scope, { epsilon: this.dp.budget.epsilon, delta: this.dp.delta });
  }

  /** Continues the job's own account from the ledger's record of the rounds this job was charged for (a coordinator took it over). */
  async resume(): Promise<void> {
    const events = (await this.ledger.history(this.datasetScope())).filter((entry) => entry.jobId === this.context.jobId).flatMap((entry) => entry.events);
    if (events.length > 0) this.account.record(events);
  }

  /** The ledger scope of the job's data set. */
  datasetScope(): PrivacyScope {
    return { kind: 'dataset', id: this.context.datasetId };
  }

  /** The ledger scope of one participant's data (its share of this data set). */
  participantScope(clientId: string): PrivacyScope {
    return { kind: 'participant', id: `${this.context.datasetId}/${clientId}` };
  }

  /** Charges round `round` for the selected clients, or throws (nothing charged) when a budget would be exceeded. */
  async chargeRound(round: number, selected: readonly string[]): Promise<RoundCharge> {
    const cost = roundPrivacyCost(this.dp, { selected, federation: this.context.federation, training: this.context.training });
    const before = this.account.preview([]);
    const after = this.account.preview(cost.dataset);
    if (after > this.dp.budget.epsilon) {
      throw new JobBudgetExceededError(
        'DP_BUDGET_EXCEEDED',
        `round ${round} refused: the job's budget is epsilon ${this.dp.budget.epsilon} at delta ${this.dp.delta}, ` +
          `${before.toFixed(4)} is spent and this round would bring it to ${after.toFixed(4)}; ` +
          'raise privacy.dp.budget.epsilon, add noise or run fewer rounds',
        { round, budget: this.dp.budget.epsilon, spent: before, asked: after },
      );
    }
    await this.ledger.charge({
      jobId: this.context.jobId,
      round,
      charges: [
        { scope: this.datasetScope(), events: cost.dataset },
        ...[...cost.participants].map(([id, events]) => ({ scope: this.participantScope(id), events })),
      ],
    });
    this.account.record(cost.dataset);
    return { cost, epsilon: after, epsilonRound: after - before };
  }

  /** The job's epsilon so far. */
  spent(): number {
    return this.account.preview([]);
  }
}
