import { randomFillSync } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { InvalidInputError, StateError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { SecureNoiseSource, defaultGridStep, gridL2Sensitivity, powerOfTwoAtMost, type NoiseSource } from '../privacy/dp/index.js';
import { checkSpecAgainstDataset } from './model-spec.js';
import type { Dataset } from './dataset.js';
import type { LocalModel } from './model.js';
import { createOptimizer, disposeOptimizer } from './optimizer.js';
import { EventLoopTurns } from './event-loop-turns.js';

/**
 * Sample-level DP-SGD (Abadi et al. 2016, "Deep Learning with Differential Privacy", Algorithm 1)
 * with Poisson subsampling and per-example clipping computed in one vectorised pass from activations
 * and back-propagated errors (Goodfellow 2015, "Efficient Per-Example Gradient Computations").
 */

const noiseSource = z.custom<NoiseSource>(
  (v) => typeof v === 'object' && v !== null && typeof (v as NoiseSource).discreteGaussian === 'function',
  'expected a NoiseSource (an object with discreteGaussian(n, sigma))',
);

/** DP-SGD hyper-parameters; give `epochs` or `steps`. */
export const DpSgdOptionsSchema = z
  .object({
    /** Passes in expectation: steps = epochs * round(1 / samplingRate). */
    epochs: z.number().int().positive().optional(),
    /** Number of noisy steps; overrides epochs. */
    steps: z.number().int().positive().optional(),
    /** Poisson sampling rate q: each step takes every example independently with this probability. */
    samplingRate: z.number().gt(0).max(1),
    /** sigma: the noise standard deviation is sigma * l2NormClip per coordinate of the gradient sum. */
    noiseMultiplier: z.number().min(0).finite(),
    /** C: every example's gradient (all parameters jointly) is scaled to L2 norm at most C. */
    l2NormClip: z.number().positive().finite(),
    learningRate: z.number().positive().finite(),
    optimizer: z.enum(['sgd', 'adam', 'momentum']),
    /** Momentum coefficient of the 'momentum' optimizer; 0.9 by default. */
    momentum: z.number().min(0).lt(1).optional(),
    /**
     * FOR TESTS: seed of the Poisson sampling. Amplification by subsampling assumes the adversary does
     * not know which examples a step used; without a seed the sampling draws from node:crypto.
     */
    seed: z.number().int().optional(),
    /** Where the discrete Gaussian noise comes from; a SecureNoiseSource by default. */
    noise: noiseSource.optional(),
    /** Fixed-point step of each noised gradient sum (a power of two); default `defaultGridStep(l2NormClip, parameters)`. */
    gridStep: z.number().positive().finite().optional(),
    /** Give the event loop a turn this often, ms, so that the process answers its peers while it trains; never by default. */
    yieldEveryMs: z.number().positive().finite().optional(),
  })
  .strict()
  .refine((o) => o.epochs !== undefined || o.steps !== undefined, { message: 'give epochs or steps' });

export type DpSgdOptions = z.infer<typeof DpSgdOptionsSchema>;

/** What a DP-SGD run did; (samplingRate, noiseMultiplier, steps) is what the RDP accountant charges. */
export interface DpSgdResult {
  /** Mean cross-entropy (before clipping and noise) over the examples sampled in the last epoch's steps; for monitoring only. */
  loss: number;
  numExamples: number;
  steps: number;
  samplingRate: number;
  noiseMultiplier: number;
  l2NormClip: number;
  seconds: number;
}

/** Per-example clipped gradients of one batch, summed. */
export type ClippedGradientSum = {
  /** Sum over the batch of each example's clipped gradient, one tensor per model variable. */
  sum: tf.Tensor[];
  /** Each example's squared gradient norm before clipping, [batch]. */
  squaredNorms: tf.Tensor1D;
  /** Sum of the batch's cross-entropies. */
  lossSum: tf.Scalar;
};

/** Parameters of the Gaussian mechanism applied to a clipped gradient sum. */
export interface PrivatiseParameters {
  l2NormClip: number;
  noiseMultiplier: number;
  /** q * n: the divisor of the noisy sum (the realised batch size would leak its own size). */
  expectedBatchSize: number;
  /** Fixed-point step of the noised sum; default `defaultGridStep(l2NormClip, parameters)`. */
  gridStep?: number;
}

type Activation = 'relu' | 'tanh' | 'sigmoid' | 'linear';

/** One trainable layer of a LocalModel, with the model's own variables. */
type Layer = (
  | { kind: 'dense'; kernel: tf.Variable; bias: tf.Variable; activation: Activation }
  | { kind: 'conv'; kernel: tf.Variable; bias: tf.Variable; pool?: number }
) & {
  /** Shape of one example's pre-activation z. */
  zShape: number[];
};

/** The layers of a model as model.ts builds them from its spec, bound to its variables. */
function layersOf(model: LocalModel): Layer[] {
  const spec = model.spec;
  const kinds: ({ kind: 'dense'; activation: Activation } | { kind: 'conv'; pool?: number })[] =
    spec.type === 'mlp'
      ? [...spec.hidden.map(() => ({ kind: 'dense' as const, activation: spec.activation })), { kind: 'dense', activation: 'linear' }]
      : [
          ...spec.conv.map((c) => ({ kind: 'conv' as const, pool: c.pool })),
          ...spec.dense.map(() => ({ kind: 'dense' as const, activation: 'relu' as const })),
          { kind: 'dense', activation: 'linear' },
        ];
  const vars = model.variables();
  if (vars.length !== 2 * kinds.length) {
    throw new StateError('DP_SGD_MODEL_UNSUPPORTED', `DP-SGD expects ${2 * kinds.length} variables (kernel and bias per layer) for this spec, the model has ${vars.length}`);
  }
  // 'valid' convolutions trim k - 1 rows and columns, pooling divides (cnnFeatureMapShapes does the same).
  let map = [...model.inputShape];
  return kinds.map((k, i) => {
    const kernel = vars[2 * i];
    const shape = kernel.shape as number[];
    const units = shape[shape.length - 1];
    let zShape = [units];
    if (k.kind === 'conv') {
      zShape = [map[0] - shape[0] + 1, map[1] - shape[1] + 1, units];
      map = k.pool === undefined ? zShape : [Math.floor(zShape[0] / k.pool), Math.floor(zShape[1] / k.pool), units];
    }
    return { ...k, kernel, bias: vars[2 * i + 1], zShape };
  });
}

function activate(z: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.relu(z);
    case 'tanh':
      return tf.tanh(z);
    case 'sigmoid':
      return tf.sigmoid(z);
    case 'linear':
      return z;
  }
}

