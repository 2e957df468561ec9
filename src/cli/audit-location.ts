import { dirname, join, resolve } from 'node:path';

/** The audit trail `serve` writes unless told otherwise: audit.jsonl beside an SQLite database, else under .cipher-nexus. */
export function defaultAuditFile(dbLocation: string): string {
  return resolve(dbLocation.includes('://') || dbLocation === ':memory:' ? '.cipher-nexus/audit.jsonl' : join(dirname(dbLocation), 'audit.jsonl'));
}
