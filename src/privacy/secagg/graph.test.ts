import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defaultDegree, effectiveDegree, maskingGraph } from './graph.js';

describe('SecAgg+ masking graph', () => {
  it('is symmetric, has no self-loops and the effective degree everywhere', () => {
    for (const [n, k] of [[10, 4], [100, 14], [101, 7], [500, 18]]) {
      const graph = maskingGraph(n, k, randomBytes(32));
      const degree = effectiveDegree(n, k);
      graph.forEach((list, i) => {
        expect(list).toHaveLength(degree);
        expect(new Set(list).size).toBe(degree);
        expect(list).not.toContain(i);
        expect(list.every((j) => graph[j].includes(i))).toBe(true);
      });
    }
  });

  it('is the complete graph (Bonawitz et al. 2017) when k >= n - 1', () => {
    expect(maskingGraph(4, 5, randomBytes(32))).toEqual([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]);
  });

  it('is fixed by the public seed and differs between seeds', () => {
    const seed = randomBytes(32);
    expect(maskingGraph(50, 8, seed)).toEqual(maskingGraph(50, 8, seed));
    expect(maskingGraph(50, 8, randomBytes(32))).not.toEqual(maskingGraph(50, 8, seed));
  });

  it('uses degree O(log n) by default', () => {
    expect(defaultDegree(3)).toBe(2);
    expect(defaultDegree(100)).toBe(14);
    expect(defaultDegree(500)).toBe(18);
  });
});
