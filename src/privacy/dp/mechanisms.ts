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

// Rounding may add at most 1% to the noise (Gaussian) or to the scale (Laplace) by default.
const GRID_SLACK = 0.01;
// clipL2 computes the clipped norm in floating point: allow for it being a few ulps above the bound.
const CLIP_ROUNDING = 1 + 1e-9;

/** The largest power of two at most x: scaling by it is exact, so x / step and k x step carry no rounding. */
export function powerOfTwoAtMost(x: number): number {
  parseWithSchema(x, positive, 'grid step', options);
  return 2 ** Math.floor(Math.log2(x));
}

/**
 * The default fixed-point step for `dimension` values of L2 sensitivity `l2Sensitivity`: the largest
 * power of two at most 1% of sensitivity / sqrt(dimension), so that rounding to the grid (which can
 * move a neighbouring pair apart by up to sqrt(dimension) steps) adds at most 1% to the noise.
 */
export function defaultGridStep(l2Sensitivity: number, dimension: number): number {
  return powerOfTwoAtMost((GRID_SLACK * l2Sensitivity) / Math.sqrt(Math.max(1, dimension)));
}

/**
 * L2 sensitivity in grid steps after rounding to the grid: a neighbouring pair of vectors at most
 * `l2Sensitivity` apart are, once each coordinate is rounded to the nearest multiple of `step`, at
 * most l2Sensitivity / step + sqrt(dimension) steps apart (each coordinate's two rounding errors
 * differ by less than one step).
 */
export function gridL2Sensitivity(l2Sensitivity: number, step: number, dimension: number): number {
  return (l2Sensitivity / step) * CLIP_ROUNDING + Math.sqrt(dimension);
}

/** Parameters of `gaussianMechanism`. */
export interface GaussianMechanismParameters {
  /** Bound on how far one individual can move the vector in L2 norm (the clipping norm). */
  l2Sensitivity: number;
  /** Noise in units of the sensitivity: sigma = noiseMultiplier x the sensitivity in grid steps. */
  noiseMultiplier: number;
  /** Fixed-point step of the release, rounded down to a power of two; default `defaultGridStep`. */
  gridStep?: number;
}

/**
 * The discrete Gaussian mechanism (Canonne, Kamath & Steinke 2020 §3): each coordinate is rounded to
 * the nearest multiple of the grid step, N_Z(0, sigma^2) is added in grid steps with
 * sigma = noiseMultiplier x `gridL2Sensitivity`, and the integers are scaled back. Its RDP is at
 * most alpha / (2 noiseMultiplier^2), the continuous Gaussian's (CKS 2020 Thm 4 per coordinate,
 * summed over the independent coordinates), so it is charged as a `gaussian` event.
 */
export function gaussianMechanism(vector: NumericVector, parameters: GaussianMechanismParameters, source: NoiseSource): Float64Array {
  const sensitivity = parseWithSchema(parameters.l2Sensitivity, nonNegative, 'L2 sensitivity', options);
  const multiplier = parseWithSchema(parameters.noiseMultiplier, nonNegative, 'noise multiplier', options);
  checkFinite(vector);
  const d = vector.length;
  if (d === 0) return new Float64Array(0);
  const step = parameters.gridStep === undefined ? defaultGridStep(sensitivity || 1, d) : powerOfTwoAtMost(parameters.gridStep);
  const noise = source.discreteGaussian(d, multiplier * gridL2Sensitivity(sensitivity, step, d));
  for (let k = 0; k < d; k++) noise[k] = (Math.round(vector[k] / step) + noise[k]) * step;
  return noise;
}

/** Parameters of `laplaceMechanism`. */
export interface LaplaceMechanismParameters {
  /** Bound on how far one individual can move the vector in L1 norm. */
  l1Sensitivity: number;
  /** The pure-DP epsilon this release spends. */
  epsilon: number;
  /** Fixed-point step of the release, rounded down to a power of two; default: 1% of l1Sensitivity / dimension. */
  gridStep?: number;
}

/**
 * The discrete Laplace mechanism (CKS 2020 §2.2, Algorithm 2): each coordinate rounded to the grid,
 * discrete Laplace noise of integer scale t = ceil(L1 sensitivity in grid steps / epsilon) added in
 * grid steps: (epsilon, 0)-DP, as rounding moves a neighbouring pair at most one step per coordinate apart.
 */
export function laplaceMechanism(vector: NumericVector, parameters: LaplaceMechanismParameters, source: NoiseSource): Float64Array {
  const sensitivity = parseWithSchema(parameters.l1Sensitivity, nonNegative, 'L1 sensitivity', options);
  const epsilon = parseWithSchema(parameters.epsilon, positive, 'epsilon', options);
  checkFinite(vector);
  const d = vector.length;
  if (d === 0) return new Float64Array(0);
  const step = parameters.gridStep === undefined ? powerOfTwoAtMost((GRID_SLACK * (sensitivity || 1)) / d) : powerOfTwoAtMost(parameters.gridStep);
  const units = (sensitivity / step) * CLIP_ROUNDING + d;
  const noise = source.discreteLaplace(d, Math.ceil(units / epsilon));
  for (let k = 0; k < d; k++) noise[k] = (Math.round(vector[k] / step) + noise[k]) * step;
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
