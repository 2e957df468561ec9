import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { mse, ssim } from './image-similarity.js';

const C1 = 0.01 ** 2;
const digitLike = (rng: Rng): Float32Array => Float32Array.from({ length: 64 }, (_, i) => ((i % 8) - 3.5) ** 2 + (Math.floor(i / 8) - 3.5) ** 2 < 9 ? 0.6 + 0.4 * rng.next() : 0.1 * rng.next());
const image = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 64, maxLength: 64 }).map((v) => Float32Array.from(v));

describe('mean squared error', () => {
  it('is 0 for identical images and the mean of squared differences otherwise', () => {
    expect(mse([0.5, 0.25], [0.5, 0.25])).toBe(0);
    expect(mse([0, 1, 0, 1], [1, 1, 0, 0])).toBe(0.5);
  });

  it('refuses images of different sizes', () => {
    expect(() => mse([0], [0, 1])).toThrow(InvalidInputError);
  });
});

describe('SSIM (Wang et al. 2004, 7x7 Gaussian window of sigma 1.5 on 8x8 images)', () => {
  it('is 1 for identical images', () => {
    fc.assert(fc.property(image, (x) => Math.abs(ssim(x, x, { width: 8 }) - 1) < 1e-9));
  });

  it('is symmetric and at most 1', () => {
    fc.assert(
      fc.property(image, image, (x, y) => {
        const s = ssim(x, y, { width: 8 });
        return Math.abs(s - ssim(y, x, { width: 8 })) < 1e-12 && s <= 1 + 1e-12;
      }),
    );
  });

  it('is negative for an image and its negative (1 - x): the structure term turns to -1', () => {
    const x = digitLike(new Rng(3));
    const negative = x.map((v) => 1 - v);
    expect(ssim(x, negative, { width: 8 })).toBeLessThan(-0.5);
  });

  it('is the luminance term alone for two flat images: (2 a b + C1) / (a^2 + b^2 + C1), eq. 6', () => {
    const a = 0.2;
    const b = 0.7;
    const expected = (2 * a * b + C1) / (a * a + b * b + C1);
    expect(ssim(new Float32Array(64).fill(a), new Float32Array(64).fill(b), { width: 8 })).toBeCloseTo(expected, 6);
  });

  it('keeps the structure of an image shifted by a constant: only the luminance term drops', () => {
    const x = digitLike(new Rng(5)).map((v) => v * 0.5);
    const shifted = x.map((v) => v + 0.3);
    const s = ssim(x, shifted, { width: 8 });
    expect(s).toBeLessThan(1);
    expect(s).toBeGreaterThan(0.7);
  });

  it('is near 0 for independent noise images, far below a noisy copy of the same image', () => {
    const rng = new Rng(11);
    const x = digitLike(rng);
    let unrelated = 0;
    for (let k = 0; k < 50; k++) unrelated += ssim(x, Float32Array.from({ length: 64 }, () => rng.next()), { width: 8 }) / 50;
    const noisy = x.map((v) => v + 0.05 * rng.normal());
    expect(Math.abs(unrelated)).toBeLessThan(0.1);
    expect(ssim(x, noisy, { width: 8 })).toBeGreaterThan(0.8);
  });

  it('refuses a width that does not divide the image', () => {
    expect(() => ssim(new Float32Array(64), new Float32Array(64), { width: 7 })).toThrow(/cannot be 7 pixels wide/);
  });
});
