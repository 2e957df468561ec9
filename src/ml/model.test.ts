import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { LocalModel } from './model.js';
import type { ModelSpec } from './model-spec.js';

const mlp: ModelSpec = { type: 'mlp', inputShape: [8, 8, 1], hidden: [32, 16], activation: 'tanh', numClasses: 10 };
const cnn: ModelSpec = { type: 'cnn', inputShape: [8, 8, 1], conv: [{ filters: 4, kernelSize: 3, pool: 2 }], dense: [16], numClasses: 10 };

beforeAll(initBackend);

describe('LocalModel', () => {
  it('builds an MLP with the expected weight shapes', async () => {
    const model = await LocalModel.create(mlp, { seed: 1 });
    expect(model.layerShapes().map((l) => l.shape)).toEqual([[64, 32], [32], [32, 16], [16], [16, 10], [10]]);
    expect(model.numParams).toBe(64 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10);
    expect(model.inputShape).toEqual([64]);
    model.dispose();
  });

  it('builds a CNN whose logits have numClasses columns', async () => {
    const model = await LocalModel.create(cnn, { seed: 1 });
    expect(model.layerShapes().map((l) => l.shape)).toEqual([[3, 3, 1, 4], [4], [36, 16], [16], [16, 10], [10]]);
    const out = tf.tidy(() => model.logits(tf.zeros([2, 8, 8, 1])).shape);
    expect(out).toEqual([2, 10]);
    model.dispose();
  });

  it('draws the same Glorot-uniform weights for the same seed, zero biases', async () => {
    const a = await LocalModel.create(mlp, { seed: 42 });
    const b = await LocalModel.create(mlp, { seed: 42 });
    const c = await LocalModel.create(mlp, { seed: 43 });
    const wa = a.getWeights();
    expect(wa).toEqual(b.getWeights());
    expect(wa).not.toEqual(c.getWeights());
    const limit = Math.sqrt(6 / (64 + 32));
    const kernel = wa.subarray(0, 64 * 32);
    expect(Math.max(...kernel)).toBeLessThanOrEqual(limit);
    expect(Math.min(...kernel)).toBeGreaterThanOrEqual(-limit);
    expect(Math.max(...kernel)).toBeGreaterThan(limit * 0.9);
    expect(wa.subarray(64 * 32, 64 * 32 + 32).every((v) => v === 0)).toBe(true);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('round-trips weights and checks their length', async () => {
    const model = await LocalModel.create(cnn, { seed: 3 });
    const flat = Float32Array.from({ length: model.numParams }, (_, i) => Math.sin(i));
    const before = tf.memory().numTensors;
    model.setWeights(flat);
    expect(tf.memory().numTensors).toBe(before);
    expect(model.getWeights()).toEqual(flat);
    expect(() => model.setWeights(new Float32Array(5))).toThrow(expect.objectContaining({ code: 'MODEL_WEIGHTS_SHAPE' }));
    model.dispose();
  });

  it('frees its tensors on dispose', async () => {
    const before = tf.memory().numTensors;
    const model = await LocalModel.create(cnn, { seed: 3 });
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses an impossible spec', async () => {
    await expect(LocalModel.create({ ...mlp, numClasses: 1 }, { seed: 1 })).rejects.toMatchObject({ code: 'MODEL_SPEC_INVALID' });
  });
});
