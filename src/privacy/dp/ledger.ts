import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  InvalidInputError,
  NotFoundError,
  StateError,
  parseWithSchema,
  type PrivacyBudgetRecord,
  type PrivacyChargeRecord,
  type PrivacyScope,
  type Storage,
} from '../../core/index.js';
import { DEFAULT_CONVERSION, RdpAccountant, epsilonFromRdp, epsilonOfEvents, type Conversion, type EpsilonResult, type PrivacyEvent } from './accountant.js';

/**
 * The persistent privacy budget ledger: per data set and per participant, a budget (epsilon, delta)
 * and every charge made against it. Charges are kept as per-order Renyi DP and composed by adding
 * them order by order (Mironov 2017 Prop. 1), then converted to (epsilon, delta) once; summing
 * per-round epsilons would overstate the spend by a factor that grows with the number of rounds.
 * Unless the ledger is given orders, the conversion searches every order up to MAX_ORDER, recomposing
 * the recorded events, so a scope is charged at the order that is best for its whole history.
 */

export type { PrivacyScope, PrivacyScopeKind } from '../../core/index.js';

/** The (epsilon, delta) a scope may spend over its lifetime. */
export interface PrivacyBudget {
  epsilon: number;
  delta: number;
}

/** The events one round releases about one scope. */
export interface ScopeEvents {
  scope: PrivacyScope;
  events: PrivacyEvent[];
}

/** Parameters of `PrivacyLedger.charge`. */
export interface ChargeParameters {
  jobId: string;
  round: number;
  /** A scope named twice has its events composed into one charge. */
  charges: ScopeEvents[];
}

/** What a scope has spent, at its budget's delta. */
export interface PrivacySpent {
  scope: PrivacyScope;
  epsilon: number;
  delta: number;
  /** The RDP order at which the conversion was tightest. */
  order: number;
  budget: PrivacyBudget;
  /** Number of charges recorded against the scope. */
  charges: number;
}

/** Where a round would leave one scope. */
export interface ChargePreview {
  scope: PrivacyScope;
  budget: PrivacyBudget;
  /** Epsilon spent before the round. */
  spentEpsilon: number;
  /** Epsilon of the round's events on their own. */
  roundEpsilon: number;
  /** Epsilon after the round, composed with everything spent before. */
  epsilonAfter: number;
  withinBudget: boolean;
}

/** A charge the ledger recorded. */
export interface ChargeReceipt {
  id: string;
  scope: PrivacyScope;
  budget: PrivacyBudget;
  spentEpsilon: number;
  epsilonAfter: number;
}

/** One recorded charge, as `history` lists it. */
export interface LedgerEntry {
  id: string;
  jobId: string;
  round: number;
  events: PrivacyEvent[];
  /** The scope's total epsilon right after this charge, at `delta` under `conversion`. */
  epsilonAfter: number;
  delta: number;
  conversion: string;
  createdAt: number;
}

/** Options of `PrivacyLedger`. */
export interface PrivacyLedgerOptions {
  /** RDP to (epsilon, delta) conversion; defaults to 'improved' (Balle et al. 2020 Thm 21). */
  conversion?: Conversion;
  /** Convert only at these orders (and record charges at them); by default every order up to MAX_ORDER is searched and charges record TF Privacy's orders. */
  orders?: readonly number[];
  /** Clock for `createdAt` / `updatedAt`, in ms; defaults to Date.now. */
  now?: () => number;
}

/** One scope a refused round would have taken over its budget. */
export interface BudgetOverrun {
  scope: PrivacyScope;
  budget: PrivacyBudget;
  spentEpsilon: number;
  roundEpsilon: number;
  epsilonAfter: number;
}

const label = (scope: PrivacyScope): string => `${scope.kind} '${scope.id}'`;
const setCommand = (scope: PrivacyScope): string => `cipher-nexus budget set --${scope.kind} ${scope.id} --epsilon E --delta D`;
const fmt = (value: number): string => (Number.isFinite(value) ? String(Number(value.toPrecision(4))) : String(value));

