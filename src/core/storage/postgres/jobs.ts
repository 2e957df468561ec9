import type { JobRepository } from '../repository.js';
import { jobFromRow, toJson, type JobRow } from '../rows.js';
import type { Run } from './query.js';

/** Training jobs in PostgreSQL. */
export function jobRepository(run: Run): JobRepository {
  return {
    upsert: (job) =>
      run(async (query) => {
        await query(
          `INSERT INTO jobs (id, name, config, status, model_id, report, created_at, finished_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, config = EXCLUDED.config,
             status = EXCLUDED.status, model_id = EXCLUDED.model_id, report = EXCLUDED.report,
             created_at = EXCLUDED.created_at, finished_at = EXCLUDED.finished_at`,
          [job.id, job.name, toJson(job.config), job.status, job.modelId, toJson(job.report), job.createdAt, job.finishedAt],
        );
      }),
    get: (id) =>
      run(async (query) => {
        const { rows } = await query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
        return rows[0] && jobFromRow(rows[0]);
      }),
    list: () => run(async (query) => (await query<JobRow>('SELECT * FROM jobs ORDER BY created_at, seq')).rows.map(jobFromRow)),
  };
}
