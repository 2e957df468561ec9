import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UpdateRejectedError } from './round-errors.js';
import { WEIGHT_OVER_BOUND, boundedWeight, roundWeightBounds } from './weight-bound.js';

const share = (bounds: Map<string, number>): number => {
  const total = [...bounds.values()].reduce((s, w) => s + w, 0);
  return Math.max(...bounds.values()) / total;
};

const declaredCounts = fc.array(fc.integer({ min: 1, max: 1e12 }), { minLength: 1, maxLength: 40 }).map((ws) => new Map(ws.map((w, i) => [`p${i}`, w])));

describe('weight bounds of a round', () => {
  it('leaves declared counts as they are without a cap', () => {
    const declared = new Map([
      ['a', 10],
      ['b', 1e12],
    ]);
    expect(roundWeightBounds(declared)).toEqual(declared);
  });

  it('cuts a participant that declared 1e12 examples to the largest weight that keeps its share within the cap', () => {
    const declared = new Map([
      ['a', 400],
      ['b', 600],
      ['mallory', 1e12],
    ]);
    const bounds = roundWeightBounds(declared, 0.5);
    expect(bounds.get('a')).toBe(400);
    expect(bounds.get('b')).toBe(600);
    // 1000 is exactly half of 2000: one more example would put it over.
    expect(bounds.get('mallory')).toBe(1000);
  });

  it('gives everyone the same weight when the cap is below 1/n, the most even weighting there is', () => {
    const bounds = roundWeightBounds(
      new Map([
        ['a', 5],
        ['b', 9],
        ['c', 1e9],
      ]),
      0.2,
    );
    expect([...bounds.values()]).toEqual([5, 5, 5]);
  });

  it('never raises a weight, keeps their order, and holds every share to the cap (property)', () => {
    fc.assert(
      fc.property(declaredCounts, fc.double({ min: 0.01, max: 1, noNaN: true }), (declared, cap) => {
        const bounds = roundWeightBounds(declared, cap);
        const ids = [...declared.keys()];
        for (const id of ids) {
          const bound = bounds.get(id) as number;
          expect(Number.isInteger(bound) && bound >= 1).toBe(true);
          expect(bound).toBeLessThanOrEqual(declared.get(id) as number);
        }
        for (const a of ids) for (const b of ids) if ((declared.get(a) as number) <= (declared.get(b) as number)) expect(bounds.get(a)).toBeLessThanOrEqual(bounds.get(b) as number);
        if (cap * ids.length > 1) expect(share(bounds)).toBeLessThanOrEqual(cap + 1e-9);
        // Nobody is cut further than needed: one more example for the cut ones breaks the cap.
        const cut = ids.filter((id) => (bounds.get(id) as number) < (declared.get(id) as number));
        if (cut.length > 0 && cap * ids.length > 1) {
          const raised = new Map([...bounds].map(([id, w]) => [id, cut.includes(id) ? w + 1 : w]));
          expect(share(raised)).toBeGreaterThan(cap - 1e-9);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the weight of one update', () => {
  it('is its claim, held to the round bound', () => {
    expect(boundedWeight('a', 300, 500, 400)).toBe(300);
    expect(boundedWeight('a', 500, 500, 400)).toBe(400);
  });

  it('refuses a claim over the declared count, naming the participant and both counts', () => {
    const refusal = (() => {
      try {
        boundedWeight('mallory', 1e12, 480, 480);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(UpdateRejectedError);
    expect(refusal).toMatchObject({ code: WEIGHT_OVER_BOUND, details: { participantId: 'mallory', claimed: 1e12, declared: 480 } });
    expect((refusal as Error).message).toMatch(/'mallory' claims 1000000000000 examples; it declared 480/);
  });

  it('refuses every claim over the declared count and weighs every other one within the bound (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e12 }), fc.integer({ min: 1, max: 1e12 }), fc.integer({ min: 1, max: 1e12 }), (declared, claimed, cut) => {
        const bound = Math.min(declared, cut);
        if (claimed > declared) expect(() => boundedWeight('p', claimed, declared, bound)).toThrow(expect.objectContaining({ code: WEIGHT_OVER_BOUND }));
        else expect(boundedWeight('p', claimed, declared, bound)).toBe(Math.min(claimed, bound));
      }),
    );
  });

  it('refuses an update from a participant that declared nothing', () => {
    expect(() => boundedWeight('ghost', 1, undefined, undefined)).toThrow(expect.objectContaining({ code: 'UPDATE_NOT_DECLARED' }));
  });
});
