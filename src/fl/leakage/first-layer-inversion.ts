import { InvalidInputError } from '../../core/errors.js';
import type { LayerShape } from '../../ml/index.js';

/**
 * The analytic gradient inversion of a first dense layer with bias (Phong, Aono, Hayashi, Wang &
 * Moriai 2017, "Privacy-Preserving Deep Learning via Additively Homomorphic Encryption", §3.1): for
 * one example, z = W^T x + b gives dL/dW[:, i] = x · dL/db_i, so x = dL/dW[:, i] / dL/db_i for any unit
 * i whose bias gradient is not zero. A single local SGD step makes the weight delta −lr times the
 * gradient, and the ratio cancels lr and the sign: the delta is inverted as it is.
 */

/** The first layer's kernel [inputs, units] and bias [units] views into a flat update laid out as LocalModel.getWeights() does. */
export interface FirstLayer {
  inputs: number;
  units: number;
  kernel: Float32Array;
  bias: Float32Array;
}

/** Splits the first dense layer out of a flat update (kernel then bias, as LocalModel lays them out). */
export function firstLayerOf(update: Float32Array, shapes: readonly LayerShape[]): FirstLayer {
  const [kernel, bias] = shapes;
  if (!kernel || !bias || kernel.shape.length !== 2 || bias.shape.length !== 1 || bias.shape[0] !== kernel.shape[1]) {
    throw new InvalidInputError('LEAKAGE_MODEL_UNSUPPORTED', 'the analytic inversion needs a model whose first layer is dense with a bias (an MLP spec)', { shapes });
  }
  const [inputs, units] = kernel.shape;
  const total = shapes.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  if (update.length !== total) {
    throw new InvalidInputError('LEAKAGE_UPDATE_SHAPE', `the update has ${update.length} values but the model has ${total} parameters`, { length: update.length, expected: total });
  }
  return { inputs, units, kernel: update.subarray(0, inputs * units), bias: update.subarray(inputs * units, inputs * units + units) };
}

/** One unit's reconstruction x = dW[:, i] / db_i (Phong et al. 2017); undefined when db_i is 0. */
export function unitReconstruction(layer: FirstLayer, unit: number): Float32Array | undefined {
  const db = layer.bias[unit];
  if (db === 0 || !Number.isFinite(db)) return undefined;
  const x = new Float32Array(layer.inputs);
  for (let j = 0; j < layer.inputs; j++) x[j] = layer.kernel[j * layer.units + unit] / db;
  return x;
}

/**
 * The input that best explains every unit at once: x = Σ_i db_i dW[:, i] / Σ_i db_i², the least-squares
 * solution of dW[:, i] = x db_i. It equals the exact ratio for a clean single-example update and is
 * the attacker's best linear estimate when the update carries noise or other examples, without any
 * knowledge of the original. All zeros when every bias gradient is 0.
 */
export function invertFirstLayer(layer: FirstLayer): Float32Array {
  const x = new Float64Array(layer.inputs);
  let norm = 0;
  for (let i = 0; i < layer.units; i++) {
    const db = layer.bias[i];
    if (!Number.isFinite(db)) continue;
    norm += db * db;
    for (let j = 0; j < layer.inputs; j++) {
      const w = layer.kernel[j * layer.units + i];
      if (Number.isFinite(w)) x[j] += db * w;
    }
  }
  return Float32Array.from(x, (v) => (norm > 0 ? v / norm : 0));
}

/**
 * The label of a single-example update (Zhao, Mopuri & Bilen 2020, "iDLG", §3): with softmax
 * cross-entropy, dL/db_last = softmax(z) − onehot(y) is negative only at the true class, so the most
 * negative gradient of the logits' bias names it. A weight delta is −lr times the gradient, so here
 * it is the most positive entry of the delta's last bias.
 */
export function inferLabel(update: Float32Array, shapes: readonly LayerShape[]): number {
  const last = shapes[shapes.length - 1];
  if (!last || last.shape.length !== 1) {
    throw new InvalidInputError('LEAKAGE_MODEL_UNSUPPORTED', "the label inference needs the model's last tensor to be the logits' bias", { shapes });
  }
  const classes = last.shape[0];
  const bias = update.subarray(update.length - classes);
  let best = 0;
  for (let c = 1; c < classes; c++) if (bias[c] > bias[best] || !Number.isFinite(bias[best])) best = c;
  return best;
}
