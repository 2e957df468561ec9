import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTimerTicks } from '../../test/support/timer-ticks.js';
import { InvalidInputError } from '../core/errors.js';
import { SeededNoiseSource, defaultGridStep, gridL2Sensitivity } from '../privacy/dp/index.js';
import { initBackend } from './backend.js';
import { loadCsvDataset } from './csv.js';
import { subset, type Dataset } from './dataset.js';
import { clippedGradientSum, functionalLogits, perExampleSquaredNorms, privatiseGradientSum, trainDpSgd, type DpSgdOptions } from './dp-sgd.js';
import { LocalModel } from './model.js';
import type { ModelSpec } from './model-spec.js';
import { evaluate, train } from './trainer.js';

const mlp: ModelSpec = { type: 'mlp', inputShape: [64], hidden: [32, 16], activation: 'tanh', numClasses: 10 };
// Two conv layers so that the second one's patches span several input channels; pooling after it.
const cnn: ModelSpec = { type: 'cnn', inputShape: [8, 8, 1], conv: [{ filters: 4, kernelSize: 3 }, { filters: 6, kernelSize: 2, pool: 2 }], dense: [12], numClasses: 10 };
// The default grid is 1% of the clip norm over sqrt(d): with nothing clipped (C = 1e6) the tests that
// compare against plain steps need a grid fine enough to vanish next to float32 rounding.
const base: DpSgdOptions = { steps: 1, samplingRate: 1, noiseMultiplier: 0, l2NormClip: 1e6, learningRate: 0.1, optimizer: 'sgd', seed: 1, gridStep: 2 ** -40 };
let trainSet: Dataset;
let testSet: Dataset;

beforeAll(async () => {
  await initBackend();
  const opts = { labelColumn: 64, scale: { kind: 'divide', by: 16 } } as const;
  trainSet = (await loadCsvDataset('data/optdigits/optdigits.tra', opts)).dataset;
  testSet = (await loadCsvDataset('data/optdigits/optdigits.tes', opts)).dataset;
});

function first(n: number): Dataset {
  return subset(trainSet, Array.from({ length: n }, (_, i) => i));
}

function batchOf(model: LocalModel, ds: Dataset): { x: tf.Tensor; y: tf.Tensor2D } {
  return {
    x: tf.tensor(ds.features, [ds.numExamples, ...model.inputShape], 'float32'),
    y: tf.oneHot(tf.tensor1d(ds.labels, 'int32'), 10).toFloat() as tf.Tensor2D,
  };
}

function l2(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

describe.each([
  ['MLP', mlp],
  ['CNN', cnn],
])('vectorised per-example gradients of a %s', (_, spec) => {
  it('uses a forward pass that gives the model its own logits', async () => {
    const model = await LocalModel.create(spec, { seed: 3 });
    const { x, y } = batchOf(model, first(20));
    const [ours, theirs] = [functionalLogits(model, x), model.logits(x)];
    expect(Math.max(...tf.abs(tf.sub(ours, theirs)).dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, y, ours, theirs]);
    model.dispose();
  });

  it('gives the same squared norms as one tf.variableGrads per example', async () => {
    const model = await LocalModel.create(spec, { seed: 4 });
    const data = first(12);
    const { x, y } = batchOf(model, data);
    const before = tf.memory().numTensors;
    const norms = perExampleSquaredNorms(model, x, y);
    expect(tf.memory().numTensors).toBe(before + 1);
    const fast = norms.dataSync();
    norms.dispose();
    for (let i = 0; i < data.numExamples; i++) {
      const naive = tf.tidy(() => {
        const xi = tf.slice(x, i, 1);
        const yi = tf.slice(y, i, 1);
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(yi, model.logits(xi)) as tf.Scalar, model.variables());
        value.dispose();
        return tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))).dataSync()[0];
      });
      expect(Math.abs(fast[i] - naive) / naive, `example ${i}`).toBeLessThan(1e-4);
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  it('takes the plain mean-gradient step when nothing is clipped and no noise is added (q = 1)', async () => {
    const data = first(40);
    const model = await LocalModel.create(spec, { seed: 5 });
    const start = model.getWeights();
    const expected = tf.tidy(() => {
      const { x, y } = batchOf(model, data);
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.logits(x)) as tf.Scalar, model.variables());
      value.dispose();
      return tf.concat(model.variables().map((v) => tf.sub(v, tf.mul(grads[v.name], 0.1)).flatten())).dataSync() as Float32Array;
    });
    const result = await trainDpSgd(model, data, { ...base, noise: new SeededNoiseSource(1) });
    expect(result.steps).toBe(1);
    expect(l2(model.getWeights(), expected)).toBeLessThan(1e-5 * l2(start, expected) + 1e-6);
    model.dispose();
  });

  it('bounds one example\'s update by learningRate * C', async () => {
    const model = await LocalModel.create(spec, { seed: 6 });
    const start = model.getWeights();
    await trainDpSgd(model, first(1), { ...base, l2NormClip: 0.01, learningRate: 1, noise: new SeededNoiseSource(1) });
    const moved = l2(model.getWeights(), start);
    expect(moved).toBeLessThanOrEqual(0.01 * (1 + 1e-4));
    // The raw gradient is far longer than 0.01, so the clipped one sits on the sphere.
    expect(moved).toBeGreaterThan(0.0099);
    model.dispose();
  });
});

