import type { NodeRepository } from '../repository.js';
import { nodeFromRow, type NodeRow } from '../rows.js';
import type { Run } from './query.js';

/** Registered nodes in PostgreSQL. */
export function nodeRepository(run: Run): NodeRepository {
  return {
    upsert: (node) =>
      run(async (query) => {
        await query(
          `INSERT INTO nodes (id, status, resources, labels, registered_at, last_heartbeat)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, resources = EXCLUDED.resources,
             labels = EXCLUDED.labels, registered_at = EXCLUDED.registered_at, last_heartbeat = EXCLUDED.last_heartbeat`,
          [node.id, node.status, JSON.stringify(node.resources), JSON.stringify(node.labels), node.registeredAt, node.lastHeartbeat],
        );
      }),
    get: (id) =>
      run(async (query) => {
        const { rows } = await query<NodeRow>('SELECT * FROM nodes WHERE id = $1', [id]);
        return rows[0] && nodeFromRow(rows[0]);
      }),
    list: () =>
      run(async (query) => (await query<NodeRow>('SELECT * FROM nodes ORDER BY registered_at, id')).rows.map(nodeFromRow)),
    delete: (id) => run(async (query) => ((await query('DELETE FROM nodes WHERE id = $1', [id])).rowCount ?? 0) > 0),
  };
}
