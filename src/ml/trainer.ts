import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { shapeSize, type Dataset } from './dataset.js';
import { EventLoopTurns } from './event-loop-turns.js';
import type { LocalModel } from './model.js';
import { createOptimizer, disposeOptimizer } from './optimizer.js';

/** Local training hyper-parameters; globalWeights is needed only when proximalMu > 0. */
export const TrainOptionsSchema = z
  .object({
    epochs: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    learningRate: z.number().positive().finite(),
    optimizer: z.enum(['sgd', 'adam', 'momentum']),
    /** Momentum coefficient of the 'momentum' optimizer; 0.9 by default. */
    momentum: z.number().min(0).lt(1).optional(),
    /** FedProx coefficient mu (Li et al. 2020); 0 trains plain local SGD as in FedAvg. */
    proximalMu: z.number().min(0).finite().optional(),
    globalWeights: z.custom<Float32Array>((v) => v instanceof Float32Array, 'expected a Float32Array').optional(),
    /** Seed of the per-epoch shuffling. */
    seed: z.number().int(),
    /** Give the event loop a turn this often, ms, so that the process answers its peers while it trains; never by default. */
    yieldEveryMs: z.number().positive().finite().optional(),
  })
  .strict();

export type TrainOptions = z.infer<typeof TrainOptionsSchema>;

export interface TrainResult {
  /** Mean cross-entropy over the last epoch's batches, weighted by batch size (without the proximal term). */
  loss: number;
  numExamples: number;
  steps: number;
  seconds: number;
}

export interface EvaluateOptions {
  /** Examples per forward pass; 256 by default. Only memory use depends on it. */
  batchSize?: number;
}

export interface EvaluateResult {
  /** Mean cross-entropy over all examples. */
  loss: number;
  accuracy: number;
  numExamples: number;
}

/** Trains a model in place on a dataset with mini-batch gradient descent. */
export async function train(model: LocalModel, dataset: Dataset, options: TrainOptions): Promise<TrainResult> {
  const opts = parseOptions(options);
  checkFits(model, dataset);
  const mu = opts.proximalMu ?? 0;
  if (mu > 0 && opts.globalWeights?.length !== model.numParams) {
    throw new InvalidInputError(
      'TRAIN_OPTIONS_INVALID',
      `proximalMu > 0 needs globalWeights of ${model.numParams} values, got ${opts.globalWeights?.length ?? 'none'}`,
    );
  }
  const started = performance.now();
  const n = dataset.numExamples;
  const rng = new Rng(opts.seed);
  const varList = model.variables();
  const optimizer = createOptimizer(opts);
  // The whole dataset goes to the backend once; batches are gathered from it by index.
  const xAll = tf.tensor(dataset.features, [n, ...model.inputShape], 'float32');
  const yAll = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(dataset.labels, 'int32'), model.spec.numClasses), 'float32'));
  const globals = mu > 0 ? splitLike(opts.globalWeights as Float32Array, varList) : [];
  const order = Int32Array.from({ length: n }, (_, i) => i);
  let steps = 0;
  let lossSum = 0;
  const turns = opts.yieldEveryMs === undefined ? undefined : new EventLoopTurns(opts.yieldEveryMs);
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      shuffleInPlace(order, rng);
      lossSum = 0;
      for (let start = 0; start < n; start += opts.batchSize) {
        const batch = order.subarray(start, Math.min(n, start + opts.batchSize));
        let crossEntropy: tf.Scalar | undefined;
        tf.tidy(() => {
          const idx = tf.tensor1d(batch, 'int32');
          const xb = tf.gather(xAll, idx);
          const yb = tf.gather(yAll, idx);
          optimizer.minimize(() => {
            const ce = tf.losses.softmaxCrossEntropy(yb, model.logits(xb)) as tf.Scalar;
            // A kept copy outlives minimize's scope, which disposes the returned cost.
            crossEntropy = tf.keep(tf.clone(ce));
            return mu > 0 ? tf.add(ce, proximalTerm(varList, globals, mu)) : ce;
          }, false, varList);
        });
        lossSum += (crossEntropy as tf.Scalar).dataSync()[0] * batch.length;
        (crossEntropy as tf.Scalar).dispose();
        steps++;
        await turns?.take();
      }
    }
  } finally {
    tf.dispose([xAll, yAll, ...globals]);
    disposeOptimizer(optimizer);
  }
  return { loss: lossSum / n, numExamples: n, steps, seconds: (performance.now() - started) / 1000 };
}