/** A round would take one or more scopes over their budget; nothing was charged. */
export class DpBudgetExceededError extends StateError {
  constructor(jobId: string, round: number, overruns: readonly BudgetOverrun[]) {
    const what = overruns
      .map(
        (o) =>
          `${label(o.scope)} would reach epsilon ${fmt(o.epsilonAfter)} but its budget is epsilon ${fmt(o.budget.epsilon)} at delta ${o.budget.delta} ` +
          `(already spent ${fmt(o.spentEpsilon)}, this round alone ${fmt(o.roundEpsilon)})`,
      )
      .join('; ');
    super(
      'DP_BUDGET_EXCEEDED',
      `round ${round} of job '${jobId}' was refused and nothing was charged: ${what}. ` +
        `Raise the budget (${setCommand(overruns[0].scope)}), add more noise (a larger noise multiplier), or run fewer rounds or steps`,
      { jobId, round, overruns },
    );
  }
}

/** A scope has no budget, so it has nothing to show. */
export class DpBudgetNotFoundError extends NotFoundError {
  constructor(scope: PrivacyScope) {
    super('dp_budget', `${scope.kind}:${scope.id}`);
    // NotFoundError's generic wording would not say how to create a budget.
    this.message = `${label(scope)} has no privacy budget; \`cipher-nexus budget show\` lists the scopes that have one, \`${setCommand(scope)}\` sets one`;
  }
}

const ScopeSchema = z.object({ kind: z.enum(['dataset', 'participant']), id: z.string().min(1) }).strict();
const BudgetSchema = z.object({ epsilon: z.number().gt(0).finite(), delta: z.number().gt(0).lt(1) }).strict();
// Only the shape is checked here; RdpAccountant.compose validates each event in full.
const EventShape = z.custom<PrivacyEvent>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'expected a privacy event object');
const ScopeEventsSchema = z.object({ scope: ScopeSchema, events: z.array(EventShape).min(1) }).strict();
const ChargeSchema = z
  .object({ jobId: z.string().min(1), round: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), charges: z.array(ScopeEventsSchema) })
  .strict();

const scopeKey = (scope: PrivacyScope): string => `${scope.kind}\u0000${scope.id}`;

/** RDP per order; a Map so that curves recorded at different orders can be aligned. */
type RdpCurve = Map<number, number>;

/**
 * Sum of the charges' RDP, order by order (Mironov 2017 Prop. 1: RDP at a fixed order composes by
 * addition). Only orders every charge was recorded at are kept, since a bound at an order some
 * charge lacks would be unsound.
 */
function compose(orders: readonly number[], charges: readonly PrivacyChargeRecord[]): RdpCurve {
  const total: RdpCurve = new Map(orders.map((order) => [order, 0]));
  for (const charge of charges) {
    const own = new Map(charge.orders.map((order, k) => [order, charge.rdp[k]]));
    for (const [order, sum] of total) {
      const value = own.get(order);
      if (value === undefined) total.delete(order);
      else total.set(order, sum + value);
    }
  }
  return total;
}

/** Keeps a persistent (epsilon, delta) budget per data set and participant and refuses rounds that would overspend it. */
export class PrivacyLedger {
  readonly conversion: Conversion;
  readonly orders: readonly number[];
  private readonly fixedOrders: boolean;
  private readonly storage: Storage;
  private readonly now: () => number;

  /** A ledger over `storage`; nothing is read until a method is called. */
  constructor(storage: Storage, options: PrivacyLedgerOptions = {}) {
    this.storage = storage;
    this.conversion = parseWithSchema(options.conversion ?? DEFAULT_CONVERSION, z.enum(['classic', 'improved']), 'conversion', { code: 'DP_INPUT_INVALID' });
    // RdpAccountant validates the orders (each > 1, at least one).
    this.orders = new RdpAccountant(options.orders).orders;
    this.fixedOrders = options.orders !== undefined;
    this.now = options.now ?? Date.now;
  }

