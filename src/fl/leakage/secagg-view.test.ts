import { describe, expect, it } from 'vitest';
import { Rng } from '../../core/rng.js';
import { secAggView } from './secagg-view.js';

function correlation(a: Float32Array, b: Float32Array): number {
  const mean = (x: Float32Array): number => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(a);
  const mb = mean(b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let k = 0; k < a.length; k++) {
    ab += (a[k] - ma) * (b[k] - mb);
    aa += (a[k] - ma) ** 2;
    bb += (b[k] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

describe("a SecAgg+ coordinator's view, from the project's real clients and server", () => {
  const rng = new Rng(9);
  const contributions = Array.from({ length: 6 }, () => Float32Array.from({ length: 500 }, () => 0.1 * rng.normal()));
  const view = secAggView({ contributions, clip: 1 });

  it('holds the exact sum of the contributions, up to quantisation', () => {
    expect(view.summands).toBe(6);
    for (let k = 0; k < 500; k++) expect(view.sum[k]).toBeCloseTo(contributions.reduce((s, c) => s + c[k], 0), 6);
  });

  it('holds masked inputs spread over all of Z_(2^32), unrelated to the contributions', () => {
    for (let i = 0; i < contributions.length; i++) {
      const masked = view.masked[i];
      // A word uniform in Z_(2^32), read as one input, spans [-clip, (2 maxSummands - 1) clip]: most fall outside [-1, 1].
      expect(masked.filter((v) => v > 1).length).toBeGreaterThan(masked.length / 2);
      expect(Math.min(...masked)).toBeGreaterThanOrEqual(-1);
      expect(Math.abs(correlation(masked, contributions[i]))).toBeLessThan(0.2);
    }
  });
});
