import { Command } from 'commander';
import { AuditTrailError, verifyAuditTrail } from '../core/index.js';
import { printJson } from './output.js';

/** Adds `audit verify`, the integrity check of a hash-chained audit trail, to the program. */
export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the hash-chained audit trail the coordinator writes');

  audit
    .command('verify')
    .description('check every entry of an audit trail; exits 0 when intact, 1 at the first edited, deleted, reordered or inserted entry')
    .argument('<file>', 'the trail (JSON lines)')
    .option('--json', 'print the result as JSON')
    .action((file: string, opts: { json?: boolean }) => {
      const result = verifyAuditTrail(file);
      if (opts.json) printJson(result);
      else if (result.ok) process.stdout.write(`audit trail '${file}' is intact: ${result.entries} entries, head ${result.head}\n`);
      if (!result.ok) {
        const intact = result.entries === 1 ? 'the 1 entry before it is intact' : `the ${result.entries} entries before it are intact`;
        // Thrown rather than printed so the CLI's one error path gives the one-line message and exit code 1.
        throw new AuditTrailError(
          'AUDIT_TAMPERED',
          `audit trail '${file}' fails at entry ${result.firstBadSeq}: ${result.reason}; ${intact}, keep the file as evidence`,
          result,
        );
      }
    });
}
