import { describe, expect, it } from 'vitest';
import { SeededNoiseSource, defaultGridStep, gridL2Sensitivity } from '../../privacy/dp/index.js';
import { distributedGaussianShare } from './secagg.js';

describe('distributedGaussianShare (Kairouz, Liu & Steinke 2021)', () => {
  it('puts 1/n of the central variance on each share, on the grid, so that n shares sum to the central noise', () => {
    const d = 20_000;
    const n = 4;
    const weighting = { clipNorm: 2, noiseMultiplier: 1.5, minSummands: n };
    const step = defaultGridStep(2, d);
    const shares = Array.from({ length: n }, (_, i) => distributedGaussianShare(new Float64Array(d), weighting, new SeededNoiseSource(i + 1)));
    for (const share of shares) expect(share.every((v) => Number.isInteger(v / step))).toBe(true);
    let sq = 0;
    for (let k = 0; k < d; k++) sq += shares.reduce((s, share) => s + share[k], 0) ** 2;
    const central = 1.5 * gridL2Sensitivity(2, step, d) * step;
    expect(Math.sqrt(sq / d) / central).toBeGreaterThan(0.97);
    expect(Math.sqrt(sq / d) / central).toBeLessThan(1.03);
  });

  it('refines the grid until each share has sigma of at least 10 steps, where the sum is the discrete Gaussian up to a vanishing term', () => {
    const weighting = { clipNorm: 1, noiseMultiplier: 0.5, minSummands: 10_000, gridStep: 0.5 };
    const share = distributedGaussianShare(new Float64Array([0.3]), weighting, new SeededNoiseSource(3));
    // With a step of 0.5 each share's sigma would be 0.5 x 3 / 100 steps; the grid is halved until it is 10.
    expect(Number.isInteger(share[0] * 2 ** 12)).toBe(true);
    expect(share[0]).not.toBe(0.5);
  });
});
