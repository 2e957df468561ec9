import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.js';
import { Rng } from '../core/index.js';
import { createDataset } from '../ml/index.js';
import { AdversaryConfigSchema, DEFAULT_INFLATED_EXAMPLES, DEFAULT_NOISE_STD, DEFAULT_SCALE_FACTOR, attackOf, attackedWeights, chooseAdversaries, flipLabels } from './attacks.js';

const ids = Array.from({ length: 10 }, (_, i) => `client-0${i}`);

describe('simulated attacks', () => {
  it('chooses `count` distinct adversaries, the same ones for the same seed', () => {
    const config = AdversaryConfigSchema.parse({ clients: 3, kind: 'scale' });
    const a = chooseAdversaries(ids, config, new Rng(7));
    expect(a).toHaveLength(3);
    expect(new Set(a).size).toBe(3);
    expect(a.every((id) => ids.includes(id))).toBe(true);
    expect(chooseAdversaries([...ids].reverse(), config, new Rng(7))).toEqual(a);
    const others = new Set([1, 2, 3, 4, 5].map((s) => chooseAdversaries(ids, config, new Rng(s)).join()));
    expect(others.size).toBeGreaterThan(1);
  });

  it('takes a list of ids as given and refuses unknown ids or no honest client', () => {
    expect(chooseAdversaries(ids, AdversaryConfigSchema.parse({ clients: ['client-04', 'client-01'], kind: 'noise' }), new Rng(1))).toEqual(['client-01', 'client-04']);
    expect(() => chooseAdversaries(ids, AdversaryConfigSchema.parse({ clients: ['client-99'], kind: 'noise' }), new Rng(1))).toThrow(/client-99/);
    expect(() => chooseAdversaries(ids, AdversaryConfigSchema.parse({ clients: 10, kind: 'noise' }), new Rng(1))).toThrow(InvalidInputError);
  });

  it('fills the default factor and refuses a factor on label flipping', () => {
    expect(attackOf(AdversaryConfigSchema.parse({ clients: 1, kind: 'scale' }))).toEqual({ kind: 'scale', factor: DEFAULT_SCALE_FACTOR });
    expect(attackOf(AdversaryConfigSchema.parse({ clients: 1, kind: 'noise' }))).toEqual({ kind: 'noise', factor: DEFAULT_NOISE_STD });
    expect(attackOf(AdversaryConfigSchema.parse({ clients: 1, kind: 'noise', factor: 2 })).factor).toBe(2);
    expect(AdversaryConfigSchema.safeParse({ clients: 1, kind: 'label-flip', factor: 2 }).success).toBe(false);
    expect(AdversaryConfigSchema.safeParse({ clients: 1, kind: 'backdoor' }).success).toBe(false);
  });

  it('inflates the claimed weight: 1e12 examples by default, a whole number at most 1e12, for an all-zero model', () => {
    expect(attackOf(AdversaryConfigSchema.parse({ clients: 1, kind: 'inflate-weight' }))).toEqual({ kind: 'inflate-weight', factor: DEFAULT_INFLATED_EXAMPLES });
    expect(DEFAULT_INFLATED_EXAMPLES).toBe(1e12);
    expect(attackOf(AdversaryConfigSchema.parse({ clients: 1, kind: 'inflate-weight', factor: 5000 })).factor).toBe(5000);
    expect(AdversaryConfigSchema.safeParse({ clients: 1, kind: 'inflate-weight', factor: 2.5 }).success).toBe(false);
    expect(AdversaryConfigSchema.safeParse({ clients: 1, kind: 'inflate-weight', factor: 2e12 }).success).toBe(false);
    expect(Array.from(attackedWeights(Float32Array.from([1, 2]), Float32Array.from([3, 4]), { kind: 'inflate-weight', factor: 1e12 }, 1))).toEqual([0, 0]);
  });

  it('flips every label y to C − 1 − y and leaves the honest data alone', () => {
    const data = createDataset(new Float32Array(8), Int32Array.from([0, 3, 9, 5]), [2], 10);
    const flipped = flipLabels(data);
    expect(Array.from(flipped.labels)).toEqual([9, 6, 0, 4]);
    expect(Array.from(data.labels)).toEqual([0, 3, 9, 5]);
    expect(flipped.features).toBe(data.features);
  });

  it('scales the delta, or replaces it with seeded Gaussian noise of the given std', () => {
    const global = Float32Array.from([1, 1]);
    const trained = Float32Array.from([1.5, 0.5]);
    expect(Array.from(attackedWeights(global, trained, { kind: 'scale', factor: 10 }, 1))).toEqual([6, -4]);
    expect(Array.from(attackedWeights(global, trained, { kind: 'label-flip', factor: 0 }, 1))).toEqual([1.5, 0.5]);
    const d = 20000;
    const noisy = attackedWeights(new Float32Array(d), new Float32Array(d), { kind: 'noise', factor: 0.5 }, 3);
    const sd = Math.sqrt(noisy.reduce((s, x) => s + x * x, 0) / d);
    expect(sd).toBeGreaterThan(0.49);
    expect(sd).toBeLessThan(0.51);
    expect(Array.from(attackedWeights(new Float32Array(d), new Float32Array(d), { kind: 'noise', factor: 0.5 }, 3))).toEqual(Array.from(noisy));
  });
});
