import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTimerTicks } from '../../test/support/timer-ticks.js';
import { Rng } from '../core/rng.js';
import { initBackend } from './backend.js';
import { loadCsvDataset } from './csv.js';
import { createDataset, subset, type Dataset } from './dataset.js';
import { LocalModel } from './model.js';
import type { ModelSpec } from './model-spec.js';
import { evaluate, predict, train, type TrainOptions } from './trainer.js';

const spec: ModelSpec = { type: 'mlp', inputShape: [64], hidden: [64], activation: 'relu', numClasses: 10 };
const base: TrainOptions = { epochs: 1, batchSize: 32, learningRate: 0.01, optimizer: 'adam', seed: 7 };
let trainSet: Dataset;
let testSet: Dataset;

beforeAll(async () => {
  await initBackend();
  const opts = { labelColumn: 64, scale: { kind: 'divide', by: 16 } } as const;
  trainSet = (await loadCsvDataset('data/optdigits/optdigits.tra', opts)).dataset;
  testSet = (await loadCsvDataset('data/optdigits/optdigits.tes', opts)).dataset;
});

describe('train and evaluate', () => {
  it('reach > 0.9 test accuracy on optdigits with a 64-64-10 MLP in 5 epochs', async () => {
    const model = await LocalModel.create(spec, { seed: 1 });
    const result = await train(model, trainSet, { ...base, epochs: 5 });
    expect(result.numExamples).toBe(3823);
    expect(result.steps).toBe(5 * Math.ceil(3823 / 32));
    expect(result.loss).toBeLessThan(0.3);
    const metrics = await evaluate(model, testSet, { batchSize: 500 });
    expect(metrics.numExamples).toBe(1797);
    expect(metrics.accuracy).toBeGreaterThan(0.9);
    expect(metrics.loss).toBeLessThan(0.5);
    model.dispose();
  });

  it('gives bit-identical weights for the same seeds', async () => {
    const data = subset(trainSet, Array.from({ length: 500 }, (_, i) => i));
    const run = async (seed: number): Promise<Float32Array> => {
      const model = await LocalModel.create(spec, { seed: 11 });
      await train(model, data, { ...base, epochs: 2, optimizer: 'momentum', seed });
      const w = model.getWeights();
      model.dispose();
      return w;
    };
    const [a, b, c] = [await run(3), await run(3), await run(4)];
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(a).not.toEqual(c);
  });

  it('given yieldEveryMs, lets timers run while it trains, and trains the same weights', async () => {
    const data = subset(trainSet, Array.from({ length: 1000 }, (_, i) => i));
    const run = async (yieldEveryMs?: number): Promise<{ weights: Float32Array; ticks: number }> => {
      const model = await LocalModel.create(spec, { seed: 11 });
      const { ticks } = await withTimerTicks(() => train(model, data, { ...base, epochs: 3, batchSize: 8, ...(yieldEveryMs === undefined ? {} : { yieldEveryMs }) }));
      const weights = model.getWeights();
      model.dispose();
      return { weights, ticks };
    };
    const blocking = await run();
    const yielding = await run(5);
    expect(blocking.ticks).toBe(0);
    expect(yielding.ticks).toBeGreaterThan(0);
    expect(Buffer.from(yielding.weights.buffer).equals(Buffer.from(blocking.weights.buffer))).toBe(true);
  });

  it('leaks no tensors', async () => {
    const model = await LocalModel.create(spec, { seed: 2 });
    const data = subset(trainSet, Array.from({ length: 100 }, (_, i) => i));
    const before = tf.memory().numTensors;
    await train(model, data, { ...base, epochs: 2, optimizer: 'adam' });
    await train(model, data, { ...base, optimizer: 'sgd', proximalMu: 0.1, globalWeights: model.getWeights() });
    await train(model, data, { ...base, optimizer: 'momentum', momentum: 0.9 });
    await evaluate(model, data, { batchSize: 33 });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('keeps weights closer to the global model as the FedProx mu grows', async () => {
    const data = subset(trainSet, Array.from({ length: 300 }, (_, i) => i));
    const drift = async (mu: number): Promise<number> => {
      const model = await LocalModel.create(spec, { seed: 5 });
      const global = model.getWeights();
      await train(model, data, { ...base, epochs: 3, optimizer: 'sgd', learningRate: 0.1, proximalMu: mu, globalWeights: global });
      const w = model.getWeights();
      model.dispose();
      return Math.sqrt(w.reduce((s, v, i) => s + (v - global[i]) ** 2, 0));
    };
    const free = await drift(0);
    const prox = await drift(1);
    expect(prox).toBeLessThan(free * 0.9);
  });

  it('proximal term with w = w_global leaves the first step equal to plain SGD', async () => {
    const data = subset(trainSet, [0, 1, 2, 3]);
    const step = async (mu: number): Promise<Float32Array> => {
      const model = await LocalModel.create(spec, { seed: 9 });
      await train(model, data, { ...base, batchSize: 4, optimizer: 'sgd', proximalMu: mu, globalWeights: model.getWeights() });
      const w = model.getWeights();
      model.dispose();
      return w;
    };
    expect(await step(5)).toEqual(await step(0));
  });

  it('trains a CNN on 8x8 images', async () => {
    const images = { ...trainSet, featureShape: [8, 8, 1] };
    const cnn: ModelSpec = { type: 'cnn', inputShape: [8, 8, 1], conv: [{ filters: 8, kernelSize: 3, pool: 2 }], dense: [32], numClasses: 10 };
    const model = await LocalModel.create(cnn, { seed: 1 });
    await train(model, images, { ...base, epochs: 2 });
    expect((await evaluate(model, { ...testSet, featureShape: [8, 8, 1] })).accuracy).toBeGreaterThan(0.85);
    model.dispose();
  });

  it('predicts the classes evaluate counts as correct, with probabilities that sum to one', async () => {
    const model = await LocalModel.create(spec, { seed: 3 });
    await train(model, subset(trainSet, Array.from({ length: 600 }, (_, i) => i)), base);
    const { accuracy } = await evaluate(model, testSet, { batchSize: 512 });
    // A batch size that does not divide the set checks the last, short batch lands in place.
    const { classes, probabilities, numClasses } = await predict(model, testSet, { batchSize: 500 });
    expect(numClasses).toBe(10);
    expect(classes).toHaveLength(1797);
    expect(probabilities).toHaveLength(1797 * 10);
    let correct = 0;
    for (let i = 0; i < classes.length; i++) {
      const row = probabilities.subarray(i * 10, i * 10 + 10);
      expect(row.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5);
      // The predicted class is the most probable one.
      expect(row[classes[i]]).toBe(Math.max(...row));
      if (classes[i] === testSet.labels[i]) correct++;
    }
    expect(correct / 1797).toBe(accuracy);
    model.dispose();
  });

  it('refuses bad options and mismatched data', async () => {
    const model = await LocalModel.create(spec, { seed: 1 });
    const small = subset(trainSet, [0, 1]);
    await expect(train(model, small, { ...base, batchSize: 0 })).rejects.toMatchObject({ code: 'TRAIN_OPTIONS_INVALID', message: expect.stringContaining('batchSize') });
    await expect(train(model, small, { ...base, proximalMu: 0.1 })).rejects.toMatchObject({ code: 'TRAIN_OPTIONS_INVALID', message: expect.stringContaining('globalWeights') });
    const wide = createDataset(new Float32Array(10), new Int32Array([0]), [10]);
    await expect(train(model, wide, base)).rejects.toMatchObject({ code: 'MODEL_SPEC_MISMATCH' });
    await expect(evaluate(model, wide)).rejects.toMatchObject({ code: 'MODEL_SPEC_MISMATCH' });
    await expect(predict(model, wide)).rejects.toMatchObject({ code: 'MODEL_SPEC_MISMATCH' });
    model.dispose();
  });

  it('uses no Math.random: shuffling follows the seed only', async () => {
    const rng = new Rng(1);
    expect(rng.next()).toBe(new Rng(1).next());
    const original = Math.random;
    Math.random = () => {
      throw new Error('Math.random called');
    };
    try {
      const model = await LocalModel.create(spec, { seed: 1 });
      await train(model, subset(trainSet, [0, 1, 2]), base);
      model.dispose();
    } finally {
      Math.random = original;
    }
  });
});
