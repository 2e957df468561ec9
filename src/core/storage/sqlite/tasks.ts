import type { TaskRepository } from '../repository.js';
import { taskFromRow, toJson, type TaskRow } from '../rows.js';
import type { Run } from './connection.js';

/** Scheduled tasks in SQLite. */
export function taskRepository(run: Run): TaskRepository {
  return {
    upsert: (task) =>
      run((db) => {
        db.prepare(
          `INSERT INTO tasks (id, type, priority, requirements, status, node_id, attempts, max_attempts,
             payload, result, error, created_at, updated_at)
           VALUES (@id, @type, @priority, @requirements, @status, @nodeId, @attempts, @maxAttempts,
             @payload, @result, @error, @createdAt, @updatedAt)
           ON CONFLICT (id) DO UPDATE SET type = excluded.type, priority = excluded.priority,
             requirements = excluded.requirements, status = excluded.status, node_id = excluded.node_id,
             attempts = excluded.attempts, max_attempts = excluded.max_attempts, payload = excluded.payload,
             result = excluded.result, error = excluded.error, created_at = excluded.created_at,
             updated_at = excluded.updated_at`,
        ).run({
          id: task.id,
          type: task.type,
          priority: task.priority,
          requirements: JSON.stringify(task.requirements),
          status: task.status,
          nodeId: task.nodeId,
          attempts: task.attempts,
          maxAttempts: task.maxAttempts,
          payload: toJson(task.payload),
          result: toJson(task.result),
          error: task.error,
          createdAt: task.createdAt,
          updatedAt: task.updatedAt,
        });
      }),
    get: (id) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
        return row && taskFromRow(row);
      }),
    list: (filter = {}) =>
      run((db) => {
        const rows = db
          .prepare(
            `SELECT * FROM tasks
             WHERE (@status IS NULL OR status = @status) AND (@nodeId IS NULL OR node_id = @nodeId)
             ORDER BY created_at, rowid`,
          )
          .all({ status: filter.status ?? null, nodeId: filter.nodeId ?? null }) as TaskRow[];
        return rows.map(taskFromRow);
      }),
  };
}
