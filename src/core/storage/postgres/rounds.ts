import { NotFoundError } from '../../errors.js';
import { updateDuplicate } from '../conflicts.js';
import type { RoundRepository } from '../repository.js';
import { encodeBytes, roundFromRow, updateFromRow, type RoundRow, type UpdateRow } from '../rows.js';
import { FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION, violated, type Run } from './query.js';

/** Training rounds and the updates clients submit to them in PostgreSQL. */
export function roundRepository(run: Run): RoundRepository {
  return {
    upsert: (round) =>
      run(async (query) => {
        try {
          await query(
            `INSERT INTO rounds (id, job_id, model_id, number, status, participants, quorum, deadline,
               base_version, result_version, metrics, started_at, finished_at, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (id) DO UPDATE SET job_id = EXCLUDED.job_id, model_id = EXCLUDED.model_id,
               number = EXCLUDED.number, status = EXCLUDED.status, participants = EXCLUDED.participants,
               quorum = EXCLUDED.quorum, deadline = EXCLUDED.deadline, base_version = EXCLUDED.base_version,
               result_version = EXCLUDED.result_version, metrics = EXCLUDED.metrics,
               started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, error = EXCLUDED.error`,
            [
              round.id,
              round.jobId,
              round.modelId,
              round.number,
              round.status,
              JSON.stringify(round.participants),
              round.quorum,
              round.deadline,
              round.baseVersion,
              round.resultVersion,
              JSON.stringify(round.metrics),
              round.startedAt,
              round.finishedAt,
              round.error,
            ],
          );
        } catch (error) {
          if (violated(error, FOREIGN_KEY_VIOLATION, 'rounds_model_fkey')) throw new NotFoundError('model', round.modelId);
          throw error;
        }
      }),
    get: (id) =>
      run(async (query) => {
        const { rows } = await query<RoundRow>('SELECT * FROM rounds WHERE id = $1', [id]);
        return rows[0] && roundFromRow(rows[0]);
      }),
    list: (filter = {}) =>
      run(async (query) => {
        const { rows } = await query<RoundRow>(
          'SELECT * FROM rounds WHERE ($1::text IS NULL OR job_id = $1) ORDER BY job_id, number, seq',
          [filter.jobId ?? null],
        );
        return rows.map(roundFromRow);
      }),
    insertUpdate: (update) =>
      run(async (query) => {
        try {
          await query(
            `INSERT INTO updates (round_id, client_id, num_examples, sha256, metrics, received_at, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [
              update.roundId,
              update.clientId,
              update.numExamples,
              update.sha256,
              JSON.stringify(update.metrics),
              update.receivedAt,
              update.payload ? encodeBytes(update.payload) : null,
            ],
          );
        } catch (error) {
          if (violated(error, FOREIGN_KEY_VIOLATION, 'updates_round_fkey')) throw new NotFoundError('round', update.roundId);
          if (violated(error, UNIQUE_VIOLATION, 'updates_round_client_key')) {
            throw updateDuplicate(update);
          }
          throw error;
        }
      }),
    listUpdates: (roundId) =>
      run(async (query) => {
        const { rows } = await query<UpdateRow>(
          `SELECT round_id, client_id, num_examples, sha256, metrics, received_at
           FROM updates WHERE round_id = $1 ORDER BY received_at, seq`,
          [roundId],
        );
        return rows.map(updateFromRow);
      }),
    getUpdatePayload: (roundId, clientId) =>
      run(async (query) => {
        const { rows } = await query<{ payload: Buffer | null }>('SELECT payload FROM updates WHERE round_id = $1 AND client_id = $2', [
          roundId,
          clientId,
        ]);
        // A copy: pg may hand a small bytea back as a view into its shared allocation pool.
        return rows[0]?.payload ? new Uint8Array(rows[0].payload) : undefined;
      }),
    clearUpdatePayloads: (roundId) =>
      run(
        async (query) => (await query('UPDATE updates SET payload = NULL WHERE round_id = $1 AND payload IS NOT NULL', [roundId])).rowCount ?? 0,
      ),
  };
}
