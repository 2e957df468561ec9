import { describe, expect, it } from 'vitest';
import { Rng } from '../core/index.js';
import { detectPoisoning } from './poisoning-detector.js';
import type { ClientUpdate } from './strategies/index.js';

// Honest deltas share a direction (a common gradient) plus client-specific variation, as on real data.
function round(seed: number, d = 200, honest = 8): { global: Float32Array; updates: ClientUpdate[]; rng: Rng; common: Float32Array } {
  const rng = new Rng(seed);
  const global = Float32Array.from({ length: d }, () => rng.normal());
  const common = Float32Array.from({ length: d }, () => rng.normal());
  const updates = Array.from({ length: honest }, (_, i) => {
    const scale = 0.8 + 0.4 * rng.next();
    return { clientId: `h${i}`, weights: Float32Array.from(global, (g, k) => g + scale * (common[k] + 0.8 * rng.normal())), numExamples: 10 };
  });
  return { global, updates, rng, common };
}

describe('detectPoisoning', () => {
  it('flags nobody among honest clients', () => {
    for (const seed of [1, 2, 3]) {
      const { global, updates } = round(seed);
      expect(detectPoisoning(global, updates)).toEqual([]);
    }
  });

  it('flags nobody when every update is noise-dominated, as under local DP', () => {
    const rng = new Rng(8);
    const d = 5000;
    const global = new Float32Array(d);
    const updates = Array.from({ length: 10 }, (_, i) => ({ clientId: `c${i}`, weights: Float32Array.from(global, () => rng.normal()), numExamples: 10 }));
    expect(detectPoisoning(global, updates)).toEqual([]);
  });

  it('flags scaled updates by their norm and sign-flipped ones by their direction', () => {
    const { global, updates } = round(4);
    const scaled = { ...updates[0], clientId: 'x-scale', weights: Float32Array.from(global, (g, k) => g + 10 * (updates[0].weights[k] - g)) };
    const flipped = { ...updates[1], clientId: 'x-flip', weights: Float32Array.from(global, (g, k) => g - (updates[1].weights[k] - g)) };
    const flags = detectPoisoning(global, [...updates, scaled, flipped]);
    expect(flags.map((f) => `${f.clientId}:${f.reason}`).sort()).toEqual(['x-flip:cosine', 'x-scale:norm']);
    const flip = flags.find((f) => f.clientId === 'x-flip');
    expect(flip?.score).toBeLessThan(0);
    expect(flags.find((f) => f.clientId === 'x-scale')?.score).toBeGreaterThan(3.5);
  });

  it('flags large random noise, and an outlier set below the thresholds is not flagged', () => {
    const { global, updates, rng } = round(5);
    const noise = ['x1', 'x2'].map((clientId) => ({ clientId, weights: Float32Array.from(global, (g) => g + 2 * rng.normal()), numExamples: 10 }));
    const flagged = new Set(detectPoisoning(global, [...updates, ...noise]).map((f) => f.clientId));
    expect(flagged).toEqual(new Set(['x1', 'x2']));
    expect(detectPoisoning(global, [...updates, ...noise], { maxZ: 1e6, minCosine: -1 })).toEqual([]);
  });

  it('needs three updates and valid options', () => {
    const { global, updates } = round(6);
    expect(detectPoisoning(global, updates.slice(0, 2))).toEqual([]);
    expect(() => detectPoisoning(global, updates, { maxZ: -1 })).toThrow(/maxZ/);
  });
});
