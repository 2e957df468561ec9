import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Rng } from './rng.js';

describe('Rng', () => {
  it('replays the same stream for the same seed and a different one for another seed', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 16 }, () => a.nextUint32());
    const sb = Array.from({ length: 16 }, () => b.nextUint32());
    const sc = Array.from({ length: 16 }, () => c.nextUint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it('draws uniforms in [0, 1) with mean near 1/2', () => {
    const r = new Rng(1);
    let sum = 0;
    for (let i = 0; i < 20000; i++) {
      const u = r.next();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
    }
    expect(Math.abs(sum / 20000 - 0.5)).toBeLessThan(0.01);
  });

  it('draws normals with mean 0 and variance 1', () => {
    const r = new Rng(7);
    const n = 50000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = r.normal();
      s += x;
      s2 += x * x;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.02);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.03);
  });

  it('draws gamma variates whose mean equals the shape', () => {
    for (const shape of [0.3, 1, 4.5]) {
      const r = new Rng(11);
      let s = 0;
      const n = 20000;
      for (let i = 0; i < n; i++) s += r.gamma(shape);
      expect(Math.abs(s / n - shape) / shape).toBeLessThan(0.05);
    }
  });

  it('shuffles into a permutation of the input', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.integer(), (xs, seed) => {
        const shuffled = new Rng(seed).shuffle([...xs]);
        expect([...shuffled].sort((p, q) => p - q)).toEqual([...xs].sort((p, q) => p - q));
      }),
    );
  });
});
