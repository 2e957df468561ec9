import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { BackupCorruptError, createBackup, listBackups, parseDatabaseLocation, restoreBackup, verifyBackup } from '../core/index.js';
import { defaultAuditFile } from './audit-location.js';
import { printJson } from './output.js';

/** Where backups go unless --dir says otherwise. */
export const DEFAULT_BACKUP_DIR = '.cipher-nexus/backups';

const formatBytes = (n: number): string => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

/** A backup named by path, or by its name inside the backup folder. */
const backupPath = (given: string, dir: string): string => (existsSync(given) ? resolve(given) : resolve(dir, given));

/** Adds `backup create|list|verify|restore`: the database, the model store, each model's newest weights and the audit trail, with a manifest of sha256. */
export function registerBackupCommands(program: Command, dbLocation: () => string): void {
  const backup = program.command('backup').description('back up and restore the coordinator: database, model store and audit trail, each part hashed in a manifest');

  backup
    .command('create')
    .description('take a consistent backup of --db while the coordinator keeps running')
    .option('--dir <dir>', 'folder that holds backups', DEFAULT_BACKUP_DIR)
    .option('--name <name>', 'the backup folder name (default: backup-<UTC time>)')
    .option('--audit <file>', "the coordinator's audit trail (default: the one `serve` writes for this --db)")
    .option('--no-audit', 'back up without the audit trail')
    .option('--json', 'print the manifest as JSON')
    .action(async (opts: { dir: string; name?: string; audit?: string | boolean; json?: boolean }) => {
      const location = dbLocation();
      let auditFile: string | undefined;
      if (typeof opts.audit === 'string') auditFile = resolve(opts.audit);
      else if (opts.audit !== false) {
        auditFile = defaultAuditFile(location);
        if (!existsSync(auditFile)) {
          process.stderr.write(`warning: no audit trail at ${auditFile}; the backup holds none (give --audit <file> if it lives elsewhere)\n`);
          auditFile = undefined;
        }
      }
      const info = await createBackup({ database: parseDatabaseLocation(location), dir: resolve(opts.dir), ...(opts.name ? { name: opts.name } : {}), ...(auditFile ? { auditFile } : {}) });
      if (opts.json) return printJson({ path: info.path, ...info.manifest });
      const audit = info.manifest.parts.find((p) => p.kind === 'audit');
      const models = info.manifest.parts.filter((p) => p.kind === 'model').length;
      const blobs = info.manifest.parts.filter((p) => p.kind === 'blob').length;
      process.stdout.write(
        `backup written to ${info.path}\n  database  ${info.manifest.source.location} (${info.manifest.source.method}), schema version ${info.manifest.schemaVersion}\n  models    ${models} (newest version of each)\n  blobs     ${blobs} (the model store: every version's weights)\n  audit     ${audit && audit.kind === 'audit' ? `${audit.entries} entries, head ${audit.head}` : 'none'}\n  size      ${formatBytes(info.bytes)}\n`,
      );
    });

  backup
    .command('list')
    .description('list the backups in the backup folder, oldest first')
    .option('--dir <dir>', 'folder that holds backups', DEFAULT_BACKUP_DIR)
    .option('--json', 'print JSON')
    .action((opts: { dir: string; json?: boolean }) => {
      const list = listBackups(resolve(opts.dir));
      if (opts.json) return printJson(list.map((b) => ('manifest' in b ? { name: b.name, path: b.path, createdAt: b.manifest.createdAt, source: b.manifest.source, schemaVersion: b.manifest.schemaVersion, bytes: b.bytes } : b)));
      if (list.length === 0) return void process.stdout.write(`no backups in ${resolve(opts.dir)}: run \`cipher-nexus backup create\`\n`);
      process.stdout.write('name                           created                   schema  source    size\n');
      for (const b of list) {
        if ('error' in b) process.stdout.write(`${b.name.padEnd(30)} UNUSABLE: ${b.error}\n`);
        else process.stdout.write(`${b.name.padEnd(30)} ${b.manifest.createdAt.padEnd(25)} ${String(b.manifest.schemaVersion).padStart(6)}  ${b.manifest.source.kind.padEnd(8)}  ${formatBytes(b.bytes)}\n`);
      }
    });

  backup
    .command('verify')
    .description("check a backup: the manifest's own hash, every part's sha256, the audit chain, the database's integrity; exit 2 if any fails")
    .argument('<backup>', 'backup folder, or its name in --dir')
    .option('--dir <dir>', 'folder that holds backups', DEFAULT_BACKUP_DIR)
    .option('--json', 'print the result as JSON')
    .action(async (given: string, opts: { dir: string; json?: boolean }) => {
      const path = backupPath(given, opts.dir);
      const result = await verifyBackup(path);
      if (opts.json) printJson({ ok: result.ok, path: result.path, problems: result.problems });
      else if (result.ok) process.stdout.write(`backup ${path} is intact: ${result.manifest?.parts.length} parts, schema version ${result.manifest?.schemaVersion}\n`);
      else for (const problem of result.problems.slice(1)) process.stderr.write(`  also: ${problem}\n`);
      if (!result.ok) throw new BackupCorruptError('BACKUP_CORRUPT', `backup ${path} fails verification: ${result.problems[0]}`, { problems: result.problems });
    });

  backup
    .command('restore')
    .description('restore a verified backup into a new SQLite file or an empty PostgreSQL schema; a corrupted backup is refused and nothing is written')
    .argument('<backup>', 'backup folder, or its name in --dir')
    .requiredOption('--to <path|url>', 'the new database: an SQLite file that does not exist yet, or a postgres:// URL of an empty schema')
    .option('--schema <name>', 'with a postgres:// --to: the empty schema to restore into')
    .option('--audit <file>', 'where the audit trail goes (default: where `serve --db <to>` looks for it)')
    .option('--dir <dir>', 'folder that holds backups', DEFAULT_BACKUP_DIR)
    .action(async (given: string, opts: { to: string; schema?: string; audit?: string; dir: string }) => {
      const path = backupPath(given, opts.dir);
      const database = parseDatabaseLocation(opts.to, opts.schema ? { schema: opts.schema } : {});
      const auditFile = opts.audit ? resolve(opts.audit) : defaultAuditFile(opts.to);
      const manifest = await restoreBackup(path, { database, auditFile });
      const audit = manifest.parts.some((p) => p.kind === 'audit') ? `, audit trail ${auditFile}` : '';
      process.stdout.write(`restored ${path} (taken ${manifest.createdAt}, schema version ${manifest.schemaVersion}) into ${opts.to.includes('://') ? 'PostgreSQL' : opts.to}${audit}\nstart the coordinator with --db ${opts.to.includes('://') ? '<that URL>' : opts.to} to resume its running job\n`);
    });
}