describe('clippedGradientSum', () => {
  it('clips each example to C over all parameters jointly and leaks nothing', async () => {
    const model = await LocalModel.create(cnn, { seed: 7 });
    const { x, y } = batchOf(model, first(16));
    const before = tf.memory().numTensors;
    const { sum, squaredNorms, lossSum } = clippedGradientSum(model, x, y, 0.05);
    const norms = Array.from(squaredNorms.dataSync(), Math.sqrt);
    // Every raw norm exceeds C, so each clipped gradient has norm exactly C and the sum at most 16 C.
    expect(Math.min(...norms)).toBeGreaterThan(0.05);
    const total = Math.sqrt(tf.tidy(() => tf.addN(sum.map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
    expect(total).toBeLessThanOrEqual(16 * 0.05 * (1 + 1e-5));
    expect(lossSum.dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([...sum, squaredNorms, lossSum]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('privatiseGradientSum', () => {
  it('rounds the sum to the grid, adds the discrete Gaussian of std sigma (C + sqrt(d) steps) and divides by the expected batch size', () => {
    const size = 40_000;
    const sum = [tf.fill([size / 4, 4], 3), tf.zeros([0])];
    const [noisy, empty] = privatiseGradientSum(sum, { l2NormClip: 2, noiseMultiplier: 1.5, expectedBatchSize: 50 }, new SeededNoiseSource(9));
    expect(empty.shape).toEqual([0]);
    const v = noisy.dataSync();
    let mean = 0;
    for (const s of v) mean += s / size;
    let variance = 0;
    for (const s of v) variance += (s - mean) ** 2 / (size - 1);
    const step = defaultGridStep(2, size);
    const sd = (1.5 * gridL2Sensitivity(2, step, size) * step) / 50;
    // Rounding widens the sensitivity by at most 1% of the clip norm.
    expect(sd / ((1.5 * 2) / 50)).toBeLessThan(1.01);
    const small = defaultGridStep(2, 3);
    const [rounded] = privatiseGradientSum([tf.fill([3], 0.3)], { l2NormClip: 2, noiseMultiplier: 0, expectedBatchSize: 1 }, new SeededNoiseSource(1));
    expect([...rounded.dataSync()]).toEqual(new Array(3).fill(Math.round(Math.fround(0.3) / small) * small));
    rounded.dispose();
    expect(mean).toBeCloseTo(3 / 50, 2);
    expect(Math.abs(mean - 3 / 50)).toBeLessThan((4 * sd) / Math.sqrt(size));
    // The sample sd of 40,000 normals is within 2% of the truth with overwhelming probability.
    expect(Math.abs(Math.sqrt(variance) / sd - 1)).toBeLessThan(0.02);
    tf.dispose([...sum, noisy, empty]);
  });

  it('refuses a non-positive clip norm or batch size', () => {
    const sum = [tf.zeros([3])];
    const noise = new SeededNoiseSource(1);
    expect(() => privatiseGradientSum(sum, { l2NormClip: 0, noiseMultiplier: 1, expectedBatchSize: 1 }, noise)).toThrow(InvalidInputError);
    expect(() => privatiseGradientSum(sum, { l2NormClip: 1, noiseMultiplier: -1, expectedBatchSize: 1 }, noise)).toThrow(/noiseMultiplier >= 0/);
    expect(() => privatiseGradientSum(sum, { l2NormClip: 1, noiseMultiplier: 1, expectedBatchSize: 0 }, noise)).toThrow(/expectedBatchSize > 0/);
    tf.dispose(sum);
  });
});

describe('trainDpSgd', () => {
  const noisy: DpSgdOptions = { epochs: 2, samplingRate: 0.1, noiseMultiplier: 1, l2NormClip: 1, learningRate: 0.1, optimizer: 'momentum', seed: 3 };

  it('is deterministic for a seed and a seeded noise source, and leaks no tensors', async () => {
    const data = first(200);
    const run = async (spec: ModelSpec, seed: number, noiseSeed: number): Promise<Float32Array> => {
      const model = await LocalModel.create(spec, { seed: 1 });
      const before = tf.memory().numTensors;
      const result = await trainDpSgd(model, data, { ...noisy, seed, noise: new SeededNoiseSource(noiseSeed) });
      expect(tf.memory().numTensors).toBe(before);
      expect(result).toMatchObject({ numExamples: 200, steps: 20, samplingRate: 0.1, noiseMultiplier: 1, l2NormClip: 1 });
      expect(result.loss).toBeGreaterThan(0);
      const w = model.getWeights();
      model.dispose();
      return w;
    };
    for (const spec of [mlp, cnn]) {
      const [a, b] = [await run(spec, 3, 5), await run(spec, 3, 5)];
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      expect(await run(spec, 4, 5)).not.toEqual(a);
      expect(await run(spec, 3, 6)).not.toEqual(a);
    }
  });

  it('samples from node:crypto and draws secure noise when given neither a seed nor a noise source', async () => {
    const data = first(100);
    const run = async (): Promise<Float32Array> => {
      const model = await LocalModel.create(mlp, { seed: 1 });
      const result = await trainDpSgd(model, data, { ...noisy, epochs: 1, seed: undefined });
      expect(result.loss).toBeGreaterThan(0);
      const w = model.getWeights();
      model.dispose();
      return w;
    };
    expect(await run()).not.toEqual(await run());
  });

  it('given yieldEveryMs, lets timers run between steps, and trains the same weights', async () => {
    const run = async (yieldEveryMs?: number): Promise<{ weights: Float32Array; ticks: number }> => {
      const model = await LocalModel.create(mlp, { seed: 2 });
      const { ticks } = await withTimerTicks(() => trainDpSgd(model, first(200), { ...noisy, noise: new SeededNoiseSource(5), ...(yieldEveryMs === undefined ? {} : { yieldEveryMs }) }));
      const weights = model.getWeights();
      model.dispose();
      return { weights, ticks };
    };
    const blocking = await run();
    const yielding = await run(1);
    expect(blocking.ticks).toBe(0);
    expect(yielding.ticks).toBeGreaterThan(0);
    expect(Buffer.from(yielding.weights.buffer).equals(Buffer.from(blocking.weights.buffer))).toBe(true);
  });

  it('still adds noise on a step that samples no example', async () => {
    const model = await LocalModel.create(mlp, { seed: 1 });
    const start = model.getWeights();
    const result = await trainDpSgd(model, first(5), { ...noisy, epochs: undefined, steps: 2, samplingRate: 1e-9, noise: new SeededNoiseSource(1) });
    expect(result.loss).toBeNaN();
    expect(l2(model.getWeights(), start)).toBeGreaterThan(0);
    model.dispose();
  });

  it('rejects bad options with a clear error', async () => {
    const model = await LocalModel.create(mlp, { seed: 1 });
    const data = first(5);
    await expect(trainDpSgd(model, data, { ...noisy, samplingRate: 0 })).rejects.toThrow(/samplingRate/);
    await expect(trainDpSgd(model, data, { ...noisy, samplingRate: 1.5 })).rejects.toThrow(/samplingRate/);
    await expect(trainDpSgd(model, data, { ...noisy, l2NormClip: 0 })).rejects.toThrow(/l2NormClip/);
    await expect(trainDpSgd(model, data, { ...noisy, epochs: undefined })).rejects.toThrow(/give epochs or steps/);
    await expect(trainDpSgd(model, data, { ...noisy, steps: 1.5 })).rejects.toMatchObject({ code: 'DP_SGD_OPTIONS_INVALID' });
    model.dispose();
  });
});

describe('DP-SGD on optdigits', () => {
  // q = 256/3823, the TF Privacy MNIST tutorial's batch of 256 scaled to optdigits' 3,823 examples.
  const BATCH = 256;
  /** Seconds per epoch of plain train() and of trainDpSgd() with the same expected batch size, over `epochs` epochs. */
  async function perEpoch(spec: ModelSpec, options: DpSgdOptions, batchSize: number, epochs: number): Promise<{ plain: number; dp: number; accuracy: number }> {
    const plainModel = await LocalModel.create(spec, { seed: 1 });
    const plain = await train(plainModel, trainSet, { epochs, batchSize, learningRate: options.learningRate, optimizer: options.optimizer, seed: 1 });
    plainModel.dispose();
    const dpModel = await LocalModel.create(spec, { seed: 1 });
    const dp = await trainDpSgd(dpModel, trainSet, { ...options, epochs });
    const { accuracy } = await evaluate(dpModel, testSet);
    dpModel.dispose();
    return { plain: plain.seconds / epochs, dp: dp.seconds / epochs, accuracy };
  }

  it('reaches > 0.80 test accuracy with an MLP at sigma = 1, C = 1, and reports its slowdown', async () => {
    const options: DpSgdOptions = { epochs: 5, samplingRate: BATCH / 3823, noiseMultiplier: 1, l2NormClip: 1, learningRate: 0.3, optimizer: 'momentum', seed: 2, noise: new SeededNoiseSource(2) };
    const mlp64: ModelSpec = { type: 'mlp', inputShape: [64], hidden: [64], activation: 'relu', numClasses: 10 };
    const model = await LocalModel.create(mlp64, { seed: 1 });
    const result = await trainDpSgd(model, trainSet, options);
    const { accuracy } = await evaluate(model, testSet);
    model.dispose();
    const cnn8: ModelSpec = { type: 'cnn', inputShape: [8, 8, 1], conv: [{ filters: 16, kernelSize: 3, pool: 2 }], dense: [32], numClasses: 10 };
    const mlpTime = await perEpoch(mlp64, options, BATCH, 3);
    const cnnTime = await perEpoch(cnn8, options, BATCH, 3);
    console.info(
      `DP-SGD optdigits: MLP [64] test accuracy ${accuracy.toFixed(3)} after ${result.steps} steps (q = ${options.samplingRate.toFixed(4)}, sigma 1, C 1); ` +
        `seconds per epoch, plain vs DP-SGD: MLP ${mlpTime.plain.toFixed(3)} vs ${mlpTime.dp.toFixed(3)} (${(mlpTime.dp / mlpTime.plain).toFixed(2)}x), ` +
        `CNN ${cnnTime.plain.toFixed(3)} vs ${cnnTime.dp.toFixed(3)} (${(cnnTime.dp / cnnTime.plain).toFixed(2)}x, DP test accuracy ${cnnTime.accuracy.toFixed(3)} after 3 epochs)`,
    );
    expect(result.steps).toBe(5 * Math.round(3823 / BATCH));
    expect(accuracy).toBeGreaterThan(0.8);
  });
});
