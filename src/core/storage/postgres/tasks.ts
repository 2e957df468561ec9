import type { TaskRepository } from '../repository.js';
import { taskFromRow, toJson, type TaskRow } from '../rows.js';
import type { Run } from './query.js';

/** Scheduled tasks in PostgreSQL. */
export function taskRepository(run: Run): TaskRepository {
  return {
    upsert: (task) =>
      run(async (query) => {
        await query(
          `INSERT INTO tasks (id, type, priority, requirements, status, node_id, attempts, max_attempts,
             payload, result, error, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, priority = EXCLUDED.priority,
             requirements = EXCLUDED.requirements, status = EXCLUDED.status, node_id = EXCLUDED.node_id,
             attempts = EXCLUDED.attempts, max_attempts = EXCLUDED.max_attempts, payload = EXCLUDED.payload,
             result = EXCLUDED.result, error = EXCLUDED.error, created_at = EXCLUDED.created_at,
             updated_at = EXCLUDED.updated_at`,
          [
            task.id,
            task.type,
            task.priority,
            JSON.stringify(task.requirements),
            task.status,
            task.nodeId,
            task.attempts,
            task.maxAttempts,
            toJson(task.payload),
            toJson(task.result),
            task.error,
            task.createdAt,
            task.updatedAt,
          ],
        );
      }),
    get: (id) =>
      run(async (query) => {
        const { rows } = await query<TaskRow>('SELECT * FROM tasks WHERE id = $1', [id]);
        return rows[0] && taskFromRow(rows[0]);
      }),
    list: (filter = {}) =>
      run(async (query) => {
        const { rows } = await query<TaskRow>(
          `SELECT * FROM tasks
           WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR node_id = $2)
           ORDER BY created_at, seq`,
          [filter.status ?? null, filter.nodeId ?? null],
        );
        return rows.map(taskFromRow);
      }),
  };
}
