import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { InvalidInputError, connectStorage, parseDatabaseLocation, type Storage } from '../core/index.js';
import type { JobReport, RoundIncentives } from '../fl/index.js';
import { registerBudgetCommand, type StorageAccess } from './budget-command.js';
import { registerChainCommands } from './chain-command.js';
import { addChainOptions, openChainClient, startDemoEconomy } from './chain-context.js';
import { registerChainServeCommand } from './chain-serve-command.js';
import { registerDpCommand } from './dp-command.js';
import { registerMarketCommands } from './market-command.js';
import { registerNetworkCommands } from './network-command.js';
import { registerIdentityCommands } from './identity-command.js';
import { registerMemberCommands } from './member-command.js';
import { registerAuditCommands } from './audit-command.js';
import { registerAttestCommands } from './attest-command.js';
import { registerBackupCommands } from './backup-command.js';
import { registerMigrateCommands } from './migrate-command.js';
import { registerModelGcCommand } from './model-gc-command.js';
import { printJson, writeJsonFile } from './output.js';
import { progressObserver } from './progress.js';

// The federated-learning layer loads TF.js; commands that do not train (dp, budget, help) should
// not pay for it, so it is imported when a command needs it.
const loadFl = (): Promise<typeof import('../fl/index.js')> => import('../fl/index.js');

/** Where the CLI keeps its database unless told otherwise. */
export const DEFAULT_DB = '.cipher-nexus/cipher-nexus.db';

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${name} must be a positive integer, got '${value}'`);
    }
    return n;
  };
}

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${value}'`);
    }
    return n;
  };
}

interface GlobalOptions {
  db: string;
}

/**
 * Opens the global `--db`. A listing (`read`) refuses a SQLite file that does not exist instead of creating an empty
 * database where the user looked for their jobs.
 */
async function openDatabase(program: Command, access: StorageAccess): Promise<Storage> {
  const { db } = program.opts<GlobalOptions>();
  const location = parseDatabaseLocation(db);
  if (access === 'read' && location.kind === 'sqlite' && !existsSync(location.path)) {
    throw new InvalidInputError('STORAGE_NOT_FOUND', `there is no database at '${location.path}'; run \`cipher-nexus demo\` or \`cipher-nexus train\` here first, or give the database with --db PATH`, { path: location.path });
  }
  return connectStorage(db);
}

