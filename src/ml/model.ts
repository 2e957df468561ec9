import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { initBackend } from './backend.js';
import { shapeSize } from './dataset.js';
import { validateModelSpec, type ModelSpec } from './model-spec.js';

export interface CreateModelOptions {
  /** Seed of the initial weights: the same spec and seed always give the same weights. */
  seed: number;
}

/** Name and shape of one weight tensor, in the order getWeights() lays them out. */
export interface LayerShape {
  name: string;
  shape: number[];
}

/** A classifier built from a ModelSpec whose weights move in and out as one flat Float32Array. */
export class LocalModel {
  /** Shape of one example as the network takes it: [n] for an MLP, [h, w, c] for a CNN. */
  readonly inputShape: number[];
  readonly numParams: number;

  private constructor(
    readonly spec: ModelSpec,
    private readonly net: tf.Sequential,
  ) {
    this.inputShape = spec.type === 'mlp' ? [shapeSize(spec.inputShape)] : [...spec.inputShape];
    this.numParams = this.layerShapes().reduce((n, l) => n + shapeSize(l.shape), 0);
  }

  /** Builds the network and draws its initial weights from a seeded generator. */
  static async create(spec: ModelSpec, options: CreateModelOptions): Promise<LocalModel> {
    const valid = validateModelSpec(spec);
    await initBackend();
    const model = new LocalModel(valid, buildNetwork(valid));
    model.setWeights(initialWeights(model.layerShapes(), new Rng(options.seed)));
    return model;
  }

  /** Names and shapes of the weight tensors (kernel then bias, layer by layer). */
  layerShapes(): LayerShape[] {
    return this.net.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[] }));
  }

  /** All weights, flattened in layer order. */
  getWeights(): Float32Array {
    const flat = new Float32Array(this.numParams);
    let at = 0;
    for (const w of this.net.weights) {
      const values = w.read().dataSync();
      flat.set(values, at);
      at += values.length;
    }
    return flat;
  }

  /** Replaces all weights from a flat array laid out as getWeights() returns it. */
  setWeights(flat: Float32Array): void {
    if (flat.length !== this.numParams) {
      throw new InvalidInputError(
        'MODEL_WEIGHTS_SHAPE',
        `weights have ${flat.length} values but the model has ${this.numParams} parameters; they belong to a different architecture`,
        { length: flat.length, expected: this.numParams },
      );
    }
    let at = 0;
    const tensors = this.layerShapes().map(({ shape }) => {
      const size = shapeSize(shape);
      const t = tf.tensor(flat.subarray(at, at + size), shape, 'float32');
      at += size;
      return t;
    });
    this.net.setWeights(tensors);
    tf.dispose(tensors);
  }

  /** Logits for a batch shaped [batch, ...inputShape]; the caller owns (and disposes) the result. */
  logits(x: tf.Tensor): tf.Tensor2D {
    return this.net.apply(x) as tf.Tensor2D;
  }

  /** The trainable variables, for an optimizer's varList. */
  variables(): tf.Variable[] {
    return this.net.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  /** Frees the model's tensors; the object must not be used afterwards. */
  dispose(): void {
    this.net.dispose();
  }
}

function buildNetwork(spec: ModelSpec): tf.Sequential {
  // Zero initialisers keep TF.js's own random streams out of the model: real weights come from the seeded Rng.
  const init = { kernelInitializer: 'zeros', biasInitializer: 'zeros' } as const;
  const net = tf.sequential();
  if (spec.type === 'mlp') {
    spec.hidden.forEach((units, i) => {
      net.add(tf.layers.dense({ units, activation: spec.activation, ...init, ...(i === 0 ? { inputShape: [shapeSize(spec.inputShape)] } : {}) }));
    });
    net.add(tf.layers.dense({ units: spec.numClasses, ...init, ...(spec.hidden.length === 0 ? { inputShape: [shapeSize(spec.inputShape)] } : {}) }));
    return net;
  }
  spec.conv.forEach((layer, i) => {
    net.add(
      tf.layers.conv2d({
        filters: layer.filters,
        kernelSize: layer.kernelSize,
        padding: 'valid',
        activation: 'relu',
        ...init,
        ...(i === 0 ? { inputShape: [...spec.inputShape] } : {}),
      }),
    );
    if (layer.pool !== undefined) net.add(tf.layers.maxPooling2d({ poolSize: layer.pool, strides: layer.pool }));
  });
  net.add(tf.layers.flatten());
  for (const units of spec.dense) net.add(tf.layers.dense({ units, activation: 'relu', ...init }));
  net.add(tf.layers.dense({ units: spec.numClasses, ...init }));
  return net;
}

/**
 * Glorot-uniform kernels (Glorot & Bengio 2010, eq. 16: U(-l, l), l = sqrt(6 / (fanIn + fanOut)),
 * with Keras's fans for conv kernels [kh, kw, in, out]) and zero biases.
 */
function initialWeights(shapes: LayerShape[], rng: Rng): Float32Array {
  const flat = new Float32Array(shapes.reduce((n, l) => n + shapeSize(l.shape), 0));
  let at = 0;
  for (const { shape } of shapes) {
    const size = shapeSize(shape);
    if (shape.length >= 2) {
      const receptive = shapeSize(shape.slice(0, -2));
      const fanIn = receptive * shape[shape.length - 2];
      const fanOut = receptive * shape[shape.length - 1];
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < size; i++) flat[at + i] = (2 * rng.next() - 1) * limit;
    }
    at += size;
  }
  return flat;
}