  /** Sets a scope's budget; refuses a budget below what the scope has already spent (DP_BUDGET_BELOW_SPENT). */
  async setBudget(scope: PrivacyScope, budget: PrivacyBudget): Promise<PrivacyBudgetRecord> {
    const target = parseWithSchema(scope, ScopeSchema, 'privacy scope', { code: 'DP_BUDGET_INVALID' });
    const limit = parseWithSchema(budget, BudgetSchema, 'privacy budget', { code: 'DP_BUDGET_INVALID' });
    return this.storage.transaction(async () => {
      const existing = await this.storage.privacy.getBudget(target);
      const charges = await this.storage.privacy.listCharges(target);
      // Spent is re-measured at the new delta: a smaller delta makes the same RDP a larger epsilon.
      const spent = this.epsilonOf(charges, [], limit.delta);
      if (spent.epsilon > limit.epsilon) {
        throw new InvalidInputError(
          'DP_BUDGET_BELOW_SPENT',
          `${label(target)} has already spent epsilon ${fmt(spent.epsilon)} at delta ${limit.delta}, more than the requested budget of epsilon ${limit.epsilon}; set a budget of at least epsilon ${fmt(spent.epsilon)}`,
          { scope: target, budget: limit, spentEpsilon: spent.epsilon },
        );
      }
      const now = this.now();
      const record: PrivacyBudgetRecord = { scope: target, ...limit, createdAt: existing?.createdAt ?? now, updatedAt: now };
      await this.storage.privacy.setBudget(record);
      return record;
    });
  }

  /** What a scope has spent: its charges' RDP summed per order and converted once at the budget's delta. */
  async spent(scope: PrivacyScope): Promise<PrivacySpent> {
    const target = parseWithSchema(scope, ScopeSchema, 'privacy scope', { code: 'DP_INPUT_INVALID' });
    return this.storage.transaction(async () => {
      const budget = await this.storage.privacy.getBudget(target);
      if (!budget) throw new DpBudgetNotFoundError(target);
      return this.spentOf(budget);
    });
  }

  /** Every scope that has a budget, with what it has spent, ordered by kind then id. */
  async scopes(): Promise<PrivacySpent[]> {
    return this.storage.transaction(async () => {
      const spent: PrivacySpent[] = [];
      for (const budget of await this.storage.privacy.listBudgets()) spent.push(await this.spentOf(budget));
      return spent;
    });
  }

  /** The epsilon each scope would reach if the round ran, without charging anything. */
  async preview(charges: ScopeEvents[]): Promise<ChargePreview[]> {
    const request = parseWithSchema(charges, z.array(ScopeEventsSchema), 'privacy charges', { code: 'DP_CHARGE_INVALID' });
    const rounds = this.roundCurves(request);
    return this.storage.transaction(() => this.project(rounds));
  }

  /**
   * Charges one round to every scope it touches, in one transaction: either every scope is within
   * its budget and all charges are recorded, or none is (DP_BUDGET_MISSING, DP_BUDGET_EXCEEDED).
   */
  async charge(parameters: ChargeParameters): Promise<ChargeReceipt[]> {
    const request = parseWithSchema(parameters, ChargeSchema, 'privacy charge', { code: 'DP_CHARGE_INVALID' });
    // Events are validated before the transaction opens, so bad input never takes the write lock.
    const rounds = this.roundCurves(request.charges);
    return this.storage.transaction(async () => {
      const previews = await this.project(rounds);
      const overruns = previews.filter((p) => !p.withinBudget);
      if (overruns.length > 0) throw new DpBudgetExceededError(request.jobId, request.round, overruns.map(({ withinBudget: _, ...o }) => o));
      const createdAt = this.now();
      const receipts: ChargeReceipt[] = [];
      for (const [k, preview] of previews.entries()) {
        const id = randomUUID();
        await this.storage.privacy.insertCharge({
          id,
          scope: preview.scope,
          jobId: request.jobId,
          round: request.round,
          events: rounds[k].events,
          orders: [...this.orders],
          rdp: Array.from(rounds[k].rdp),
          epsilonAfter: preview.epsilonAfter,
          delta: preview.budget.delta,
          conversion: this.conversion,
          createdAt,
        });
        receipts.push({ id, scope: preview.scope, budget: preview.budget, spentEpsilon: preview.spentEpsilon, epsilonAfter: preview.epsilonAfter });
      }
      return receipts;
    });
  }

