import { describe, expect, it } from 'vitest';
import { classCounts, concat, createDataset, subset, validateDataset } from './dataset.js';

const tiny = () => createDataset(new Float32Array([0, 1, 2, 3, 4, 5]), new Int32Array([0, 1, 1]), [2], 3);

describe('dataset', () => {
  it('infers numFeatures from featureShape and numClasses from labels', () => {
    const ds = createDataset(new Float32Array(8), new Int32Array([0, 2]), [2, 2, 1]);
    expect(ds.numFeatures).toBe(4);
    expect(ds.numClasses).toBe(3);
  });

  it('subset copies the chosen rows in order', () => {
    const s = subset(tiny(), [2, 0]);
    expect(Array.from(s.features)).toEqual([4, 5, 0, 1]);
    expect(Array.from(s.labels)).toEqual([1, 0]);
    expect(s.numExamples).toBe(2);
    expect(() => subset(tiny(), [3])).toThrow(expect.objectContaining({ code: 'DATA_INDEX_INVALID' }));
  });

  it('concat appends datasets and refuses mismatched shapes', () => {
    const c = concat([tiny(), subset(tiny(), [1])]);
    expect(c.numExamples).toBe(4);
    expect(Array.from(c.features.subarray(6))).toEqual([2, 3]);
    const other = createDataset(new Float32Array(3), new Int32Array([0]), [3], 3);
    expect(() => concat([tiny(), other])).toThrow(expect.objectContaining({ code: 'DATA_SHAPE_INVALID' }));
    expect(() => concat([])).toThrow(expect.objectContaining({ code: 'DATA_EMPTY' }));
  });

  it('classCounts counts each class', () => {
    expect(Array.from(classCounts(tiny()))).toEqual([1, 2, 0]);
  });

  it('validateDataset rejects inconsistent parts', () => {
    expect(() => createDataset(new Float32Array(5), new Int32Array([0, 1, 1]), [2])).toThrow(/features has 5 values/);
    expect(() => createDataset(new Float32Array(6), new Int32Array([0, 3, 1]), [2], 3)).toThrow(/label 3 of example 1/);
    expect(() => validateDataset({ ...tiny(), featureShape: [3] })).toThrow(/featureShape/);
  });
});
