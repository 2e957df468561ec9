export {
  DEFAULT_CONVERSION,
  DEFAULT_ORDERS,
  RdpAccountant,
  computeEpsilon,
  epsilonFromRdp,
  noiseMultiplierFor,
  type Conversion,
  type EpsilonOptions,
  type EpsilonResult,
  type GaussianEvent,
  type LaplaceEvent,
  type NoiseMultiplierParameters,
  type NoiseMultiplierResult,
  type PrivacyEvent,
  type SampledGaussianEvent,
} from './accountant.js';
export { SecureNoiseSource, SeededNoiseSource, type NoiseSource } from './noise.js';
export {
  analyticGaussianSigmaFor,
  clipL1,
  clipL2,
  gaussianDelta,
  gaussianMechanism,
  gaussianSigmaFor,
  laplaceMechanism,
  type GaussianMechanismParameters,
  type LaplaceMechanismParameters,
  type NumericVector,
} from './mechanisms.js';
export { DifferentialPrivacy, type DPConfig, type Operation, type PrivacySpend } from './differential-privacy.js';