/**
 * The model's forward pass written out over its variables. `perturb[k]` (zeros) is added to layer k's
 * pre-activation z_k so that d(sum of losses)/d perturb[k] is every example's error at z_k
 * (Goodfellow 2015, §3). Each layer's input is pushed to `inputs`, kept beyond the enclosing tidy.
 */
function forward(layers: Layer[], x: tf.Tensor, perturb?: readonly tf.Tensor[], inputs?: tf.Tensor[]): tf.Tensor2D {
  let a = x;
  layers.forEach((layer, k) => {
    // Keras Flatten on NHWC is a row-major reshape.
    if (layer.kind === 'dense' && a.rank > 2) a = tf.reshape(a, [a.shape[0], -1]);
    inputs?.push(a === x ? a : tf.keep(a));
    let z =
      layer.kind === 'dense'
        ? tf.add(tf.matMul(a as tf.Tensor2D, layer.kernel as tf.Tensor2D), layer.bias)
        : tf.add(tf.conv2d(a as tf.Tensor4D, layer.kernel as tf.Tensor4D, 1, 'valid'), layer.bias);
    if (perturb) z = tf.add(z, perturb[k]);
    if (layer.kind === 'dense') {
      a = activate(z, layer.activation);
    } else {
      a = tf.relu(z);
      if (layer.pool !== undefined) a = tf.maxPool(a as tf.Tensor4D, layer.pool, layer.pool, 'valid');
    }
  });
  return a as tf.Tensor2D;
}

/** Logits from the functional forward pass that DP-SGD differentiates; equal to model.logits(x). */
export function functionalLogits(model: LocalModel, x: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => forward(layersOf(model), x));
}

/**
 * im2col: [b, h, w, c] to [b, h', w', kh*kw*c] with the patch laid out as a [kh, kw, c] kernel is.
 * kh*kw slices and one concat copy b*P*K values, where an identity-kernel conv2d would multiply b*P*K*K.
 */
