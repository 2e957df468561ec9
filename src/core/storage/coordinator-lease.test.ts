import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { takeCoordinatorLease } from './coordinator-lease.js';
import { parseDatabaseLocation } from './database-location.js';

const url = inject('postgresUrl');
const admin = new pg.Pool({ connectionString: url, max: 1 });
afterAll(() => admin.end());

describe('coordinator lease', () => {
  it('one holder per job and schema; a second is refused, a standby waits and takes over when the holder goes', async () => {
    const schema = `cn_lease_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    try {
      const here = parseDatabaseLocation(url, { schema });
      const first = await takeCoordinatorLease(here, 'job a', { standby: false });
      expect(first).toBeDefined();
      await expect(takeCoordinatorLease(here, 'job a', { standby: false })).rejects.toMatchObject({ code: 'COORDINATOR_ACTIVE', message: expect.stringContaining('--standby') });
      // Another job, or the same name in another schema, is another lease.
      const other = await takeCoordinatorLease(here, 'job b', { standby: false });
      const elsewhere = await takeCoordinatorLease(parseDatabaseLocation(url), 'job a', { standby: false });

      let waited = 0;
      const standby = takeCoordinatorLease(here, 'job a', { standby: true, pollMs: 20, onWaiting: () => waited++ });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(waited).toBe(1);
      let taken = false;
      void standby.then(() => (taken = true));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(taken).toBe(false);
      await first?.release();
      const next = await standby;
      expect(next).toBeDefined();
      await expect(takeCoordinatorLease(here, 'job a', { standby: false })).rejects.toMatchObject({ code: 'COORDINATOR_ACTIVE' });

      // A holder whose connection is cut (a killed coordinator) frees the lease, and learns it lost it.
      const [{ pid }] = (await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_try_advisory_lock%' AND pid <> pg_backend_pid() ORDER BY backend_start DESC LIMIT 1`)).rows;
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await expect(next?.lost).resolves.toBeInstanceOf(Error);
      const after = await takeCoordinatorLease(here, 'job a', { standby: true, pollMs: 20 });
      expect(after).toBeDefined();
      for (const lease of [after, other, elsewhere]) await lease?.release();
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('refuses --standby on SQLite, which serves one machine, and takes no lease there', async () => {
    await expect(takeCoordinatorLease(parseDatabaseLocation('/tmp/x.db'), 'job', { standby: true })).rejects.toMatchObject({ code: 'STANDBY_NEEDS_POSTGRES' });
    await expect(takeCoordinatorLease(parseDatabaseLocation('/tmp/x.db'), 'job', { standby: false })).resolves.toBeUndefined();
  });
});
