import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { collectModelGarbage, connectStorage, InvalidInputError, parseDatabaseLocation } from '../core/index.js';
import { printJson } from './output.js';

const formatBytes = (n: number): string => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

/** Adds `models gc [--dry-run]`: deletes the model store's blobs that no job, model head or checkpoint needs. */
export function registerModelGcCommand(models: Command, dbLocation: () => string): void {
  models
    .command('gc')
    .description("delete model weights no job, model's newest version or checkpoint needs (versions stay in the lineage); prints what was freed")
    .option('--dry-run', 'report what would be freed, change nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const location = parseDatabaseLocation(dbLocation());
      // Collecting garbage in a database that does not exist would create one.
      if (location.kind === 'sqlite' && (location.path === ':memory:' || !existsSync(location.path))) {
        throw new InvalidInputError('STORAGE_NOT_FOUND', `database file '${location.path}' does not exist; give the --db the coordinator uses`, { path: location.path });
      }
      const storage = await connectStorage(location.kind === 'sqlite' ? location.path : location.url, location.kind === 'postgres' && location.schema ? { schema: location.schema } : {});
      try {
        const report = await collectModelGarbage(storage, { dryRun: opts.dryRun ?? false });
        if (opts.json) return printJson({ store: storage.modelStore.location, ...report });
        const verb = report.dryRun ? 'would free' : 'freed';
        process.stdout.write(
          `${verb} ${formatBytes(report.bytesFreed)} in ${report.blobsDeleted} blob(s) of ${storage.modelStore.location}: ` +
            `weights of ${report.versionsDropped} version(s) nothing needs ${report.dryRun ? 'would be' : 'were'} dropped, ` +
            `${report.blobsKept} blob(s) kept for ${report.versionsKept} version(s)${report.dryRun ? ' (dry run: nothing changed)' : ''}\n`,
        );
      } finally {
        await storage.close();
      }
    });
}