async function withStorage<T>(program: Command, fn: (storage: Storage) => Promise<T>, access: StorageAccess = 'write'): Promise<T> {
  const storage = await openDatabase(program, access);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

interface RunOptions {
  report?: string;
  json?: boolean;
}

async function runAndReport(program: Command, input: unknown, options: RunOptions, incentivesFor?: (clientIds: readonly string[]) => Promise<RoundIncentives>): Promise<void> {
  // Everything the user gave is checked and loaded before the database is opened, so bad input
  // leaves no trace in it.
  const { prepareJob, runJob, formatRoundTable, JobValidationError } = await loadFl();
  const prepared = await prepareJob(input);
  const incentives = incentivesFor ? await incentivesFor([...prepared.clients.keys()]) : undefined;
  const progress = options.json ? undefined : progressObserver();
  const report: JobReport = await withStorage(program, (storage) => runJob(prepared, storage, progress, { incentives }));
  progress?.stop();
  const reportPath = resolve(options.report ?? `.cipher-nexus/reports/${report.jobId}.json`);
  writeJsonFile(reportPath, report);
  if (options.json) printJson(report);
  else process.stdout.write(`\n${formatRoundTable(report)}\nreport written to ${reportPath}\n`);
  // The job ran and its report is written; a model that missed a threshold still ends the command with exit 3.
  if (report.status === 'failed') throw new JobValidationError(report.jobId, report.validation.failures);
}

/** Builds the `cipher-nexus` command line. */
export function buildProgram(): Command {
  const program = new Command('cipher-nexus')
    .description('Privacy-preserving federated learning: train one model across organisations without sharing raw data.')
    .addOption(new Option('--db <path|url>', 'SQLite database file, or a postgres:// URL').default(process.env.CIPHER_NEXUS_DB ?? DEFAULT_DB))
    .exitOverride();
  addChainOptions(program);

  program
    .command('demo')
    .description('train an MLP on UCI optical digits with simulated clients whose data is split non-IID (Dirichlet 0.5)')
    .option('--clients <n>', 'number of simulated clients', positiveInt('--clients'), 10)
    .option('--rounds <n>', 'number of federated rounds', positiveInt('--rounds'), 30)
    .option('--seed <n>', 'seed of partitioning, initialisation, selection and shuffling', nonNegativeInt('--seed'), 42)
    .option('--workers <n>', 'worker threads for client training', positiveInt('--workers'))
    .option('--in-process', 'train every client in the main thread instead of worker threads')
    .option('--report <file>', 'where to write the JSON report')
    .option('--dp', 'train with sample-level differential privacy (DP-SGD) and report epsilon')
    .option('--he', 'aggregate under multi-party CKKS: the coordinator adds ciphertexts; only a committee of participants, all together, can decrypt the sum')
    .option('--secagg', 'secure aggregation (SecAgg+): the coordinator learns only the sum of the masked updates')
    .option('--no-chain', 'train without the token economy (no stake, rewards, slashes or claims)')
    .option('--json', 'print the report as JSON instead of a table')
    .action(async (opts: { clients: number; rounds: number; seed: number; workers?: number; inProcess?: boolean; dp?: boolean; he?: boolean; secagg?: boolean; chain: boolean } & RunOptions) => {
      // The chain (in-process EVM, or --rpc) starts now, while the data loads.
      const incentives = opts.chain ? startDemoEconomy(program, opts.clients) : undefined;
      const { demoConfig } = await loadFl();
      const config = demoConfig({ clients: opts.clients, rounds: opts.rounds, seed: opts.seed, dp: opts.dp, he: opts.he, secagg: opts.secagg });
      // Each demo run is its own simulated federation, so it gets its own ledger scope; a real job
      // (train --config) charges the data set's persistent scope and stops when it is spent.
      if (config.privacy?.dp) config.privacy.dp.dataset = `optdigits-demo-${randomUUID().slice(0, 8)}`;
      config.execution = { mode: opts.inProcess ? 'in-process' : 'workers', workers: opts.workers };
      await runAndReport(program, config, opts, incentives);
    });

  program
    .command('train')
    .description('run a federated training job described by a YAML or JSON config on your own CSV data')
    .requiredOption('--config <file>', 'job config (.yaml, .yml or .json)')
    .option('--report <file>', 'where to write the JSON report')
    .option('--json', 'print the report as JSON instead of a table')
    .action(async (opts: { config: string } & RunOptions) => {
      const { loadJobConfig } = await loadFl();
      await runAndReport(program, loadJobConfig(opts.config), opts);
    });

  const models = program.command('models').description('inspect the model registry and collect its unneeded weights');
  models
    .command('list')
    .description('list registered models')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { ModelRegistry } = await loadFl();
      const list = await withStorage(program, (storage) => new ModelRegistry(storage).listModels(), 'read');
      if (opts.json) return printJson(list.map(({ id, name, latestVersion, createdAt }) => ({ id, name, latestVersion, createdAt: new Date(createdAt).toISOString() })));
      if (list.length === 0) return void process.stdout.write('no models yet: run `cipher-nexus demo` to train one\n');
      for (const m of list) process.stdout.write(`${m.id}  ${m.name}  v${m.latestVersion}  ${new Date(m.createdAt).toISOString()}\n`);
    });
  models
    .command('show')
    .description('show a model and its version lineage, and which versions still have their weights')
    .argument('<id>', 'model id (from `models list`)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { ModelRegistry } = await loadFl();
      const { model, versions } = await withStorage(program, async (storage) => {
        const registry = new ModelRegistry(storage);
        const lineage = await registry.lineage(id);
        // `models gc` may have dropped a version's weights; its place in the lineage stays.
        const collected = new Set((await storage.models.listWeightReferences()).filter((r) => r.modelId === id && r.digest === null).map((r) => r.version));
        return { model: await registry.getModel(id), versions: lineage.map((v) => ({ ...v, weights: collected.has(v.version) ? ('collected' as const) : ('stored' as const) })) };
      }, 'read');
      if (opts.json) return printJson({ ...model, versions });
      process.stdout.write(`${model.id}  ${model.name}\narchitecture ${JSON.stringify(model.architecture)}\n`);
      process.stdout.write('version  parent  sha256                                                            accuracy  weights\n');
      for (const v of versions) {
        const acc = v.metrics.accuracy === undefined ? '-' : v.metrics.accuracy.toFixed(4);
        process.stdout.write(`${String(v.version).padStart(7)}  ${String(v.parentVersion ?? '-').padStart(6)}  ${v.sha256}  ${acc.padEnd(8)}  ${v.weights}\n`);
      }
    });

  registerModelGcCommand(models, () => program.opts<GlobalOptions>().db);

  const rounds = program.command('rounds').description('inspect training rounds');
  rounds
    .command('list')
    .description('list rounds, newest job first')
    .option('--job <id>', 'only this job')
    .option('--json', 'print JSON')
    .action(async (opts: { job?: string; json?: boolean }) => {
      const list = await withStorage(program, (storage) => storage.rounds.list(opts.job ? { jobId: opts.job } : undefined), 'read');
      if (opts.json) return printJson(list);
      if (list.length === 0) return void process.stdout.write('no rounds yet: run `cipher-nexus demo` first\n');
      process.stdout.write('job                                       round  status     clients  accuracy    loss\n');
      for (const r of list) {
        const acc = r.metrics.accuracy === undefined ? '-' : r.metrics.accuracy.toFixed(4);
        const loss = r.metrics.loss === undefined ? '-' : r.metrics.loss.toFixed(4);
        process.stdout.write(`${r.jobId.padEnd(40)}  ${String(r.number).padStart(5)}  ${r.status.padEnd(9)}  ${String(r.participants.length).padStart(7)}  ${acc.padStart(8)}  ${loss.padStart(6)}\n`);
      }
    });

  registerDpCommand(program);
  registerChainCommands(program, () => openChainClient(program));
  registerChainServeCommand(program);
  registerBudgetCommand(program, (access) => openDatabase(program, access));
  registerIdentityCommands(program);
  registerMemberCommands(program, () => openChainClient(program));
  registerAuditCommands(program);
  registerAttestCommands(program);
  registerBackupCommands(program, () => program.opts<GlobalOptions>().db);
  registerMigrateCommands(program, () => program.opts<GlobalOptions>().db);
  registerMarketCommands(program, { open: () => openChainClient(program), storage: () => connectStorage(program.opts<GlobalOptions>().db) });
  registerNetworkCommands(program, async () => connectStorage(program.opts<GlobalOptions>().db), () => program.opts<GlobalOptions>().db);

  return program;
}