function patches(a: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  const [b, h, w, c] = a.shape;
  const oh = h - kh + 1;
  const ow = w - kw + 1;
  const slices: tf.Tensor4D[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) slices.push(tf.slice(a, [0, i, j, 0], [b, oh, ow, c]));
  return tf.concat(slices, 3);
}

/** One layer's per-example quantities, batch first. */
type LayerTerms =
  /** Activations a [b, in] and errors g [b, units]. */
  | { kind: 'dense'; a: tf.Tensor2D; g: tf.Tensor2D }
  /** Per-example kernel gradients [b, kh*kw*c, filters] and errors summed over positions [b, filters]. */
  | { kind: 'conv'; perExample: tf.Tensor3D; gSum: tf.Tensor2D };

/**
 * Every example's error at every layer from ONE backward pass: since example i's loss is the only one
 * that depends on row i of z_k, the gradient of the SUM of losses with respect to a zero perturbation
 * p_k of z_k is, row by row, each example's own dL_i/dz_k (Goodfellow 2015, §3; Li et al. 2021, §4).
 */
function layerTerms(layers: Layer[], x: tf.Tensor, y: tf.Tensor2D): { terms: LayerTerms[]; lossSum: tf.Scalar } {
  const b = x.shape[0];
  const inputs: tf.Tensor[] = [];
  const perturb = layers.map((layer) => tf.zeros([b, ...layer.zShape]));
  try {
    const crossEntropySum = (...p: tf.Tensor[]): tf.Scalar =>
      tf.losses.softmaxCrossEntropy(y, forward(layers, x, p, inputs), undefined, undefined, tf.Reduction.SUM) as tf.Scalar;
    const { value, grads } = tf.valueAndGrads(crossEntropySum)(perturb);
    const terms = layers.map((layer, k): LayerTerms => {
      // Clones join the caller's scope; the kept originals are freed below.
      const a = tf.clone(inputs[k]);
      if (layer.kind === 'dense') return { kind: 'dense', a: a as tf.Tensor2D, g: grads[k] as tf.Tensor2D };
      const [kh, kw] = layer.kernel.shape;
      const [oh, ow, filters] = layer.zShape;
      const cols = tf.reshape(patches(a as tf.Tensor4D, kh, kw), [b, oh * ow, -1]);
      const g = tf.reshape(grads[k], [b, oh * ow, filters]);
      // Example i's kernel gradient is sum over positions p of patch_{i,p} (x) g_{i,p}: one batched
      // matmul [b, K, P] x [b, P, filters]. Cheaper here than the ghost-norm Gram matrices, which cost P^2 (K + filters).
      return { kind: 'conv', perExample: tf.matMul(cols, g, true, false) as tf.Tensor3D, gSum: tf.sum(g, 1) };
    });
    return { terms, lossSum: value };
  } finally {
    for (const t of inputs) if (t !== x) t.dispose();
    tf.dispose(perturb);
  }
}

/** ||grad_i||^2 over all parameters jointly, [b]. */
function squaredNormsOf(terms: LayerTerms[]): tf.Tensor1D {
  return tf.addN(
    terms.map((t) =>
      t.kind === 'dense'
        ? // ||a_i (x) g_i||_F^2 = ||a_i||^2 ||g_i||^2 for the kernel, plus ||g_i||^2 for the bias.
          tf.mul(tf.add(tf.sum(tf.square(t.a), 1), 1), tf.sum(tf.square(t.g), 1))
        : tf.add(tf.sum(tf.square(t.perExample), [1, 2]), tf.sum(tf.square(t.gSum), 1)),
    ),
  ) as tf.Tensor1D;
}

/** sum_i c_i grad_i, one tensor per variable in model.variables() order. */
function clippedSumOf(layers: Layer[], terms: LayerTerms[], factors: tf.Tensor1D): tf.Tensor[] {
  const column = tf.expandDims(factors, 1);
  return terms.flatMap((t, k) => {
    if (t.kind === 'dense') {
      // sum_i c_i a_i (x) g_i = a^T (c . g): one matmul, no per-example gradient materialised.
      const scaled = tf.mul(t.g, column);
      return [tf.matMul(t.a, scaled, true, false), tf.sum(scaled, 0)];
    }
    const kernel = tf.sum(tf.mul(t.perExample, tf.reshape(factors, [-1, 1, 1])), 0);
    return [tf.reshape(kernel, layers[k].kernel.shape), tf.sum(tf.mul(t.gSum, column), 0)];
  });
}

