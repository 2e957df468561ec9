import { describe, expect, it } from 'vitest';
import * as ml from './index.js';

describe('ml public face', () => {
  it('exports every module', () => {
    for (const name of [
      'subset',
      'concat',
      'classCounts',
      'loadCsvDataset',
      'parseIdx',
      'loadIdxDataset',
      'fetchMnist',
      'partitionIid',
      'partitionDirichlet',
      'partitionShards',
      'ModelSpecSchema',
      'validateModelSpec',
      'checkSpecAgainstDataset',
      'initBackend',
      'LocalModel',
      'train',
      'evaluate',
      'predict',
      'classificationMetrics',
      'rocAuc',
    ]) {
      expect(ml, name).toHaveProperty(name);
    }
  });
});
