import type { JobRepository } from '../repository.js';
import { jobFromRow, toJson, type JobRow } from '../rows.js';
import type { Run } from './connection.js';

/** Training jobs in SQLite. */
export function jobRepository(run: Run): JobRepository {
  return {
    upsert: (job) =>
      run((db) => {
        db.prepare(
          `INSERT INTO jobs (id, name, config, status, model_id, report, created_at, finished_at)
           VALUES (@id, @name, @config, @status, @modelId, @report, @createdAt, @finishedAt)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, config = excluded.config,
             status = excluded.status, model_id = excluded.model_id, report = excluded.report,
             created_at = excluded.created_at, finished_at = excluded.finished_at`,
        ).run({
          id: job.id,
          name: job.name,
          config: toJson(job.config),
          status: job.status,
          modelId: job.modelId,
          report: toJson(job.report),
          createdAt: job.createdAt,
          finishedAt: job.finishedAt,
        });
      }),
    get: (id) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
        return row && jobFromRow(row);
      }),
    list: () =>
      run((db) => (db.prepare('SELECT * FROM jobs ORDER BY created_at, rowid').all() as JobRow[]).map(jobFromRow)),
  };
}
