import { InvalidInputError } from '../core/errors.js';

/** A labelled classification dataset held in memory, features row-major. */
export interface Dataset {
  /** numExamples * numFeatures values, one example after another. */
  features: Float32Array;
  /** One class index in [0, numClasses) per example. */
  labels: Int32Array;
  numExamples: number;
  numFeatures: number;
  numClasses: number;
  /** Shape of one example, e.g. [64], [8, 8, 1] or [28, 28, 1]; its product is numFeatures. */
  featureShape: number[];
}

/** Product of a shape's dimensions. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws InvalidInputError 'DATA_SHAPE_INVALID' unless the dataset's arrays and counts agree. */
export function validateDataset(ds: Dataset): void {
  const fail = (why: string, details?: unknown): never => {
    throw new InvalidInputError('DATA_SHAPE_INVALID', `invalid dataset: ${why}`, details);
  };
  if (!Number.isInteger(ds.numExamples) || ds.numExamples < 0) fail(`numExamples ${ds.numExamples} is not a non-negative integer`);
  if (!Number.isInteger(ds.numFeatures) || ds.numFeatures < 1) fail(`numFeatures ${ds.numFeatures} is not a positive integer`);
  if (!Number.isInteger(ds.numClasses) || ds.numClasses < 1) fail(`numClasses ${ds.numClasses} is not a positive integer`);
  if (ds.featureShape.some((d) => !Number.isInteger(d) || d < 1)) fail(`featureShape [${ds.featureShape.join(', ')}] has a non-positive dimension`);
  if (shapeSize(ds.featureShape) !== ds.numFeatures) {
    fail(`featureShape [${ds.featureShape.join(', ')}] holds ${shapeSize(ds.featureShape)} values but numFeatures is ${ds.numFeatures}`);
  }
  if (ds.features.length !== ds.numExamples * ds.numFeatures) {
    fail(`features has ${ds.features.length} values, expected ${ds.numExamples} x ${ds.numFeatures}`);
  }
  if (ds.labels.length !== ds.numExamples) fail(`labels has ${ds.labels.length} entries, expected ${ds.numExamples}`);
  for (let i = 0; i < ds.labels.length; i++) {
    const y = ds.labels[i];
    if (y < 0 || y >= ds.numClasses) fail(`label ${y} of example ${i} is outside [0, ${ds.numClasses})`, { index: i, label: y });
  }
}

/** Builds a dataset from its parts and validates it; numClasses defaults to max(label) + 1. */
export function createDataset(
  features: Float32Array,
  labels: Int32Array,
  featureShape: number[],
  numClasses?: number,
): Dataset {
  let maxLabel = -1;
  for (const y of labels) if (y > maxLabel) maxLabel = y;
  const ds: Dataset = {
    features,
    labels,
    numExamples: labels.length,
    numFeatures: shapeSize(featureShape),
    numClasses: numClasses ?? maxLabel + 1,
    featureShape: [...featureShape],
  };
  validateDataset(ds);
  return ds;
}

/** The examples at `indices`, in that order (copies the rows). */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const f = ds.numFeatures;
  const features = new Float32Array(indices.length * f);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.numExamples) {
      throw new InvalidInputError('DATA_INDEX_INVALID', `index ${i} is outside the dataset's ${ds.numExamples} examples`, { index: i });
    }
    features.set(ds.features.subarray(i * f, (i + 1) * f), k * f);
    labels[k] = ds.labels[i];
  }
  return { ...ds, features, labels, numExamples: indices.length, featureShape: [...ds.featureShape] };
}

/** The examples of all datasets one after another; they must share featureShape and numClasses. */
export function concat(datasets: readonly Dataset[]): Dataset {
  if (datasets.length === 0) throw new InvalidInputError('DATA_EMPTY', 'concat needs at least one dataset');
  const first = datasets[0];
  for (const ds of datasets) {
    if (ds.featureShape.join('x') !== first.featureShape.join('x') || ds.numClasses !== first.numClasses) {
      throw new InvalidInputError(
        'DATA_SHAPE_INVALID',
        `cannot concat datasets of shape [${ds.featureShape.join(', ')}] / ${ds.numClasses} classes and [${first.featureShape.join(', ')}] / ${first.numClasses} classes`,
      );
    }
  }
  const numExamples = datasets.reduce((n, ds) => n + ds.numExamples, 0);
  const features = new Float32Array(numExamples * first.numFeatures);
  const labels = new Int32Array(numExamples);
  let at = 0;
  for (const ds of datasets) {
    features.set(ds.features, at * first.numFeatures);
    labels.set(ds.labels, at);
    at += ds.numExamples;
  }
  return { ...first, features, labels, numExamples, featureShape: [...first.featureShape] };
}

/** Number of examples of each class, indexed by class. */
export function classCounts(ds: Pick<Dataset, 'labels' | 'numClasses'>): Int32Array {
  const counts = new Int32Array(ds.numClasses);
  for (const y of ds.labels) counts[y]++;
  return counts;
}
