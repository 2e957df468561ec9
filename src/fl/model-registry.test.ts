import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { openStorage, type Storage } from '../core/index.js';
import { ModelRegistry, weightsSha256 } from './model-registry.js';

describe('ModelRegistry', () => {
  let storage: Storage;
  let registry: ModelRegistry;

  beforeEach(async () => {
    storage = await openStorage({ path: ':memory:' });
    registry = new ModelRegistry(storage);
  });
  afterEach(async () => {
    await storage.close();
  });

  it('hashes the little-endian float32 bytes of the weights', () => {
    const w = new Float32Array([1, -2.5, 3]);
    const expected = createHash('sha256').update(Buffer.from(w.buffer)).digest('hex');
    expect(weightsSha256(w)).toBe(expected);
    expect(weightsSha256(new Float32Array([1, -2.5, 3.0000002]))).not.toBe(expected);
  });

  it('registers version 1 and records lineage on each update', async () => {
    const id = await registry.registerModel({ name: 'm', architecture: { type: 'mlp' }, initialWeights: new Float32Array([0, 0]) });
    const v2 = await registry.updateModel(id, new Float32Array([1, 2]), { metrics: { accuracy: 0.5 } });
    const v3 = await registry.updateModel(id, new Float32Array([3, 4]));
    expect(v2).toMatchObject({ version: 2, parentVersion: 1, sha256: weightsSha256(new Float32Array([1, 2])) });
    expect(v3).toMatchObject({ version: 3, parentVersion: 2 });
    const lineage = await registry.lineage(id);
    expect(lineage.map((v) => [v.version, v.parentVersion])).toEqual([
      [1, null],
      [2, 1],
      [3, 2],
    ]);
    expect(Array.from((await registry.getVersion(id)).weights)).toEqual([3, 4]);
    expect(Array.from((await registry.getVersion(id, 2)).weights)).toEqual([1, 2]);
    expect((await registry.getModel(id)).latestVersion).toBe(3);
  });

  it('refuses an update of the wrong length or with non-finite weights, leaving the model as it was', async () => {
    const id = await registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array([0, 0]) });
    await expect(registry.updateModel(id, new Float32Array([1, 2, 3]))).rejects.toMatchObject({ code: 'MODEL_WEIGHTS_SHAPE' });
    await expect(registry.updateModel(id, new Float32Array([1, Number.NaN]))).rejects.toMatchObject({ code: 'MODEL_WEIGHTS_NONFINITE' });
    expect((await registry.getModel(id)).latestVersion).toBe(1);
    expect(await registry.lineage(id)).toHaveLength(1);
  });

  it('validates metrics against thresholds', async () => {
    const id = await registry.registerModel({ name: 'm', architecture: {}, initialWeights: new Float32Array([0]) });
    expect(await registry.validateModel(id, { accuracy: 0.9, loss: 0.3 }, { minAccuracy: 0.85, maxLoss: 0.5 })).toBe(true);
    expect(await registry.validateModel(id, { accuracy: 0.8, loss: 0.3 }, { minAccuracy: 0.85 })).toBe(false);
    expect(await registry.validateModel(id, { accuracy: 0.9, loss: 0.6 }, { maxLoss: 0.5 })).toBe(false);
    expect(await registry.validateModel(id, { accuracy: Number.NaN, loss: 0.1 }, { minAccuracy: 0 })).toBe(false);
  });

  it('names the missing model', async () => {
    await expect(registry.getModel('model-nope')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    await expect(registry.updateModel('model-nope', new Float32Array([1]))).rejects.toThrow(/model-nope/);
  });
});
