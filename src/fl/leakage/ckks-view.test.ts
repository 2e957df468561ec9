import { describe, expect, it } from 'vitest';
import { Rng } from '../../core/rng.js';
import { ckksView } from './ckks-view.js';

describe("a multi-party CKKS coordinator's view, from the project's real scheme", () => {
  it('opens to the mean of the updates, while each ciphertext read as numbers has nothing of its update', async () => {
    const rng = new Rng(4);
    const updates = Array.from({ length: 3 }, () => Float32Array.from({ length: 300 }, () => 0.01 * rng.normal()));
    const view = await ckksView({ updates });
    for (let k = 0; k < 300; k++) expect(view.mean[k]).toBeCloseTo((updates[0][k] + updates[1][k] + updates[2][k]) / 3, 6);
    expect(view.ciphertexts).toHaveLength(3);
    expect(view.ciphertextBytes).toBeGreaterThan(100_000);
    for (let i = 0; i < 3; i++) {
      // Coefficients mod a prime of at least 40 bits over the scale 2^40: uniform over [0, q / 2^40), far beyond an update's 0.01.
      const rms = Math.sqrt(view.ciphertexts[i].reduce((s, v) => s + v * v, 0) / 300);
      expect(rms).toBeGreaterThan(0.3);
      expect(view.ciphertexts[i].every((v) => v >= 0)).toBe(true);
    }
  }, 60_000);
});
