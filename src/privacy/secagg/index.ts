export { ClientSecAgg, type ClientSecAggOptions } from './client.js';
export { ServerSecAgg, type SecAggBlame, type SecAggResult, type ServerSecAggOptions, type SurvivorSets } from './server.js';
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
  CORRECTNESS_BITS,
  DEFAULT_DELTA,
  DEFAULT_GAMMA,
  SECURITY_BITS,
  checkParameters,
  chooseParameters,
  leastSecureThreshold,
  type ParameterViolation,
  type SecAggParameters,
  type ThreatModel,
} from './params.js';
export { DEFAULT_CLIENT_POLICY, type ClientPolicy } from './policy.js';
export {
  SecAggAbortError,
  SecAggBelowThresholdError,
  SecAggConfigRefusedError,
  SecAggError,
  SecAggMessageRejectedError,
  type SecAggStage,
} from './errors.js';
export { generateIdentity, type IdentityKeyPair } from './keys.js';
export { MessageSchemas, type Message, type MessageKind } from './messages.js';
export {
  QuantisationSchema,
  dequantiseSum,
  quantisationLevels,
  quantisationStep,
  quantise,
  type QuantisationParams,
} from './quantise.js';
export { combineShares, splitSecret, type Share } from './shamir.js';
