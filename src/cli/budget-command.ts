import { Command, InvalidArgumentError } from 'commander';
import { InvalidInputError, type Storage } from '../core/index.js';
import { PrivacyLedger, type PrivacyScope, type PrivacySpent } from '../privacy/dp/index.js';
import { printJson } from './output.js';

interface ScopeOptions {
  dataset?: string;
  participant?: string;
}

/** A parser for a numeric flag that must satisfy `ok`; `expected` completes "--flag must be ...". */
function numberFlag(flag: string, expected: string, ok: (n: number) => boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new InvalidArgumentError(`${flag} must be ${expected}, got '${value}'`);
    return n;
  };
}

const epsilonFlag = numberFlag('--epsilon', 'a positive number', (n) => n > 0);
const deltaFlag = numberFlag('--delta', 'a number in (0, 1)', (n) => n > 0 && n < 1);

/** The scopes named by --dataset and --participant, in that order. */
function namedScopes(opts: ScopeOptions): PrivacyScope[] {
  const scopes: PrivacyScope[] = [];
  if (opts.dataset !== undefined) scopes.push({ kind: 'dataset', id: opts.dataset });
  if (opts.participant !== undefined) scopes.push({ kind: 'participant', id: opts.participant });
  return scopes;
}

function oneScope(opts: ScopeOptions): PrivacyScope {
  const scopes = namedScopes(opts);
  if (scopes.length !== 1) {
    throw new InvalidInputError('BUDGET_SCOPE_REQUIRED', `give exactly one of --dataset ID or --participant ID, got ${scopes.length}`);
  }
  return scopes[0];
}

/** What a command does with the database: a listing only reads it (and must not create it), the others write. */
export type StorageAccess = 'read' | 'write';

async function withLedger<T>(open: (access: StorageAccess) => Promise<Storage>, access: StorageAccess, fn: (ledger: PrivacyLedger) => Promise<T>): Promise<T> {
  const storage = await open(access);
  try {
    return await fn(new PrivacyLedger(storage));
  } finally {
    await storage.close();
  }
}

const fixed = (epsilon: number): string => epsilon.toFixed(4);

function printSpent(list: readonly PrivacySpent[]): void {
  const idWidth = Math.max(2, ...list.map((s) => s.scope.id.length));
  process.stdout.write(`kind         ${'id'.padEnd(idWidth)}  epsilon spent / budget  delta      charges\n`);
  for (const s of list) {
    const epsilon = `${fixed(s.epsilon)} / ${s.budget.epsilon}`;
    process.stdout.write(`${s.scope.kind.padEnd(11)}  ${s.scope.id.padEnd(idWidth)}  ${epsilon.padEnd(22)}  ${String(s.delta).padEnd(9)}  ${s.charges}\n`);
  }
}

/** Adds `budget show|history|set`, the privacy budget ledger per data set and participant, to the program; `open` gives the storage each command uses and closes. */
export function registerBudgetCommand(program: Command, open: (access: StorageAccess) => Promise<Storage>): void {
  const budget = program.command('budget').description('privacy budgets per data set and participant, and what each round charged (Renyi DP, composed exactly)');

  budget
    .command('show')
    .description('epsilon spent against the budget, for the given scopes or every scope that has a budget')
    .option('--dataset <id>', 'only this data set')
    .option('--participant <id>', 'only this participant')
    .option('--json', 'print JSON')
    .action(async (opts: ScopeOptions & { json?: boolean }) => {
      const scopes = namedScopes(opts);
      const list = await withLedger(open, 'read', async (ledger) => {
        if (scopes.length === 0) return ledger.scopes();
        const found: PrivacySpent[] = [];
        for (const scope of scopes) found.push(await ledger.spent(scope));
        return found;
      });
      if (opts.json) {
        return printJson(
          list.map((s) => ({ kind: s.scope.kind, id: s.scope.id, epsilonSpent: s.epsilon, epsilonBudget: s.budget.epsilon, delta: s.delta, charges: s.charges })),
        );
      }
      if (list.length === 0) {
        return void process.stdout.write('no privacy budgets yet: set one with `cipher-nexus budget set --dataset ID --epsilon E --delta D`\n');
      }
      printSpent(list);
    });

  budget
    .command('history')
    .description("one line per charge against a scope's budget, oldest first")
    .option('--dataset <id>', 'the data set')
    .option('--participant <id>', 'the participant')
    .option('--json', 'print JSON')
    .action(async (opts: ScopeOptions & { json?: boolean }) => {
      const scope = oneScope(opts);
      const entries = await withLedger(open, 'read', (ledger) => ledger.history(scope));
      if (opts.json) {
        return printJson(
          entries.map((e) => ({ jobId: e.jobId, round: e.round, epsilonAfter: e.epsilonAfter, delta: e.delta, conversion: e.conversion, createdAt: new Date(e.createdAt).toISOString(), events: e.events })),
        );
      }
      if (entries.length === 0) return void process.stdout.write(`${scope.kind} '${scope.id}' has no charges yet\n`);
      const jobWidth = Math.max(3, ...entries.map((e) => e.jobId.length));
      process.stdout.write(`${'job'.padEnd(jobWidth)}  round  epsilon after\n`);
      for (const e of entries) process.stdout.write(`${e.jobId.padEnd(jobWidth)}  ${String(e.round).padStart(5)}  ${fixed(e.epsilonAfter)}\n`);
    });

  budget
    .command('set')
    .description("set a scope's lifetime (epsilon, delta) budget; it cannot go below what is already spent")
    .option('--dataset <id>', 'the data set')
    .option('--participant <id>', 'the participant')
    .requiredOption('--epsilon <e>', 'epsilon budget, > 0', epsilonFlag)
    .requiredOption('--delta <d>', 'delta budget, in (0, 1)', deltaFlag)
    .action(async (opts: ScopeOptions & { epsilon: number; delta: number }) => {
      const scope = oneScope(opts);
      const spent = await withLedger(open, 'write', async (ledger) => {
        await ledger.setBudget(scope, { epsilon: opts.epsilon, delta: opts.delta });
        return ledger.spent(scope);
      });
      process.stdout.write(`${scope.kind} '${scope.id}': budget epsilon ${opts.epsilon} at delta ${opts.delta}, spent ${fixed(spent.epsilon)} in ${spent.charges} charges\n`);
    });
}
