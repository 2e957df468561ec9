import type { NodeRepository } from '../repository.js';
import { nodeFromRow, type NodeRow } from '../rows.js';
import type { Run } from './connection.js';

/** Registered nodes in SQLite. */
export function nodeRepository(run: Run): NodeRepository {
  return {
    upsert: (node) =>
      run((db) => {
        db.prepare(
          `INSERT INTO nodes (id, status, resources, labels, registered_at, last_heartbeat)
           VALUES (@id, @status, @resources, @labels, @registeredAt, @lastHeartbeat)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, resources = excluded.resources,
             labels = excluded.labels, registered_at = excluded.registered_at, last_heartbeat = excluded.last_heartbeat`,
        ).run({
          id: node.id,
          status: node.status,
          resources: JSON.stringify(node.resources),
          labels: JSON.stringify(node.labels),
          registeredAt: node.registeredAt,
          lastHeartbeat: node.lastHeartbeat,
        });
      }),
    get: (id) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM nodes WHERE id = ?').get(id) as NodeRow | undefined;
        return row && nodeFromRow(row);
      }),
    list: () =>
      run((db) => (db.prepare('SELECT * FROM nodes ORDER BY registered_at, id').all() as NodeRow[]).map(nodeFromRow)),
    delete: (id) => run((db) => db.prepare('DELETE FROM nodes WHERE id = ?').run(id).changes > 0),
  };
}
