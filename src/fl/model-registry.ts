import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { InvalidInputError, NotFoundError } from '../core/errors.js';
import type { ModelRecord, ModelVersionRecord, Storage } from '../core/storage/repository.js';

/** What a model is registered with: its architecture, hyperparameters and version-1 weights. */
export interface ModelConfig {
  name: string;
  architecture: unknown;
  hyperparameters?: Record<string, unknown>;
  initialWeights: Float32Array;
}

/** Lower and upper bounds a model version's metrics must meet to be accepted. */
export interface MetricThresholds {
  minAccuracy?: number;
  maxLoss?: number;
}

/** A version's identity without its weights. */
export type ModelVersionInfo = Omit<ModelVersionRecord, 'weights'>;

/** Content address of a weight vector: sha256 over its little-endian float32 bytes. */
export function weightsSha256(weights: Float32Array): string {
  return createHash('sha256')
    .update(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength))
    .digest('hex');
}

/**
 * Versioned, content-addressed model store. Every update creates version v+1 whose lineage points
 * at the version it was derived from, so a model's history can be replayed and audited.
 */
export class ModelRegistry extends EventEmitter {
  constructor(
    private readonly storage: Storage,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** Registers a model and stores its initial weights as version 1; returns the model id. */
  async registerModel(config: ModelConfig): Promise<string> {
    if (config.name.trim() === '') {
      throw new InvalidInputError('MODEL_NAME_INVALID', 'model name must not be empty');
    }
    assertFinite(config.initialWeights);
    const id = `model-${randomUUID()}`;
    const createdAt = this.now();
    const model: ModelRecord = {
      id,
      name: config.name,
      architecture: config.architecture,
      hyperparameters: config.hyperparameters ?? {},
      latestVersion: 0,
      createdAt,
    };
    await this.storage.transaction(async () => {
      await this.storage.models.insertModel(model);
      await this.storage.models.insertVersion({
        modelId: id,
        version: 1,
        sha256: weightsSha256(config.initialWeights),
        parentVersion: null,
        weights: config.initialWeights,
        metrics: {},
        roundId: null,
        createdAt,
      });
    });
    this.emit('model:registered', { modelId: id });
    return id;
  }

  /** Stores `weights` as the model's next version, derived from its current latest version. */
  async updateModel(
    modelId: string,
    weights: Float32Array,
    options: { metrics?: Record<string, number>; roundId?: string } = {},
  ): Promise<ModelVersionInfo> {
    assertFinite(weights);
    return this.storage.transaction(async () => {
      const model = await this.requireModel(modelId);
      const parent = await this.requireVersion(modelId, model.latestVersion);
      if (parent.weights.length !== weights.length) {
        throw new InvalidInputError(
          'MODEL_WEIGHTS_SHAPE',
          `model '${modelId}' has ${parent.weights.length} parameters, the update has ${weights.length}`,
        );
      }
      const record: ModelVersionRecord = {
        modelId,
        version: model.latestVersion + 1,
        sha256: weightsSha256(weights),
        parentVersion: model.latestVersion,
        weights,
        metrics: options.metrics ?? {},
        roundId: options.roundId ?? null,
        createdAt: this.now(),
      };
      await this.storage.models.insertVersion(record);
      const { weights: _weights, ...info } = record;
      this.emit('model:updated', info);
      return info;
    });
  }

  /** True when the metrics meet every threshold given. */
  async validateModel(modelId: string, metrics: { accuracy: number; loss: number }, thresholds: MetricThresholds): Promise<boolean> {
    await this.requireModel(modelId);
    if (thresholds.minAccuracy !== undefined && !(metrics.accuracy >= thresholds.minAccuracy)) return false;
    if (thresholds.maxLoss !== undefined && !(metrics.loss <= thresholds.maxLoss)) return false;
    return true;
  }

  /** The model's record. */
  async getModel(modelId: string): Promise<ModelRecord> {
    return this.requireModel(modelId);
  }

  /** All registered models, oldest first. */
  async listModels(): Promise<ModelRecord[]> {
    return this.storage.models.listModels();
  }

  /** A version with its weights; the latest when `version` is omitted. */
  async getVersion(modelId: string, version?: number): Promise<ModelVersionRecord> {
    const model = await this.requireModel(modelId);
    return this.requireVersion(modelId, version ?? model.latestVersion);
  }

  /** The model's versions without weights, oldest first. */
  async lineage(modelId: string): Promise<ModelVersionInfo[]> {
    await this.requireModel(modelId);
    return this.storage.models.listVersions(modelId);
  }

  private async requireModel(modelId: string): Promise<ModelRecord> {
    const model = await this.storage.models.getModel(modelId);
    if (!model) throw new NotFoundError('model', modelId);
    return model;
  }

  private async requireVersion(modelId: string, version: number): Promise<ModelVersionRecord> {
    const record = await this.storage.models.getVersion(modelId, version);
    if (!record) throw new NotFoundError('model version', `${modelId}@${version}`);
    return record;
  }
}

function assertFinite(weights: Float32Array): void {
  const bad = weights.findIndex((w) => !Number.isFinite(w));
  if (bad >= 0) {
    throw new InvalidInputError('MODEL_WEIGHTS_NONFINITE', `weight ${bad} is ${weights[bad]}; weights must be finite numbers`);
  }
}