/** The clipped gradient sum with the layers already bound. */
function clipBatch(layers: Layer[], x: tf.Tensor, y: tf.Tensor2D, l2NormClip: number): ClippedGradientSum {
  return tf.tidy(() => {
    const { terms, lossSum } = layerTerms(layers, x, y);
    const squaredNorms = squaredNormsOf(terms);
    // c_i = min(1, C / ||grad_i||) (Abadi et al. 2016, Alg. 1, "clip gradient"); 1e-12 keeps a zero gradient finite.
    const factors = tf.minimum(1, tf.div(l2NormClip, tf.add(tf.sqrt(squaredNorms), 1e-12))) as tf.Tensor1D;
    return { sum: clippedSumOf(layers, terms, factors), squaredNorms, lossSum };
  });
}

/** Every example's squared gradient norm over all parameters jointly, vectorised; y is one-hot [batch, classes]. */
export function perExampleSquaredNorms(model: LocalModel, x: tf.Tensor, y: tf.Tensor2D): tf.Tensor1D {
  const layers = layersOf(model);
  return tf.tidy(() => squaredNormsOf(layerTerms(layers, x, y).terms));
}

/** The batch's per-example gradients, each clipped to L2 norm C, summed; the caller disposes the tensors. */
export function clippedGradientSum(model: LocalModel, x: tf.Tensor, y: tf.Tensor2D, l2NormClip: number): ClippedGradientSum {
  return clipBatch(layersOf(model), x, y, l2NormClip);
}

/**
 * The discrete Gaussian mechanism on a clipped gradient sum, then the mean over the expected batch
 * size (Abadi et al. 2016, Alg. 1, "add noise", on a grid as Canonne, Kamath & Steinke 2020 §3):
 * the sum is rounded to multiples of the grid step and N_Z(0, sigma^2) added in steps, with
 * sigma = noiseMultiplier x (C in steps + sqrt(d)), the sum's L2 sensitivity after rounding. Every
 * step's noisy sum is thus an exact mechanism, and the update the client releases after its steps
 * is post-processing of them.
 */
export function privatiseGradientSum(sum: readonly tf.Tensor[], params: PrivatiseParameters, noise: NoiseSource): tf.Tensor[] {
  const { l2NormClip, noiseMultiplier, expectedBatchSize } = params;
  if (!(l2NormClip > 0 && Number.isFinite(l2NormClip)) || !(noiseMultiplier >= 0 && Number.isFinite(noiseMultiplier)) || !(expectedBatchSize > 0)) {
    throw new InvalidInputError(
      'DP_INPUT_INVALID',
      `privatiseGradientSum needs l2NormClip > 0, noiseMultiplier >= 0 and expectedBatchSize > 0, got ${l2NormClip}, ${noiseMultiplier}, ${expectedBatchSize}`,
      params,
    );
  }
  const d = sum.reduce((n, t) => n + t.size, 0);
  const step = params.gridStep === undefined ? defaultGridStep(l2NormClip, d) : powerOfTwoAtMost(params.gridStep);
  const draws = noise.discreteGaussian(d, noiseMultiplier * gridL2Sensitivity(l2NormClip, step, d));
  const values = new Float32Array(d);
  let offset = 0;
  for (const t of sum) {
    const exact = t.dataSync();
    // The grid step is a power of two, so the integers times it are exact in float32 (|k| < 2^24).
    for (let k = 0; k < exact.length; k++) values[offset + k] = (Math.round(exact[k] / step) + draws[offset + k]) * step;
    offset += exact.length;
  }
  // Whoever sees the noise can subtract it from the released update.
  draws.fill(0);
  try {
    let at = 0;
    return tf.tidy(() =>
      sum.map((t) => {
        const noisy = tf.tensor(values.subarray(at, at + t.size), t.shape, 'float32');
        at += t.size;
        return tf.div(noisy, expectedBatchSize);
      }),
    );
  } finally {
    values.fill(0);
  }
}

