import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidInputError, StateError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { NodeStatus } from '../core/storage/repository.js';
import { selectClients, type SelectionCandidate } from './client-selection.js';

const node = (id: string, status: NodeStatus = 'online', cpuCores = 4, memoryMb = 8192, gpuCount?: number): SelectionCandidate => ({
  id,
  status,
  resources: { cpuCores, memoryMb, gpuCount },
});

const fleet = (n: number): SelectionCandidate[] => Array.from({ length: n }, (_, i) => node(`n${String(i).padStart(3, '0')}`));

const candidateArb = fc.uniqueArray(
  fc.record({
    id: fc.string({ minLength: 1, maxLength: 6 }),
    status: fc.constantFrom<NodeStatus>('online', 'busy', 'offline'),
    resources: fc.record({
      cpuCores: fc.integer({ min: 1, max: 16 }),
      memoryMb: fc.integer({ min: 512, max: 65536 }),
      gpuCount: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    }),
  }),
  { selector: (c) => c.id, maxLength: 40 },
);

describe('selectClients', () => {
  it('selects ceil(fraction · eligible) of the eligible nodes, sorted by id', () => {
    const picked = selectClients(fleet(10), { fraction: 0.3, minClients: 1 }, new Rng(1));
    expect(picked).toHaveLength(3);
    expect(picked).toEqual([...picked].sort());
  });

  it('does not round 0.07 · 100 = 7.000000000000001 up to 8', () => {
    expect(selectClients(fleet(100), { fraction: 0.07, minClients: 1 }, new Rng(1))).toHaveLength(7);
  });

  it('clamps the count to minClients and maxClients', () => {
    expect(selectClients(fleet(10), { fraction: 0.1, minClients: 4 }, new Rng(1))).toHaveLength(4);
    expect(selectClients(fleet(10), { fraction: 1, minClients: 1, maxClients: 6 }, new Rng(1))).toHaveLength(6);
  });

  it('only picks online nodes that meet the requirements', () => {
    const nodes = [node('a'), node('b', 'busy'), node('c', 'offline'), node('d', 'online', 1), node('e', 'online', 8, 512), node('f', 'online', 8, 16384, 1)];
    const picked = selectClients(nodes, { fraction: 1, minClients: 1, requirements: { cpuCores: 2, memoryMb: 1024 } }, new Rng(3));
    expect(picked).toEqual(['a', 'f']);
    expect(selectClients(nodes, { fraction: 1, minClients: 1, requirements: { gpuCount: 1 } }, new Rng(3))).toEqual(['f']);
  });

  it('is deterministic for a seed and independent of the order of candidates', () => {
    const nodes = fleet(50);
    const a = selectClients(nodes, { fraction: 0.2, minClients: 1 }, new Rng(42));
    const b = selectClients([...nodes].reverse(), { fraction: 0.2, minClients: 1 }, new Rng(42));
    const c = selectClients(nodes, { fraction: 0.2, minClients: 1 }, new Rng(43));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('samples uniformly without weights', () => {
    const counts = new Map<string, number>();
    const rng = new Rng(5);
    for (let t = 0; t < 4000; t++) {
      for (const id of selectClients(fleet(10), { fraction: 0.2, minClients: 1 }, rng)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // Each node is picked with probability 2/10: 800 of 4000 rounds.
    for (const c of counts.values()) expect(Math.abs(c - 800)).toBeLessThan(100);
  });

  it('favours heavier weights and uses zero-weight nodes only to fill the count', () => {
    const nodes = fleet(3);
    const weights = { n000: 9, n001: 1 };
    const rng = new Rng(9);
    let heavyFirst = 0;
    for (let t = 0; t < 2000; t++) {
      const [only] = selectClients(nodes, { fraction: 0.01, minClients: 1, weights }, rng);
      expect(only).not.toBe('n002');
      if (only === 'n000') heavyFirst++;
    }
    // P(n000 drawn first) = 9 / (9 + 1).
    expect(Math.abs(heavyFirst / 2000 - 0.9)).toBeLessThan(0.03);
    expect(selectClients(nodes, { fraction: 1, minClients: 3, weights }, rng)).toEqual(['n000', 'n001', 'n002']);
  });

  it('names how many were needed and how many are eligible when too few qualify', () => {
    const nodes = [node('a'), node('b', 'offline'), node('c')];
    const fn = (): string[] => selectClients(nodes, { fraction: 0.5, minClients: 3 }, new Rng(1));
    expect(fn).toThrow(StateError);
    expect(fn).toThrow(expect.objectContaining({ code: 'SELECTION_INSUFFICIENT', details: expect.objectContaining({ needed: 3, eligible: 2 }) }));
    expect(fn).toThrow(/at least 3 clients but only 2 of 3/);
  });

  it.each([
    { fraction: 0, minClients: 1 },
    { fraction: 1.5, minClients: 1 },
    { fraction: 0.5, minClients: 0 },
    { fraction: 0.5, minClients: 3, maxClients: 2 },
    { fraction: 0.5, minClients: 1, weights: { n000: -1 } },
  ])('refuses options %j', (options) => {
    expect(() => selectClients(fleet(5), options, new Rng(1))).toThrow(InvalidInputError);
  });

  it('refuses a node listed twice', () => {
    expect(() => selectClients([node('a'), node('a')], { fraction: 1, minClients: 1 }, new Rng(1))).toThrow(
      expect.objectContaining({ code: 'SELECTION_DUPLICATE_NODE' }),
    );
  });

  it('never picks an ineligible node, never repeats one and picks the right count', () => {
    fc.assert(
      fc.property(
        candidateArb,
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 10 }),
        fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        fc.integer(),
        (candidates, fraction, minClients, extra, cpuCores, weighted, seed) => {
          const maxClients = extra === undefined ? undefined : minClients + extra;
          const weights = weighted ? Object.fromEntries(candidates.map((c, i) => [c.id, i % 3])) : undefined;
          const requirements = { cpuCores };
          const eligible = candidates.filter((c) => c.status === 'online' && c.resources.cpuCores >= cpuCores);
          const options = { fraction, minClients, maxClients, requirements, weights };
          if (eligible.length < minClients) {
            expect(() => selectClients(candidates, options, new Rng(seed))).toThrow(StateError);
            return;
          }
          const picked = selectClients(candidates, options, new Rng(seed));
          const eligibleIds = new Set(eligible.map((c) => c.id));
          for (const id of picked) expect(eligibleIds.has(id)).toBe(true);
          expect(new Set(picked).size).toBe(picked.length);
          const expected = Math.min(Math.max(Math.ceil(Number((fraction * eligible.length).toPrecision(12))), minClients), maxClients ?? Infinity);
          expect(picked).toHaveLength(expected);
          expect(picked).toEqual([...picked].sort());
        },
      ),
    );
  });
});
