import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../core/rng.js';
import { partitionDirichlet, partitionIid, partitionShards } from './partition.js';

function expectDisjointCover(parts: number[][], n: number): void {
  const seen = new Uint8Array(n);
  const bad: number[] = [];
  for (const part of parts) {
    for (const i of part) {
      if (!Number.isInteger(i) || i < 0 || i >= n || seen[i] === 1) bad.push(i);
      else seen[i] = 1;
    }
  }
  expect(bad).toEqual([]);
  expect(seen.every((s) => s === 1)).toBe(true);
}

const labelsArb = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 40, maxLength: 400 });

/** Mean over clients of the entropy (bits) of the client's label distribution. */
function meanLabelEntropy(parts: number[][], labels: ArrayLike<number>): number {
  let total = 0;
  for (const part of parts) {
    const counts = new Map<number, number>();
    for (const i of part) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
    for (const c of counts.values()) total -= (c / part.length) * Math.log2(c / part.length);
  }
  return total / parts.length;
}

// 1,000 examples, 100 of each of 10 classes.
const balanced = Int32Array.from({ length: 1000 }, (_, i) => i % 10);

describe('partitionIid', () => {
  it('covers all examples disjointly with sizes differing by at most one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 20 }), fc.integer(), (n, k, seed) => {
        fc.pre(k <= n);
        const parts = partitionIid(n, k, new Rng(seed));
        expect(parts).toHaveLength(k);
        expectDisjointCover(parts, n);
        const sizes = parts.map((p) => p.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('is deterministic for a seed and accepts labels', () => {
    expect(partitionIid(balanced, 7, new Rng(3))).toEqual(partitionIid(1000, 7, new Rng(3)));
    expect(partitionIid(1000, 7, new Rng(3))).not.toEqual(partitionIid(1000, 7, new Rng(4)));
    expect(() => partitionIid(3, 4, new Rng(1))).toThrow(expect.objectContaining({ code: 'PARTITION_IMPOSSIBLE' }));
    expect(() => partitionIid(3, 0, new Rng(1))).toThrow(expect.objectContaining({ code: 'PARTITION_INVALID' }));
  });
});

describe('partitionDirichlet', () => {
  it('covers all examples disjointly and respects minPerClient', () => {
    fc.assert(
      fc.property(labelsArb, fc.integer({ min: 1, max: 5 }), fc.double({ min: 0.05, max: 100, noNaN: true }), fc.integer(), (labels, k, alpha, seed) => {
        const parts = partitionDirichlet(labels, k, alpha, new Rng(seed), { minPerClient: 1, maxAttempts: 1000 });
        expect(parts).toHaveLength(k);
        expectDisjointCover(parts, labels.length);
        expect(parts.every((p) => p.length >= 1)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('is deterministic for a seed', () => {
    expect(partitionDirichlet(balanced, 10, 0.5, new Rng(9))).toEqual(partitionDirichlet(balanced, 10, 0.5, new Rng(9)));
  });

  it('is more label-skewed for small alpha than for large alpha', () => {
    const skewed = meanLabelEntropy(partitionDirichlet(balanced, 10, 0.1, new Rng(1), { minPerClient: 5 }), balanced);
    const mixed = meanLabelEntropy(partitionDirichlet(balanced, 10, 100, new Rng(1)), balanced);
    expect(mixed).toBeGreaterThan(3.1); // log2(10) = 3.32 for a perfectly mixed client
    expect(skewed).toBeLessThan(2);
    expect(skewed).toBeLessThan(mixed);
  });

  it('gives up with a clear error when minPerClient cannot be met', () => {
    expect(() => partitionDirichlet(balanced, 10, 0.01, new Rng(1), { minPerClient: 90, maxAttempts: 5 })).toThrow(
      expect.objectContaining({ code: 'PARTITION_IMPOSSIBLE', message: expect.stringMatching(/in 5 attempts.*raise alpha/) }),
    );
    expect(() => partitionDirichlet(balanced, 200, 1, new Rng(1))).toThrow(expect.objectContaining({ code: 'PARTITION_IMPOSSIBLE' }));
    expect(() => partitionDirichlet(balanced, 2, 0, new Rng(1))).toThrow(expect.objectContaining({ code: 'PARTITION_INVALID' }));
  });
});

describe('partitionShards', () => {
  it('covers all examples disjointly', () => {
    fc.assert(
      fc.property(labelsArb, fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (labels, k, s, seed) => {
        const parts = partitionShards(labels, k, s, new Rng(seed));
        expect(parts).toHaveLength(k);
        expectDisjointCover(parts, labels.length);
      }),
    );
  });

  it('gives each client at most shardsPerClient classes when shards align with classes', () => {
    const parts = partitionShards(balanced, 10, 2, new Rng(5));
    for (const part of parts) {
      expect(part).toHaveLength(100);
      expect(new Set(part.map((i) => balanced[i])).size).toBeLessThanOrEqual(2);
    }
    expect(parts).toEqual(partitionShards(balanced, 10, 2, new Rng(5)));
    expect(() => partitionShards(balanced, 10, 0, new Rng(5))).toThrow(expect.objectContaining({ code: 'PARTITION_INVALID' }));
  });
});
