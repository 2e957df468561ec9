import { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';
import { shapeSize, type Dataset } from './dataset.js';

const positiveInt = z.number().int().positive();

/** A multi-layer perceptron: the input is flattened, then dense hidden layers, then a logits layer. */
export const MlpSpecSchema = z
  .object({
    type: z.literal('mlp'),
    inputShape: z.array(positiveInt).min(1),
    hidden: z.array(positiveInt),
    activation: z.enum(['relu', 'tanh', 'sigmoid']),
    numClasses: z.number().int().min(2),
  })
  .strict();

/** A convolutional network: 'valid' conv2d + ReLU (+ max-pool) blocks, flatten, dense ReLU layers, logits. */
export const CnnSpecSchema = z
  .object({
    type: z.literal('cnn'),
    inputShape: z.tuple([positiveInt, positiveInt, positiveInt]),
    conv: z
      .array(
        z
          .object({
            filters: positiveInt,
            kernelSize: positiveInt,
            pool: positiveInt.optional(),
          })
          .strict(),
      )
      .min(1),
    dense: z.array(positiveInt),
    numClasses: z.number().int().min(2),
  })
  .strict();

/** The architecture of a model, as stored in the model registry and sent to clients. */
export const ModelSpecSchema = z.discriminatedUnion('type', [MlpSpecSchema, CnnSpecSchema]);

export type MlpSpec = z.infer<typeof MlpSpecSchema>;
export type CnnSpec = z.infer<typeof CnnSpecSchema>;
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

/** Parses a model spec and checks that it can be built; throws InvalidInputError otherwise. */
export function validateModelSpec(input: unknown): ModelSpec {
  const parsed = ModelSpecSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(spec)'}: ${i.message}`);
    throw new InvalidInputError('MODEL_SPEC_INVALID', `invalid model spec: ${issues.join('; ')}`, { issues: parsed.error.issues });
  }
  const spec = parsed.data;
  if (spec.type === 'cnn') cnnFeatureMapShapes(spec);
  return spec;
}

/**
 * Spatial shape [h, w, filters] after each conv block of a CNN; throws 'MODEL_SPEC_IMPOSSIBLE'
 * naming the layer whose output would be empty.
 */
export function cnnFeatureMapShapes(spec: CnnSpec): [number, number, number][] {
  let [h, w] = spec.inputShape;
  const shapes: [number, number, number][] = [];
  spec.conv.forEach((layer, i) => {
    // 'valid' padding: a k x k kernel trims k - 1 rows and columns.
    h = h - layer.kernelSize + 1;
    w = w - layer.kernelSize + 1;
    if (h < 1 || w < 1) impossible(`conv[${i}]`, `its ${layer.kernelSize}x${layer.kernelSize} kernel`, h, w);
    if (layer.pool !== undefined) {
      h = Math.floor(h / layer.pool);
      w = Math.floor(w / layer.pool);
      if (h < 1 || w < 1) impossible(`conv[${i}]`, `its ${layer.pool}x${layer.pool} pooling`, h, w);
    }
    shapes.push([h, w, layer.filters]);
  });
  return shapes;
}

function impossible(layer: string, cause: string, h: number, w: number): never {
  throw new InvalidInputError(
    'MODEL_SPEC_IMPOSSIBLE',
    `model spec layer ${layer}: ${cause} shrinks the feature map to ${h}x${w}; use smaller kernels, less pooling or fewer conv layers`,
    { layer, height: h, width: w },
  );
}

/** Checks that a spec fits a dataset: same number of input values, enough output classes. */
export function checkSpecAgainstDataset(spec: ModelSpec, ds: Pick<Dataset, 'numFeatures' | 'numClasses' | 'featureShape'>): void {
  const inputSize = shapeSize(spec.inputShape);
  if (inputSize !== ds.numFeatures) {
    throw new InvalidInputError(
      'MODEL_SPEC_MISMATCH',
      `model input shape [${spec.inputShape.join(', ')}] takes ${inputSize} values but the dataset has ${ds.numFeatures} features per example (shape [${ds.featureShape.join(', ')}])`,
      { inputShape: spec.inputShape, numFeatures: ds.numFeatures },
    );
  }
  if (spec.numClasses < ds.numClasses) {
    throw new InvalidInputError(
      'MODEL_SPEC_MISMATCH',
      `model has ${spec.numClasses} outputs but the dataset has ${ds.numClasses} classes; set numClasses to at least ${ds.numClasses}`,
      { numClasses: spec.numClasses, datasetClasses: ds.numClasses },
    );
  }
}
