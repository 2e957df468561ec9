import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { initBackend, type LayerShape, type MlpSpec } from '../../ml/index.js';

/**
 * Optimisation-based gradient inversion: "Deep Leakage from Gradients" (Zhu, Liu & Han 2019) with the
 * label read off the update as in iDLG (Zhao et al. 2020), and the cosine distance of "Inverting
 * Gradients" (Geiping, Bauermeister, Dröge & Moeller 2020, eq. 4) optimised by Adam. A dummy input
 * starts from seeded noise; each step computes the model's gradient on it (a second-order pass in
 * TF.js), compares it with the observed one, and moves the input to close the gap, kept in the data's
 * [0, 1] box. The iteration count is bounded so that one attack takes seconds on the digits MLP.
 */

/** Parameters of `matchGradients`. */
export interface MatchGradientsParameters {
  spec: MlpSpec;
  /** The global model the client started from, flat as LocalModel.getWeights() lays it out. */
  globalWeights: Float32Array;
  shapes: readonly LayerShape[];
  /** What the attacker observed as the client's weight delta (−lr times the gradient for one SGD step). */
  update: Float32Array;
  /** The class the dummy example is given (from `inferLabel`). */
  label: number;
  /** Adam steps; 200 by default. */
  iterations?: number;
  /** Adam learning rate; 0.05 by default. */
  learningRate?: number;
  /** Seed of the dummy input's starting noise. */
  seed?: number;
}

/** What the optimisation reached. */
export interface MatchGradientsResult {
  /** The reconstructed input, in [0, 1]. */
  input: Float32Array;
  /** Cosine distance between the dummy's gradient and the observed one at the end (0 = same direction). */
  distance: number;
  iterations: number;
}

/** Reconstructs a single example from an observed update by matching gradients (DLG with cosine distance and Adam). */
export async function matchGradients(parameters: MatchGradientsParameters): Promise<MatchGradientsResult> {
  const { spec, globalWeights, shapes, update, label } = parameters;
  const iterations = parameters.iterations ?? 200;
  if (globalWeights.length !== update.length) {
    throw new InvalidInputError('LEAKAGE_UPDATE_SHAPE', `the update has ${update.length} values but the global model ${globalWeights.length}`);
  }
  if (shapes.length !== 2 * (spec.hidden.length + 1)) {
    throw new InvalidInputError('LEAKAGE_MODEL_UNSUPPORTED', `an MLP of ${spec.hidden.length} hidden layers has ${2 * (spec.hidden.length + 1)} weight tensors; ${shapes.length} were given`);
  }
  await initBackend();
  const inputs = shapes[0].shape[0];
  const rng = new Rng(parameters.seed ?? 1);
  const weights = split(globalWeights, shapes);
  // The observed gradient: a weight delta of one SGD step is −lr · g, and the cosine ignores lr.
  const observed = split(update, shapes).map((t) => tf.keep(tf.neg(t)));
  const observedNorm = tf.keep(tf.sqrt(tf.addN(observed.map((t) => tf.sum(tf.square(t))))));
  const target = tf.keep(tf.oneHot(tf.tensor1d([label], 'int32'), spec.numClasses).toFloat());
  const dummy = tf.variable(tf.tensor2d(Float32Array.from({ length: inputs }, () => rng.next()), [1, inputs]));
  const optimizer = tf.train.adam(parameters.learningRate ?? 0.05);

  const activation = (z: tf.Tensor): tf.Tensor => (spec.activation === 'relu' ? tf.relu(z) : spec.activation === 'tanh' ? tf.tanh(z) : tf.sigmoid(z));
  const loss = (x: tf.Tensor, params: tf.Tensor[]): tf.Scalar => {
    let h = x;
    for (let l = 0; l < params.length; l += 2) {
      const z = tf.add(tf.matMul(h, params[l]), params[l + 1]);
      h = l + 2 < params.length ? activation(z) : z;
    }
    return tf.losses.softmaxCrossEntropy(target, h as tf.Tensor2D) as tf.Scalar;
  };
  const cosineDistance = (x: tf.Tensor): tf.Scalar => {
    const grads = tf.grads((...params: tf.Tensor[]) => loss(x, params))(weights);
    const dot = tf.addN(grads.map((g, i) => tf.sum(tf.mul(g, observed[i]))));
    const norm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
    return tf.sub(1, tf.div(dot, tf.add(tf.mul(norm, observedNorm), 1e-12))) as tf.Scalar;
  };

  let distance = Number.NaN;
  try {
    for (let step = 0; step < iterations; step++) {
      const cost = optimizer.minimize(() => cosineDistance(dummy), true, [dummy]);
      if (step === iterations - 1) distance = (await cost?.data())?.[0] ?? Number.NaN;
      cost?.dispose();
      tf.tidy(() => dummy.assign(tf.clipByValue(dummy, 0, 1)));
    }
    return { input: Float32Array.from(await dummy.data()), distance, iterations };
  } finally {
    optimizer.dispose();
    tf.dispose([dummy, target, observedNorm, ...observed, ...weights]);
  }
}

function split(flat: Float32Array, shapes: readonly LayerShape[]): tf.Tensor[] {
  let at = 0;
  return shapes.map(({ shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(flat.subarray(at, at + size), shape, 'float32');
    at += size;
    return t;
  });
}
