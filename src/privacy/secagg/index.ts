export { ClientSecAgg, type ClientSecAggOptions } from './client.js';
export { ServerSecAgg, type SecAggResult, type ServerSecAggOptions, type SurvivorSets } from './server.js';
export {
  runSecureAggregation,
  type DropoutStage,
  type RunSecureAggregationParameters,
  type RunSecureAggregationResult,
  type SecAggCosts,
  type SecAggInput,
  type SecAggInputSource,
} from './driver.js';
export { RoundConfigSchema, createRoundConfig, parseRoundConfig, type CreateRoundConfigParameters, type RoundConfig } from './config.js';
export {
  SecAggAbortError,
  SecAggBelowThresholdError,
  SecAggError,
  SecAggMessageRejectedError,
  type SecAggStage,
} from './errors.js';
export { generateIdentity, type IdentityKeyPair } from './keys.js';
export { MessageSchemas, type Message, type MessageKind } from './messages.js';
export { defaultDegree, effectiveDegree } from './graph.js';
export {
  QuantisationSchema,
  dequantiseSum,
  quantisationLevels,
  quantisationStep,
  quantise,
  type QuantisationParams,
} from './quantise.js';
export { combineShares, splitSecret, type Share } from './shamir.js';
