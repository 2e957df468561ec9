import { InvalidInputError } from '../../core/errors.js';

/**
 * How close a reconstructed image is to the original: mean squared error and SSIM (Wang, Bovik,
 * Sheikh & Simoncelli 2004, "Image Quality Assessment: From Error Visibility to Structural
 * Similarity", eq. 13 with K1 = 0.01, K2 = 0.03). The paper's 11x11 Gaussian window (sigma 1.5)
 * does not fit an 8x8 digit: the window here keeps sigma 1.5 and is cut to 7x7 (±2 sigma), the
 * window size scikit-image uses by default, and slides over the 'valid' positions only (no padding,
 * so no made-up border pixels), then the local SSIMs are averaged (eq. 17).
 */

/** Options of `ssim`. */
export interface SsimOptions {
  /** Image width; the height is length / width. */
  width: number;
  /** Dynamic range L of the pixel values; 1 for images in [0, 1]. */
  dataRange?: number;
  /** Side of the square Gaussian window, odd; 7 by default (cut to the image when larger). */
  window?: number;
  /** Standard deviation of the window, in pixels; 1.5 as in Wang et al. 2004. */
  sigma?: number;
}

/** Mean squared error of two images of the same size. */
export function mse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  sameSize(a, b);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum / a.length;
}

/** Mean SSIM of two grey images of the same size (row-major, `width` pixels a row). */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, options: SsimOptions): number {
  sameSize(a, b);
  const { width } = options;
  const height = a.length / width;
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height)) {
    throw new InvalidInputError('IMAGE_SHAPE_INVALID', `an image of ${a.length} pixels cannot be ${width} pixels wide; give its width`, { length: a.length, width });
  }
  const range = options.dataRange ?? 1;
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  const side = Math.min(options.window ?? 7, oddAtMost(width), oddAtMost(height));
  const weights = gaussianWindow(side, options.sigma ?? 1.5);
  let total = 0;
  let count = 0;
  for (let top = 0; top + side <= height; top++) {
    for (let left = 0; left + side <= width; left++) {
      let muA = 0;
      let muB = 0;
      for (let r = 0; r < side; r++) {
        for (let c = 0; c < side; c++) {
          const w = weights[r * side + c];
          const at = (top + r) * width + left + c;
          muA += w * a[at];
          muB += w * b[at];
        }
      }
      let varA = 0;
      let varB = 0;
      let cov = 0;
      for (let r = 0; r < side; r++) {
        for (let c = 0; c < side; c++) {
          const w = weights[r * side + c];
          const at = (top + r) * width + left + c;
          varA += w * (a[at] - muA) ** 2;
          varB += w * (b[at] - muB) ** 2;
          cov += w * (a[at] - muA) * (b[at] - muB);
        }
      }
      total += ((2 * muA * muB + c1) * (2 * cov + c2)) / ((muA * muA + muB * muB + c1) * (varA + varB + c2));
      count++;
    }
  }
  return total / count;
}

/** A side x side Gaussian window of standard deviation sigma, weights summing to 1. */
function gaussianWindow(side: number, sigma: number): Float64Array {
  const half = (side - 1) / 2;
  const w = new Float64Array(side * side);
  let sum = 0;
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < side; c++) {
      const v = Math.exp(-((r - half) ** 2 + (c - half) ** 2) / (2 * sigma * sigma));
      w[r * side + c] = v;
      sum += v;
    }
  }
  for (let i = 0; i < w.length; i++) w[i] /= sum;
  return w;
}

function oddAtMost(n: number): number {
  return n % 2 === 1 ? n : n - 1;
}

function sameSize(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length || a.length === 0) {
    throw new InvalidInputError('IMAGE_SHAPE_INVALID', `images of ${a.length} and ${b.length} pixels cannot be compared; give two images of the same, non-zero size`, { a: a.length, b: b.length });
  }
}
