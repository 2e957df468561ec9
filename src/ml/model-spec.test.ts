import { describe, expect, it } from 'vitest';
import { checkSpecAgainstDataset, cnnFeatureMapShapes, validateModelSpec, type CnnSpec } from './model-spec.js';

const mlp = { type: 'mlp', inputShape: [64], hidden: [64], activation: 'relu', numClasses: 10 } as const;
const cnn: CnnSpec = { type: 'cnn', inputShape: [28, 28, 1], conv: [{ filters: 8, kernelSize: 5, pool: 2 }, { filters: 16, kernelSize: 5, pool: 2 }], dense: [32], numClasses: 10 };

describe('validateModelSpec', () => {
  it('accepts valid MLP and CNN specs', () => {
    expect(validateModelSpec(mlp)).toEqual(mlp);
    expect(validateModelSpec(cnn)).toEqual(cnn);
  });

  it('refuses malformed specs with the offending field', () => {
    expect(() => validateModelSpec({ ...mlp, numClasses: 1 })).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_INVALID', message: expect.stringContaining('numClasses') }));
    expect(() => validateModelSpec({ ...mlp, activation: 'gelu' })).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_INVALID', message: expect.stringContaining('activation') }));
    expect(() => validateModelSpec({ ...mlp, type: 'rnn' })).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_INVALID' }));
    expect(() => validateModelSpec({ ...cnn, inputShape: [28, 28] })).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_INVALID', message: expect.stringContaining('inputShape') }));
    expect(() => validateModelSpec({ ...mlp, hidden: [0] })).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_INVALID' }));
    expect(() => validateModelSpec({ ...mlp, extra: 1 })).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_INVALID' }));
  });

  it('refuses a CNN whose feature map shrinks below 1, naming the layer and the size', () => {
    const tooDeep = { ...cnn, inputShape: [8, 8, 1], conv: [{ filters: 4, kernelSize: 3, pool: 2 }, { filters: 4, kernelSize: 5 }] };
    expect(() => validateModelSpec(tooDeep)).toThrow(
      expect.objectContaining({ code: 'MODEL_SPEC_IMPOSSIBLE', message: expect.stringMatching(/conv\[1\].*5x5 kernel.*-1x-1/) }),
    );
    const overPooled = { ...cnn, inputShape: [8, 8, 1], conv: [{ filters: 4, kernelSize: 3, pool: 8 }] };
    expect(() => validateModelSpec(overPooled)).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_IMPOSSIBLE', message: expect.stringMatching(/conv\[0\].*pooling.*0x0/) }));
  });

  it('computes CNN feature map shapes', () => {
    expect(cnnFeatureMapShapes(cnn)).toEqual([
      [12, 12, 8],
      [4, 4, 16],
    ]);
  });
});

describe('checkSpecAgainstDataset', () => {
  const ds = { numFeatures: 64, numClasses: 10, featureShape: [8, 8, 1] };
  it('accepts a matching input size regardless of shape', () => {
    expect(() => checkSpecAgainstDataset(validateModelSpec(mlp), ds)).not.toThrow();
  });
  it('refuses a mismatched input size or too few outputs', () => {
    expect(() => checkSpecAgainstDataset(cnn, ds)).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_MISMATCH', message: expect.stringContaining('784') }));
    expect(() => checkSpecAgainstDataset({ ...mlp, inputShape: [64], numClasses: 5, hidden: [] }, ds)).toThrow(expect.objectContaining({ code: 'MODEL_SPEC_MISMATCH' }));
  });
});
