import { describe, expect, it } from 'vitest';
import { LocalModel, createDataset, train, type MlpSpec } from '../../ml/index.js';
import { inferLabel } from './first-layer-inversion.js';
import { matchGradients } from './gradient-matching.js';
import { ssim } from './image-similarity.js';

const SPEC: MlpSpec = { type: 'mlp', inputShape: [16], hidden: [12], activation: 'sigmoid', numClasses: 3 };

describe('gradient matching (DLG with cosine distance)', () => {
  it("recovers a 4x4 image from one SGD step's delta, and the label from the delta's last bias", async () => {
    const model = await LocalModel.create(SPEC, { seed: 3 });
    const global = model.getWeights();
    const x = Float32Array.from([0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0].map((v) => 0.1 + 0.8 * v));
    await train(model, createDataset(x, Int32Array.from([2]), [16], 3), { epochs: 1, batchSize: 1, learningRate: 0.5, optimizer: 'sgd', seed: 1 });
    const delta = model.getWeights().map((v, k) => v - global[k]);
    const shapes = model.layerShapes();
    const label = inferLabel(delta, shapes);
    expect(label).toBe(2);
    const result = await matchGradients({ spec: SPEC, globalWeights: global, shapes, update: delta, label, iterations: 300, learningRate: 0.05 });
    expect(result.distance).toBeLessThan(0.01);
    expect(ssim(x, result.input, { width: 4, window: 3 })).toBeGreaterThan(0.9);
    model.dispose();
  }, 30_000);

  it('refuses an update of another length than the model', async () => {
    const model = await LocalModel.create(SPEC, { seed: 3 });
    await expect(matchGradients({ spec: SPEC, globalWeights: model.getWeights(), shapes: model.layerShapes(), update: new Float32Array(3), label: 0 })).rejects.toThrow(/3 values/);
    model.dispose();
  });
});