/** Mean cross-entropy and accuracy of a model on a dataset. */
export async function evaluate(model: LocalModel, dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError('TRAIN_OPTIONS_INVALID', `batchSize must be a positive integer, got ${batchSize}`);
  checkFits(model, dataset);
  const f = dataset.numFeatures;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < dataset.numExamples; start += batchSize) {
    const end = Math.min(dataset.numExamples, start + batchSize);
    const [loss, hits] = tf.tidy(() => {
      const xb = tf.tensor(dataset.features.subarray(start * f, end * f), [end - start, ...model.inputShape], 'float32');
      const yb = tf.tensor1d(dataset.labels.subarray(start, end), 'int32');
      const logits = model.logits(xb);
      const oneHot = tf.oneHot(yb, model.spec.numClasses);
      const sum = tf.losses.softmaxCrossEntropy(oneHot, logits, undefined, undefined, tf.Reduction.SUM);
      const right = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), yb), 'int32'));
      return [sum.dataSync()[0], right.dataSync()[0]];
    });
    lossSum += loss;
    correct += hits;
  }
  const numExamples = dataset.numExamples;
  return { loss: numExamples ? lossSum / numExamples : NaN, accuracy: numExamples ? correct / numExamples : NaN, numExamples };
}

/** What a classifier answers for each example of a dataset. */
export interface Predictions {
  /** The class of the largest logit per example (the one accuracy counts). */
  classes: Int32Array;
  /** Softmax probabilities, numExamples x numClasses, one example after another. */
  probabilities: Float32Array;
  numClasses: number;
}

/** The predicted class and the class probabilities of every example, in dataset order. */
export async function predict(model: LocalModel, dataset: Dataset, options: EvaluateOptions = {}): Promise<Predictions> {
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError('TRAIN_OPTIONS_INVALID', `batchSize must be a positive integer, got ${batchSize}`);
  checkFits(model, dataset);
  const f = dataset.numFeatures;
  const k = model.spec.numClasses;
  const classes = new Int32Array(dataset.numExamples);
  const probabilities = new Float32Array(dataset.numExamples * k);
  for (let start = 0; start < dataset.numExamples; start += batchSize) {
    const end = Math.min(dataset.numExamples, start + batchSize);
    const [argMax, softmax] = tf.tidy(() => {
      const logits = model.logits(tf.tensor(dataset.features.subarray(start * f, end * f), [end - start, ...model.inputShape], 'float32'));
      return [tf.argMax(logits, 1).dataSync() as Int32Array, tf.softmax(logits).dataSync() as Float32Array];
    });
    classes.set(argMax, start);
    probabilities.set(softmax, start * k);
  }
  return { classes, probabilities, numClasses: k };
}

function parseOptions(options: TrainOptions): TrainOptions {
  const parsed = TrainOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`);
    throw new InvalidInputError('TRAIN_OPTIONS_INVALID', `invalid training options: ${issues.join('; ')}`, { issues: parsed.error.issues });
  }
  return parsed.data;
}

function checkFits(model: LocalModel, dataset: Dataset): void {
  if (shapeSize(model.inputShape) !== dataset.numFeatures) {
    throw new InvalidInputError(
      'MODEL_SPEC_MISMATCH',
      `the model takes ${shapeSize(model.inputShape)} input values but the dataset has ${dataset.numFeatures} features per example`,
    );
  }
  if (dataset.numClasses > model.spec.numClasses) {
    throw new InvalidInputError('MODEL_SPEC_MISMATCH', `the model has ${model.spec.numClasses} outputs but the dataset has ${dataset.numClasses} classes`);
  }
  if (dataset.numExamples === 0) throw new InvalidInputError('DATA_EMPTY', 'cannot train on an empty dataset');
}


/** FedProx proximal term (mu / 2) * ||w - w_global||^2 (Li et al. 2020, "Federated Optimization in Heterogeneous Networks", eq. 2). */
function proximalTerm(vars: tf.Variable[], globals: tf.Tensor[], mu: number): tf.Scalar {
  const squared = vars.map((v, i) => tf.sum(tf.square(tf.sub(v, globals[i]))));
  return tf.mul(tf.addN(squared), mu / 2) as tf.Scalar;
}

function splitLike(flat: Float32Array, vars: tf.Variable[]): tf.Tensor[] {
  let at = 0;
  return vars.map((v) => {
    const size = v.size;
    const t = tf.tensor(flat.subarray(at, at + size), v.shape, 'float32');
    at += size;
    return t;
  });
}

function shuffleInPlace(order: Int32Array, rng: Rng): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
}
