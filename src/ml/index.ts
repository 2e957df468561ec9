/** Local machine learning: datasets and loaders, partitioners, model specs, TF.js models and training. */
export { classCounts, concat, createDataset, shapeSize, subset, validateDataset, type Dataset } from './dataset.js';
export { loadCsvDataset, parseCsvDataset, type CsvColumn, type CsvScale, type LoadCsvOptions, type LoadCsvResult, type MinMaxStats } from './csv.js';
export {
  fetchMnist,
  loadIdxDataset,
  MNIST_BYTES,
  MNIST_FILES,
  MNIST_MIRROR,
  parseIdx,
  type FetchMnistOptions,
  type IdxData,
  type IdxDatasetOptions,
  type IdxDtype,
  type IdxTensor,
  type MnistFile,
} from './idx.js';
export { partitionDirichlet, partitionIid, partitionShards, type DirichletOptions } from './partition.js';
export {
  checkSpecAgainstDataset,
  cnnFeatureMapShapes,
  CnnSpecSchema,
  MlpSpecSchema,
  ModelSpecSchema,
  validateModelSpec,
  type CnnSpec,
  type MlpSpec,
  type ModelSpec,
} from './model-spec.js';
export { initBackend } from './backend.js';
export { LocalModel, type CreateModelOptions, type LayerShape } from './model.js';
export { evaluate, predict, train, TrainOptionsSchema, type EvaluateOptions, type EvaluateResult, type Predictions, type TrainOptions, type TrainResult } from './trainer.js';
export {
  classificationMetrics,
  classMetrics,
  confusionMatrix,
  majorityBaseline,
  rocAuc,
  type ClassificationMetrics,
  type ClassMetrics,
  type MajorityBaseline,
} from './classification-metrics.js';
export {
  clippedGradientSum,
  DpSgdOptionsSchema,
  perExampleSquaredNorms,
  privatiseGradientSum,
  trainDpSgd,
  type ClippedGradientSum,
  type DpSgdOptions,
  type DpSgdResult,
  type PrivatiseParameters,
} from './dp-sgd.js';
