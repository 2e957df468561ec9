import { NotFoundError } from '../../errors.js';
import { updateDuplicate } from '../conflicts.js';
import type { RoundRepository } from '../repository.js';
import { encodeBytes, roundFromRow, updateFromRow, type RoundRow, type UpdateRow } from '../rows.js';
import { isSqliteError, type Run } from './connection.js';
import type { UpdateJournal } from './update-journal.js';

/**
 * Training rounds and the updates clients submit to them in SQLite. With a journal, an update's bytes
 * go to it before the row is written (a row's payload column is then empty); without one (an
 * in-memory database) they stay in the row.
 */
export function roundRepository(run: Run, journaled?: { journal: UpdateJournal; afterCommit: (work: () => Promise<unknown>) => Promise<void> }): RoundRepository {
  const journal = journaled?.journal;
  return {
    upsert: (round) =>
      run((db) =>
        db.transaction(() => {
          // Checked here, not left to the foreign key, so the error can name the missing model.
          if (!db.prepare('SELECT 1 FROM models WHERE id = ?').get(round.modelId)) {
            throw new NotFoundError('model', round.modelId);
          }
          db.prepare(
            `INSERT INTO rounds (id, job_id, model_id, number, status, participants, quorum, deadline,
               base_version, result_version, metrics, started_at, finished_at, error)
             VALUES (@id, @jobId, @modelId, @number, @status, @participants, @quorum, @deadline,
               @baseVersion, @resultVersion, @metrics, @startedAt, @finishedAt, @error)
             ON CONFLICT (id) DO UPDATE SET job_id = excluded.job_id, model_id = excluded.model_id,
               number = excluded.number, status = excluded.status, participants = excluded.participants,
               quorum = excluded.quorum, deadline = excluded.deadline, base_version = excluded.base_version,
               result_version = excluded.result_version, metrics = excluded.metrics,
               started_at = excluded.started_at, finished_at = excluded.finished_at, error = excluded.error`,
          ).run({
            id: round.id,
            jobId: round.jobId,
            modelId: round.modelId,
            number: round.number,
            status: round.status,
            participants: JSON.stringify(round.participants),
            quorum: round.quorum,
            deadline: round.deadline,
            baseVersion: round.baseVersion,
            resultVersion: round.resultVersion,
            metrics: JSON.stringify(round.metrics),
            startedAt: round.startedAt,
            finishedAt: round.finishedAt,
            error: round.error,
          });
        })(),
      ),
    get: (id) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM rounds WHERE id = ?').get(id) as RoundRow | undefined;
        return row && roundFromRow(row);
      }),
    list: (filter = {}) =>
      run((db) => {
        const rows = db
          .prepare('SELECT * FROM rounds WHERE (@jobId IS NULL OR job_id = @jobId) ORDER BY job_id, number, rowid')
          .all({ jobId: filter.jobId ?? null }) as RoundRow[];
        return rows.map(roundFromRow);
      }),
    insertUpdate: async (update) => {
      const journaled = journal !== undefined && update.payload !== undefined;
      if (journaled) {
        // Checked before the bytes go down: a refused update must not become its client's newest record.
        await run((db) => {
          if (!db.prepare('SELECT 1 FROM rounds WHERE id = ?').get(update.roundId)) throw new NotFoundError('round', update.roundId);
          if (db.prepare('SELECT 1 FROM updates WHERE round_id = ? AND client_id = ?').get(update.roundId, update.clientId)) throw updateDuplicate(update);
        });
        await journal.append(update.roundId, update.clientId, update.payload as Uint8Array);
      }
      return run((db) => {
        if (!db.prepare('SELECT 1 FROM rounds WHERE id = ?').get(update.roundId)) {
          throw new NotFoundError('round', update.roundId);
        }
        try {
          db.prepare(
            `INSERT INTO updates (round_id, client_id, num_examples, sha256, metrics, received_at, payload)
             VALUES (@roundId, @clientId, @numExamples, @sha256, @metrics, @receivedAt, @payload)`,
          ).run({
            roundId: update.roundId,
            clientId: update.clientId,
            numExamples: update.numExamples,
            sha256: update.sha256,
            metrics: JSON.stringify(update.metrics),
            receivedAt: update.receivedAt,
            payload: update.payload && !journaled ? encodeBytes(update.payload) : null,
          });
        } catch (error) {
          if (isSqliteError(error, 'SQLITE_CONSTRAINT_UNIQUE')) {
            throw updateDuplicate(update);
          }
          throw error;
        }
      });
    },
    listUpdates: (roundId) =>
      run((db) =>
        (
          db
            .prepare('SELECT round_id, client_id, num_examples, sha256, metrics, received_at FROM updates WHERE round_id = ? ORDER BY received_at, rowid')
            .all(roundId) as UpdateRow[]
        ).map(updateFromRow),
      ),
    getUpdatePayload: async (roundId, clientId) => {
      const row = await run((db) => db.prepare('SELECT payload FROM updates WHERE round_id = ? AND client_id = ?').get(roundId, clientId) as { payload: Buffer | null } | undefined);
      if (!row) return undefined;
      // A row restored from a backup, or written before the journal, carries its bytes itself.
      if (row.payload) return new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength);
      return journal?.read(roundId, clientId);
    },
    clearUpdatePayloads: async (roundId) => {
      const inRows = await run((db) => db.prepare('UPDATE updates SET payload = NULL WHERE round_id = ? AND payload IS NOT NULL').run(roundId).changes);
      if (!journaled) return inRows;
      const inJournal = await journaled.journal.count(roundId);
      // Deleted once the round's new state is committed: a rollback (or a crash before the commit) leaves the round resumable.
      await journaled.afterCommit(() => journaled.journal.remove(roundId));
      return inRows + inJournal;
    },
  };
}
