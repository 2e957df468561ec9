import { NotFoundError } from '../../errors.js';
import { modelDuplicate, modelVersionDuplicate } from '../conflicts.js';
import { blobDigest, ModelWeightsCollectedError } from '../model-store/model-store.js';
import type { FileModelStore } from '../model-store/file-model-store.js';
import type { ModelRepository, WeightReference } from '../repository.js';
import {
  decodeWeights,
  encodeBytes,
  encodeWeights,
  modelFromRow,
  strategyStateFromRow,
  toJson,
  versionMetaFromRow,
  type ModelRow,
  type StrategyStateRow,
  type VersionRow,
} from '../rows.js';
import { isSqliteError, type Run } from './connection.js';

/** Models, their immutable versions and their strategies' state in SQLite; weights in `store`, by digest. */
export function modelRepository(run: Run, store: FileModelStore): ModelRepository {
  return {
    insertModel: (model) =>
      run((db) => {
        try {
          db.prepare(
            `INSERT INTO models (id, name, architecture, hyperparameters, latest_version, created_at)
             VALUES (@id, @name, @architecture, @hyperparameters, @latestVersion, @createdAt)`,
          ).run({
            id: model.id,
            name: model.name,
            architecture: toJson(model.architecture),
            hyperparameters: JSON.stringify(model.hyperparameters),
            latestVersion: model.latestVersion,
            createdAt: model.createdAt,
          });
        } catch (error) {
          if (isSqliteError(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) {
            throw modelDuplicate(model.id);
          }
          throw error;
        }
      }),
    getModel: (id) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM models WHERE id = ?').get(id) as ModelRow | undefined;
        return row && modelFromRow(row);
      }),
    listModels: () =>
      run((db) =>
        (db.prepare('SELECT * FROM models ORDER BY created_at, rowid').all() as ModelRow[]).map(modelFromRow),
      ),
    insertVersion: (version) =>
      run((db) => {
        const bytes = encodeWeights(version.weights);
        const digest = blobDigest(bytes);
        // IMMEDIATE: the blob is written while this connection holds the write lock, which garbage
        // collection in another process also holds while it deletes unreferenced blobs.
        db.transaction(() => {
          if (!db.prepare('SELECT 1 FROM models WHERE id = ?').get(version.modelId)) {
            throw new NotFoundError('model', version.modelId);
          }
          try {
            db.prepare(
              `INSERT INTO model_versions (model_id, version, sha256, parent_version, weights_digest, metrics, round_id, created_at)
               VALUES (@modelId, @version, @sha256, @parentVersion, @digest, @metrics, @roundId, @createdAt)`,
            ).run({
              modelId: version.modelId,
              version: version.version,
              sha256: version.sha256,
              parentVersion: version.parentVersion,
              digest,
              metrics: JSON.stringify(version.metrics),
              roundId: version.roundId,
              createdAt: version.createdAt,
            });
          } catch (error) {
            if (isSqliteError(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) {
              throw modelVersionDuplicate(version);
            }
            throw error;
          }
          // MAX keeps `latestVersion` pointing at the newest one if an older version is back-filled.
          db.prepare('UPDATE models SET latest_version = MAX(latest_version, ?) WHERE id = ?').run(
            version.version,
            version.modelId,
          );
          // Last: a blob that cannot be written rolls the row back; a row refused above leaves no blob.
          store.putSync(bytes);
        }).immediate();
      }),
    getVersion: (modelId, version) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM model_versions WHERE model_id = ? AND version = ?').get(modelId, version) as VersionRow | undefined;
        if (!row) return undefined;
        if (!row.weights_digest) throw new ModelWeightsCollectedError(modelId, version);
        return { ...versionMetaFromRow(row), weights: decodeWeights(store.getSync(row.weights_digest), modelId, version) };
      }),
    listVersions: (modelId) =>
      run((db) =>
        (
          db
            .prepare(
              `SELECT model_id, version, sha256, parent_version, metrics, round_id, created_at
               FROM model_versions WHERE model_id = ? ORDER BY version`,
            )
            .all(modelId) as VersionRow[]
        ).map(versionMetaFromRow),
      ),
    putStrategyState: (state) =>
      run((db) => {
        if (!db.prepare('SELECT 1 FROM models WHERE id = ?').get(state.modelId)) throw new NotFoundError('model', state.modelId);
        db.prepare(
          `INSERT INTO strategy_states (model_id, strategy, version, state, updated_at) VALUES (@modelId, @strategy, @version, @state, @updatedAt)
           ON CONFLICT (model_id) DO UPDATE SET strategy = excluded.strategy, version = excluded.version, state = excluded.state, updated_at = excluded.updated_at`,
        ).run({ modelId: state.modelId, strategy: state.strategy, version: state.version, state: encodeBytes(state.state), updatedAt: state.updatedAt });
      }),
    getStrategyState: (modelId) =>
      run((db) => {
        const row = db.prepare('SELECT * FROM strategy_states WHERE model_id = ?').get(modelId) as StrategyStateRow | undefined;
        return row && strategyStateFromRow(row);
      }),
    listWeightReferences: () =>
      run((db) =>
        db
          .prepare('SELECT model_id AS modelId, version, weights_digest AS digest FROM model_versions ORDER BY model_id, version')
          .all() as WeightReference[],
      ),
    dropWeights: (modelId, version) =>
      run((db) => db.prepare('UPDATE model_versions SET weights_digest = NULL WHERE model_id = ? AND version = ? AND weights_digest IS NOT NULL').run(modelId, version).changes > 0),
  };
}
