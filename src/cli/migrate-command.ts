import type { Command } from 'commander';
import { migrateUp, parseDatabaseLocation, schemaStatus } from '../core/index.js';
import { printJson } from './output.js';

/** Adds `migrate status|up`: the schema migrations of --db, shown and applied explicitly. */
export function registerMigrateCommands(program: Command, dbLocation: () => string): void {
  const migrate = program.command('migrate').description("the database schema's migrations (opening a database also applies them; run `up` to upgrade on purpose, after a backup)");

  migrate
    .command('status')
    .description('list applied and pending migrations of --db without changing it')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const status = await schemaStatus(parseDatabaseLocation(dbLocation()));
      if (opts.json) return printJson(status);
      process.stdout.write(`${status.location}: schema version ${status.current} of ${status.latest}${status.pending.length > 0 ? `, ${status.pending.length} pending: run \`cipher-nexus migrate up\`` : ', up to date'}\n`);
      for (const m of status.migrations) {
        process.stdout.write(`${String(m.version).padStart(4)}  ${(m.appliedAt === null ? 'pending' : 'applied').padEnd(8)}  ${m.appliedAt === null ? ''.padEnd(24) : new Date(m.appliedAt).toISOString()}  ${m.name}\n`);
      }
    });

  migrate
    .command('up')
    .description('apply every pending migration of --db in one transaction')
    .action(async () => {
      const location = parseDatabaseLocation(dbLocation());
      const applied = await migrateUp(location);
      const status = await schemaStatus(location);
      process.stdout.write(applied.length === 0 ? `${status.location} is up to date at schema version ${status.current}\n` : `applied migration(s) ${applied.join(', ')}: ${status.location} is now at schema version ${status.current}\n`);
    });
}
