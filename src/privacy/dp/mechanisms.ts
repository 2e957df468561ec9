import { z } from 'zod';
import { InvalidInputError, parseWithSchema } from '../../core/index.js';
import { logErfc } from './log-math.js';
import type { NoiseSource } from './noise.js';

/** A vector to clip or perturb: a plain array or a typed array of model weights. */
export type NumericVector = ArrayLike<number>;

const positive = z.number().gt(0).finite();
const nonNegative = z.number().min(0).finite();
const delta = z.number().gt(0).lt(1);
const options = { code: 'DP_INPUT_INVALID' };

function checkFinite(vector: NumericVector): void {
  for (let k = 0; k < vector.length; k++) {
    if (!Number.isFinite(vector[k])) {
      throw new InvalidInputError('DP_INPUT_INVALID', `vector[${k}] is ${vector[k]}: every entry must be a finite number before noise is added`);
    }
  }
}

function scaled(vector: NumericVector, norm: number, maxNorm: number): Float64Array {
  const out = Float64Array.from(vector);
  if (norm > maxNorm) {
    const factor = maxNorm / norm;
    for (let k = 0; k < out.length; k++) out[k] *= factor;
  }
  return out;
}

/** A copy of `vector` scaled down to L2 norm at most `maxNorm`, which bounds the L2 sensitivity of a sum of clipped vectors by maxNorm (Abadi et al. 2016 §3.1). */
export function clipL2(vector: NumericVector, maxNorm: number): Float64Array {
  parseWithSchema(maxNorm, nonNegative, 'L2 clipping norm', options);
  checkFinite(vector);
  // Scaling by the largest magnitude first keeps the sum of squares from overflowing.
  let largest = 0;
  for (let k = 0; k < vector.length; k++) largest = Math.max(largest, Math.abs(vector[k]));
  let sum = 0;
  if (largest > 0) for (let k = 0; k < vector.length; k++) sum += (vector[k] / largest) ** 2;
  return scaled(vector, largest * Math.sqrt(sum), maxNorm);
}

/** A copy of `vector` scaled down to L1 norm at most `maxNorm`, the sensitivity the Laplace mechanism needs. */
export function clipL1(vector: NumericVector, maxNorm: number): Float64Array {
  parseWithSchema(maxNorm, nonNegative, 'L1 clipping norm', options);
  checkFinite(vector);
  let norm = 0;
  for (let k = 0; k < vector.length; k++) norm += Math.abs(vector[k]);
  return scaled(vector, norm, maxNorm);
}

/** Parameters of `gaussianMechanism`. */
export interface GaussianMechanismParameters {
  /** Bound on how far one individual can move the vector in L2 norm (the clipping norm). */
  l2Sensitivity: number;
  /** Noise standard deviation in units of the sensitivity. */
  noiseMultiplier: number;
}

/** vector + N(0, sigma^2 I) with sigma = noiseMultiplier x l2Sensitivity (Dwork & Roth 2014 §3.5.3; Mironov 2017 Table II for its RDP). */
export function gaussianMechanism(vector: NumericVector, parameters: GaussianMechanismParameters, source: NoiseSource): Float64Array {
  const sensitivity = parseWithSchema(parameters.l2Sensitivity, nonNegative, 'L2 sensitivity', options);
  const multiplier = parseWithSchema(parameters.noiseMultiplier, nonNegative, 'noise multiplier', options);
  checkFinite(vector);
  const noise = source.gaussian(vector.length, multiplier * sensitivity);
  for (let k = 0; k < noise.length; k++) noise[k] += vector[k];
  return noise;
}

/** Parameters of `laplaceMechanism`. */
export interface LaplaceMechanismParameters {
  /** Bound on how far one individual can move the vector in L1 norm. */
  l1Sensitivity: number;
  /** The pure-DP epsilon this release spends. */
  epsilon: number;
}

/** vector + Laplace(0, b) per coordinate with b = l1Sensitivity / epsilon: (epsilon, 0)-DP (Dwork & Roth 2014 Thm 3.6). */
export function laplaceMechanism(vector: NumericVector, parameters: LaplaceMechanismParameters, source: NoiseSource): Float64Array {
  const sensitivity = parseWithSchema(parameters.l1Sensitivity, nonNegative, 'L1 sensitivity', options);
  const epsilon = parseWithSchema(parameters.epsilon, positive, 'epsilon', options);
  checkFinite(vector);
  const noise = source.laplace(vector.length, sensitivity / epsilon);
  for (let k = 0; k < noise.length; k++) noise[k] += vector[k];
  return noise;
}

function checkCalibration(epsilon: number, targetDelta: number, sensitivity: number): void {
  parseWithSchema(epsilon, positive, 'epsilon', options);
  parseWithSchema(targetDelta, delta, 'delta', options);
  parseWithSchema(sensitivity, nonNegative, 'L2 sensitivity', options);
}

/**
 * Classic Gaussian calibration sigma = sqrt(2 ln(1.25/delta)) x sensitivity / epsilon (Dwork & Roth 2014 Thm A.1).
 * The theorem only holds for epsilon < 1, so larger epsilon is refused; use analyticGaussianSigmaFor there.
 */
export function gaussianSigmaFor(epsilon: number, targetDelta: number, sensitivity: number): number {
  checkCalibration(epsilon, targetDelta, sensitivity);
  if (epsilon >= 1) {
    throw new InvalidInputError(
      'DP_INPUT_INVALID',
      `epsilon ${epsilon} is outside the classic Gaussian calibration (Dwork & Roth Thm A.1 needs epsilon < 1); use analyticGaussianSigmaFor, which holds for every epsilon`,
      { epsilon },
    );
  }
  return (Math.sqrt(2 * Math.log(1.25 / targetDelta)) * sensitivity) / epsilon;
}

/** log Phi(x) of the standard normal CDF, accurate in the lower tail. */
const logPhi = (x: number): number => Math.log(0.5) + logErfc(-x / Math.SQRT2);

/**
 * The exact delta of the Gaussian mechanism with noise sigma at epsilon (Balle & Wang 2018 Thm 8):
 * Phi(D/(2s) - e s/D) - e^e Phi(-D/(2s) - e s/D).
 */
export function gaussianDelta(sigma: number, epsilon: number, sensitivity: number): number {
  if (sensitivity === 0) return 0;
  if (sigma === 0) return 1;
  const a = sensitivity / (2 * sigma);
  const b = (epsilon * sigma) / sensitivity;
  return Math.max(0, Math.exp(logPhi(a - b)) - Math.exp(epsilon + logPhi(-a - b)));
}

/** The smallest sigma (to 1e-9 relative) for which the Gaussian mechanism is (epsilon, delta)-DP, for any epsilon > 0 (analytic Gaussian mechanism, Balle & Wang 2018 Thm 8), by bisection. */
export function analyticGaussianSigmaFor(epsilon: number, targetDelta: number, sensitivity: number): number {
  checkCalibration(epsilon, targetDelta, sensitivity);
  if (sensitivity === 0) return 0;
  // delta(sigma) falls as sigma grows; bracket in units of the sensitivity, then bisect.
  let lo = 0;
  let hi = sensitivity;
  while (gaussianDelta(hi, epsilon, sensitivity) > targetDelta) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1e-9 * hi) {
    const mid = (lo + hi) / 2;
    if (gaussianDelta(mid, epsilon, sensitivity) > targetDelta) lo = mid;
    else hi = mid;
  }
  return hi;
}
