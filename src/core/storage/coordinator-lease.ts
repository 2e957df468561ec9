import { createHash } from 'node:crypto';
import type pg from 'pg';
import { InvalidInputError, StateError } from '../errors.js';
import { connectPostgres, describeDatabaseLocation, type DatabaseLocation } from './database-location.js';

/** Another coordinator holds the lease on this job in this database: nothing was started. */
export class CoordinatorActiveError extends InvalidInputError {
  constructor(name: string, where: string) {
    super('COORDINATOR_ACTIVE', `another coordinator serves ${name} from ${where}; stop it, or start this one with --standby to take over when it stops`, { name });
  }
}

/** The right to serve one job (or one edge's group) from a shared database, held until released or lost. */
export interface CoordinatorLease {
  /** Settles with the reason when the database connection that holds the lock breaks: stop serving then. */
  readonly lost: Promise<Error>;
  /** Gives the lease up (a standby waiting for it takes over). */
  release(): Promise<void>;
}

/** How `takeCoordinatorLease` waits. */
export interface LeaseOptions {
  /** Wait for the lease instead of failing with COORDINATOR_ACTIVE. */
  standby: boolean;
  /** How often a standby asks again, ms (default 500). */
  pollMs?: number;
  /** Called once when a standby starts to wait. */
  onWaiting?: () => void;
}

/**
 * Takes the lease on `name` (a job, or an edge's group of one) in a PostgreSQL database: a session-level
 * advisory lock keyed by the schema and the name, held on a connection of its own. The server frees
 * it when that connection ends, so a coordinator that is killed hands the job to its standby within
 * one poll. SQLite has no lease: it serves one machine, and `--standby` is refused for it.
 */
export async function takeCoordinatorLease(location: DatabaseLocation, name: string, options: LeaseOptions): Promise<CoordinatorLease | undefined> {
  if (location.kind === 'sqlite') {
    if (options.standby) throw new InvalidInputError('STANDBY_NEEDS_POSTGRES', `--standby shares the job's state through PostgreSQL; give --db a postgres:// URL, not the SQLite file '${location.path}'`);
    return undefined;
  }
  const client = await connectPostgres(location);
  try {
    const schema = (await client.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0].schema;
    const key = createHash('sha256').update(`cipher-nexus coordinator\0${schema}\0${name}`).digest().readBigInt64BE(0).toString();
    let waiting = false;
    while (!(await client.query<{ held: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS held', [key])).rows[0].held) {
      if (!options.standby) throw new CoordinatorActiveError(name, describeDatabaseLocation(location));
      if (!waiting) options.onWaiting?.();
      waiting = true;
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
    }
    return holdLease(client, key);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

function holdLease(client: pg.Client, key: string): CoordinatorLease {
  let released = false;
  const lost = new Promise<Error>((resolve) => {
    client.on('error', (error: Error) => resolve(error));
    client.on('end', () => {
      if (!released) resolve(new StateError('COORDINATOR_LEASE_LOST', 'the database connection holding this coordinator\'s lease closed; a standby may have taken the job over'));
    });
  });
  return {
    lost,
    release: async () => {
      if (released) return;
      released = true;
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}