  /** A scope's charges, oldest first, each with the scope's epsilon right after it. */
  async history(scope: PrivacyScope): Promise<LedgerEntry[]> {
    const target = parseWithSchema(scope, ScopeSchema, 'privacy scope', { code: 'DP_INPUT_INVALID' });
    return this.storage.transaction(async () => {
      if (!(await this.storage.privacy.getBudget(target))) throw new DpBudgetNotFoundError(target);
      return (await this.storage.privacy.listCharges(target)).map((c) => ({
        id: c.id,
        jobId: c.jobId,
        round: c.round,
        // Written by `charge` after RdpAccountant validated every event.
        events: c.events as PrivacyEvent[],
        epsilonAfter: c.epsilonAfter,
        delta: c.delta,
        conversion: c.conversion,
        createdAt: c.createdAt,
      }));
    });
  }

  private async spentOf(budget: PrivacyBudgetRecord): Promise<PrivacySpent> {
    const charges = await this.storage.privacy.listCharges(budget.scope);
    const { epsilon, order } = this.epsilonOf(charges, [], budget.delta);
    return { scope: budget.scope, epsilon, delta: budget.delta, order, budget: { epsilon: budget.epsilon, delta: budget.delta }, charges: charges.length };
  }

  /** Groups the request by scope and computes each scope's RDP for this round at the ledger's orders. */
  private roundCurves(charges: readonly ScopeEvents[]): { scope: PrivacyScope; events: PrivacyEvent[]; rdp: Float64Array }[] {
    const grouped = new Map<string, ScopeEvents>();
    for (const { scope, events } of charges) {
      const group = grouped.get(scopeKey(scope));
      if (group) group.events.push(...events);
      else grouped.set(scopeKey(scope), { scope, events: [...events] });
    }
    return [...grouped.values()].map(({ scope, events }) => {
      const accountant = new RdpAccountant(this.orders);
      for (const event of events) accountant.compose(event);
      return { scope, events, rdp: accountant.rdp() };
    });
  }

  private async project(rounds: readonly { scope: PrivacyScope; events: PrivacyEvent[]; rdp: Float64Array }[]): Promise<ChargePreview[]> {
    const previews: ChargePreview[] = [];
    for (const { scope, events, rdp } of rounds) {
      const budget = await this.storage.privacy.getBudget(scope);
      if (!budget) {
        throw new StateError(
          'DP_BUDGET_MISSING',
          `${label(scope)} has no privacy budget, so nothing can be charged to it; declare one before the job starts: \`${setCommand(scope)}\` or PrivacyLedger.setBudget()`,
          { scope },
        );
      }
      const charges = await this.storage.privacy.listCharges(scope);
      const epsilonAfter = this.epsilonOf(charges, [{ events, rdp }], budget.delta).epsilon;
      previews.push({
        scope: budget.scope,
        budget: { epsilon: budget.epsilon, delta: budget.delta },
        spentEpsilon: this.epsilonOf(charges, [], budget.delta).epsilon,
        roundEpsilon: this.epsilonOf([], [{ events, rdp }], budget.delta).epsilon,
        epsilonAfter,
        withinBudget: epsilonAfter <= budget.epsilon,
      });
    }
    return previews;
  }

  /** epsilon of recorded charges plus this round's events: searched over all orders, or at the ledger's own orders. */
  private epsilonOf(charges: readonly PrivacyChargeRecord[], round: readonly { events: PrivacyEvent[]; rdp: Float64Array }[], delta: number): EpsilonResult {
    if (!this.fixedOrders) {
      // Written by `charge` after RdpAccountant validated every event.
      const events = [...charges.flatMap((c) => c.events as PrivacyEvent[]), ...round.flatMap((r) => r.events)];
      return epsilonOfEvents(events, delta, this.conversion);
    }
    const curve = compose(this.orders, charges);
    for (const { rdp } of round) for (const [order, sum] of curve) curve.set(order, sum + rdp[this.orders.indexOf(order)]);
    return this.convert(curve, delta);
  }

  private convert(curve: RdpCurve, delta: number): EpsilonResult {
    if (curve.size === 0) {
      throw new StateError(
        'DP_LEDGER_ORDERS_MISMATCH',
        'the recorded charges share no RDP order with each other or with this ledger; open the ledger with the orders they were recorded at',
      );
    }
    return epsilonFromRdp([...curve.keys()], [...curve.values()], delta, this.conversion);
  }
}