/** Trains a model in place with DP-SGD: Poisson-sampled batches, per-example clipping, Gaussian noise. */
export async function trainDpSgd(model: LocalModel, dataset: Dataset, options: DpSgdOptions): Promise<DpSgdResult> {
  const opts = parseOptions(options);
  checkSpecAgainstDataset(model.spec, dataset);
  if (dataset.numExamples === 0) throw new InvalidInputError('DATA_EMPTY', 'cannot train on an empty dataset');
  const started = performance.now();
  const n = dataset.numExamples;
  const q = opts.samplingRate;
  const stepsPerEpoch = Math.max(1, Math.round(1 / q));
  const steps = opts.steps ?? (opts.epochs as number) * stepsPerEpoch;
  const fillWords = wordSource(opts.seed);
  const words = new Uint32Array(n);
  const noise = opts.noise ?? new SecureNoiseSource();
  const layers = layersOf(model);
  const vars = model.variables();
  const optimizer = createOptimizer(opts);
  const privatise: PrivatiseParameters = { l2NormClip: opts.l2NormClip, noiseMultiplier: opts.noiseMultiplier, expectedBatchSize: q * n, gridStep: opts.gridStep };
  const xAll = tf.tensor(dataset.features, [n, ...model.inputShape], 'float32');
  const yAll = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(dataset.labels, 'int32'), model.spec.numClasses), 'float32') as tf.Tensor2D);
  let lossSum = 0;
  let lossCount = 0;
  const turns = opts.yieldEveryMs === undefined ? undefined : new EventLoopTurns(opts.yieldEveryMs);
  try {
    for (let step = 0; step < steps; step++) {
      fillWords(words);
      const batch = poissonSample(words, q);
      let clipped: tf.Tensor[];
      if (batch.length === 0) {
        // An empty batch still releases noise: skipping it would reveal that no example was drawn.
        clipped = vars.map((v) => tf.zerosLike(v));
      } else {
        const { sum, squaredNorms, lossSum: stepLoss } = tf.tidy(() => {
          const idx = tf.tensor1d(batch, 'int32');
          return clipBatch(layers, tf.gather(xAll, idx), tf.gather(yAll, idx) as tf.Tensor2D, opts.l2NormClip);
        });
        if (step >= steps - stepsPerEpoch) {
          lossSum += stepLoss.dataSync()[0];
          lossCount += batch.length;
        }
        tf.dispose([squaredNorms, stepLoss]);
        clipped = sum;
      }
      const update = privatiseGradientSum(clipped, privatise, noise);
      tf.dispose(clipped);
      // Alg. 1 "descent", with the optimizer of plain training (Adam and momentum only post-process the noisy gradient).
      optimizer.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: update[i] })));
      tf.dispose(update);
      await turns?.take();
    }
  } finally {
    tf.dispose([xAll, yAll]);
    disposeOptimizer(optimizer);
  }
  return {
    loss: lossCount > 0 ? lossSum / lossCount : NaN,
    numExamples: n,
    steps,
    samplingRate: q,
    noiseMultiplier: opts.noiseMultiplier,
    l2NormClip: opts.l2NormClip,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Poisson subsampling: every example independently with probability q. The RDP accountant of
 * Mironov, Talwar & Zhang 2019 ("Renyi Differential Privacy of the Sampled Gaussian Mechanism", §3)
 * assumes exactly this, not shuffled fixed-size batches.
 */
function poissonSample(words: Uint32Array, q: number): Int32Array {
  // Example i is in the batch when its uniform word / 2^32 < q; q = 1 takes every example.
  const threshold = q * 2 ** 32;
  const picked: number[] = [];
  for (let i = 0; i < words.length; i++) if (words[i] < threshold) picked.push(i);
  return Int32Array.from(picked);
}

/** Uniform 32-bit words for the sampling: node:crypto, or the seeded core Rng when a test gives a seed. */
function wordSource(seed: number | undefined): (out: Uint32Array) => void {
  if (seed === undefined) return (out) => void randomFillSync(out);
  const rng = new Rng(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = rng.nextUint32();
  };
}

function parseOptions(options: DpSgdOptions): DpSgdOptions {
  const parsed = DpSgdOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`);
    throw new InvalidInputError('DP_SGD_OPTIONS_INVALID', `invalid DP-SGD options: ${issues.join('; ')}`, { issues: parsed.error.issues });
  }
  return parsed.data;
}


