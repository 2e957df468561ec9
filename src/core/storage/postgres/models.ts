import { NotFoundError } from '../../errors.js';
import { modelDuplicate, modelVersionDuplicate } from '../conflicts.js';
import { blobDigest, ModelBlobMissingError, ModelWeightsCollectedError, verifiedBlob, type ModelStore } from '../model-store/model-store.js';
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
import { FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION, violated, type Run } from './query.js';

/** Models, their immutable versions and their strategies' state in PostgreSQL; weights in `store` (large objects). */
export function modelRepository(run: Run, store: ModelStore): ModelRepository {
  return {
    insertModel: (model) =>
      run(async (query) => {
        try {
          await query(
            `INSERT INTO models (id, name, architecture, hyperparameters, latest_version, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)`,
            [model.id, model.name, toJson(model.architecture), JSON.stringify(model.hyperparameters), model.latestVersion, model.createdAt],
          );
        } catch (error) {
          if (violated(error, UNIQUE_VIOLATION, 'models_pkey')) {
            throw modelDuplicate(model.id);
          }
          throw error;
        }
      }),
    getModel: (id) =>
      run(async (query) => {
        const { rows } = await query<ModelRow>('SELECT * FROM models WHERE id = $1', [id]);
        return rows[0] && modelFromRow(rows[0]);
      }),
    listModels: () =>
      run(async (query) => (await query<ModelRow>('SELECT * FROM models ORDER BY created_at, seq')).rows.map(modelFromRow)),
    insertVersion: async (version) => {
      const bytes = encodeWeights(version.weights);
      const digest = blobDigest(bytes);
      const insertRow = (): Promise<void> =>
        run(async (query) => {
          try {
            // One statement, so it is atomic without a transaction of its own. GREATEST keeps
            // `latestVersion` pointing at the newest one if an older version is back-filled.
            await query(
              `WITH inserted AS (
                 INSERT INTO model_versions (model_id, version, sha256, parent_version, weights_digest, metrics, round_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 RETURNING model_id, version
               )
               UPDATE models SET latest_version = GREATEST(models.latest_version, inserted.version)
               FROM inserted WHERE models.id = inserted.model_id`,
              [version.modelId, version.version, version.sha256, version.parentVersion, digest, JSON.stringify(version.metrics), version.roundId, version.createdAt],
            );
          } catch (error) {
            if (violated(error, FOREIGN_KEY_VIOLATION, 'model_versions_model_fkey')) throw new NotFoundError('model', version.modelId);
            if (violated(error, UNIQUE_VIOLATION, 'model_versions_pkey')) throw modelVersionDuplicate(version);
            throw error;
          }
        });
      // The blob first: the version's foreign key needs it. Should the version be refused, the blob is
      // unreferenced and `models gc` removes it. Outside a transaction a collection may delete the blob
      // between the two statements; the foreign key then refuses the version, and it is stored again.
      for (let attempt = 1; ; attempt += 1) {
        await store.put(bytes);
        try {
          return await insertRow();
        } catch (error) {
          if (attempt === 2 || !violated(error, FOREIGN_KEY_VIOLATION, 'model_versions_blob_fkey')) throw error;
        }
      }
    },
    getVersion: (modelId, version) =>
      run(async (query) => {
        // One statement: the row and its blob as of the same snapshot.
        const { rows } = await query<VersionRow & { weights: Buffer | null }>(
          `SELECT v.*, lo_get(b.oid) AS weights FROM model_versions v LEFT JOIN model_blobs b ON b.digest = v.weights_digest
           WHERE v.model_id = $1 AND v.version = $2`,
          [modelId, version],
        );
        const row = rows[0];
        if (!row) return undefined;
        if (!row.weights_digest) throw new ModelWeightsCollectedError(modelId, version);
        if (!row.weights) throw new ModelBlobMissingError(row.weights_digest, store.location);
        return { ...versionMetaFromRow(row), weights: decodeWeights(verifiedBlob(row.weights_digest, row.weights, store.location), modelId, version) };
      }),
    listVersions: (modelId) =>
      run(async (query) => {
        const { rows } = await query<VersionRow>(
          `SELECT model_id, version, sha256, parent_version, metrics, round_id, created_at
           FROM model_versions WHERE model_id = $1 ORDER BY version`,
          [modelId],
        );
        return rows.map(versionMetaFromRow);
      }),
    putStrategyState: (state) =>
      run(async (query) => {
        try {
          await query(
            `INSERT INTO strategy_states (model_id, strategy, version, state, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (model_id) DO UPDATE SET strategy = EXCLUDED.strategy, version = EXCLUDED.version, state = EXCLUDED.state,
               updated_at = EXCLUDED.updated_at`,
            [state.modelId, state.strategy, state.version, encodeBytes(state.state), state.updatedAt],
          );
        } catch (error) {
          if (violated(error, FOREIGN_KEY_VIOLATION, 'strategy_states_model_fkey')) throw new NotFoundError('model', state.modelId);
          throw error;
        }
      }),
    getStrategyState: (modelId) =>
      run(async (query) => {
        const { rows } = await query<StrategyStateRow>('SELECT * FROM strategy_states WHERE model_id = $1', [modelId]);
        return rows[0] && strategyStateFromRow(rows[0]);
      }),
    listWeightReferences: () =>
      run(async (query) => {
        const { rows } = await query<WeightReference>(
          'SELECT model_id AS "modelId", version, weights_digest AS digest FROM model_versions ORDER BY model_id, version',
        );
        return rows;
      }),
    dropWeights: (modelId, version) =>
      run(async (query) => {
        const { rowCount } = await query('UPDATE model_versions SET weights_digest = NULL WHERE model_id = $1 AND version = $2 AND weights_digest IS NOT NULL', [modelId, version]);
        return (rowCount ?? 0) > 0;
      }),
  };
}
