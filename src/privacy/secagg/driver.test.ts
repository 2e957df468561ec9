import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../core/index.js';
import { runSecureAggregation, type DropoutStage } from './driver.js';
import { quantisationStep } from './quantise.js';

const STAGES: DropoutStage[] = ['afterAdvertiseKeys', 'afterShareKeys', 'afterConfirmShares', 'afterMaskedInput', 'afterConsistencyCheck'];

function randomWords(rng: Rng, n: number, d: number): Uint32Array[] {
  return Array.from({ length: n }, () => Uint32Array.from({ length: d }, () => rng.nextUint32()));
}

/** Σ of the summands' inputs in Z_(2^32), computed in the clear. */
function plainSum(inputs: readonly Uint32Array[], summands: readonly string[], d: number): Uint32Array {
  const sum = new Uint32Array(d);
  for (const id of summands) inputs[Number(id.slice(1))].forEach((x, i) => (sum[i] += x));
  return sum;
}

describe('runSecureAggregation: the secure sum is the plain sum', () => {
  const cases: { n: number; rate: number; stage?: DropoutStage }[] = [];
  for (const n of [3, 10, 30]) {
    cases.push({ n, rate: 0 });
    for (const rate of [0.1, 0.3]) for (const stage of STAGES) if (Math.round(rate * n) > 0) cases.push({ n, rate, stage });
  }
  cases.push({ n: 100, rate: 0.1, stage: 'afterMaskedInput' });

  it.each(cases)('n = $n, $rate drop-outs $stage, parameters chosen for that many: exact in Z_2^32', ({ n, rate, stage }) => {
    const d = 33;
    const inputs = randomWords(new Rng(n * 7 + rate * 100), n, d);
    const dropped = Math.round(rate * n);
    const result = runSecureAggregation({ inputs, delta: dropped / n, dropouts: stage ? { [stage]: rate } : {}, seed: n });
    const beforeMasking = stage === 'afterAdvertiseKeys' || stage === 'afterShareKeys' || stage === 'afterConfirmShares';
    expect(result.summands).toHaveLength(beforeMasking ? n - dropped : n);
    expect(result.clientAborts).toEqual([]);
    expect(result.blamed).toEqual([]);
    expect(result.quantisedSum).toEqual(plainSum(inputs, result.summands, d));
  });

  it('dequantised float sum is within the quantisation error of the plain sum (n = 10, 10% drop after shares)', () => {
    const rng = new Rng(3);
    const d = 257;
    const inputs = Array.from({ length: 10 }, () => Float32Array.from({ length: d }, () => rng.normal() * 0.4));
    const clip = 1;
    const result = runSecureAggregation({ inputs, clip, dropouts: { afterShareKeys: 0.1 } });
    const step = quantisationStep({ clip, maxSummands: 10 });
    for (let i = 0; i < d; i++) {
      const exact = result.summands.reduce((s, id) => s + Math.max(-clip, Math.min(clip, inputs[Number(id.slice(1))][i])), 0);
      expect(Math.abs(result.sum[i] - exact)).toBeLessThan(result.summands.length * step);
    }
  });

  it('10% drop-outs at four stages at once (n = 10, configured for 40%)', () => {
    const inputs = randomWords(new Rng(5), 10, 16);
    const dropouts = { afterAdvertiseKeys: 0.1, afterShareKeys: 0.1, afterMaskedInput: 0.1, afterConsistencyCheck: 0.1 };
    const result = runSecureAggregation({ inputs, delta: 0.4, dropouts, seed: 5 });
    expect(result.sets.unmasked).toHaveLength(6);
    expect(result.summands).toHaveLength(8);
    expect(result.quantisedSum).toEqual(plainSum(inputs, result.summands, 16));
  });

  it('property: any drop-out pattern gives the exact sum of U3, or aborts below the threshold', () => {
    const pattern = fc.integer({ min: 3, max: 9 }).chain((n) =>
      fc.record({
        n: fc.constant(n),
        words: fc.array(fc.uint32Array({ minLength: 5, maxLength: 5 }), { minLength: n, maxLength: n }),
        drops: fc.array(fc.constantFrom<DropoutStage | 'none'>('none', 'none', 'none', ...STAGES), { minLength: n, maxLength: n }),
        delta: fc.constantFrom(0, 0.2, 0.4),
      }),
    );
    fc.assert(
      fc.property(pattern, ({ words, drops, delta }) => {
        const dropouts: Partial<Record<DropoutStage, string[]>> = {};
        drops.forEach((stage, i) => {
          if (stage !== 'none') (dropouts[stage] ??= []).push(`c${i}`);
        });
        let result;
        try {
          result = runSecureAggregation({ inputs: words, delta, dropouts });
        } catch (error) {
          expect(error).toMatchObject({ code: 'SECAGG_BELOW_THRESHOLD' });
          return;
        }
        const gone = new Set([...(dropouts.afterAdvertiseKeys ?? []), ...(dropouts.afterShareKeys ?? []), ...(dropouts.afterConfirmShares ?? [])]);
        expect(result.summands.every((id) => !gone.has(id))).toBe(true);
        expect(result.quantisedSum).toEqual(plainSum(words, result.summands, 5));
      }),
      { numRuns: 25 },
    );
  });
});

describe('runSecureAggregation: aborts below the threshold', () => {
  it('says which stage and how many were needed and present', () => {
    const inputs = randomWords(new Rng(1), 10, 4);
    const run = () => runSecureAggregation({ inputs, degree: 9, threshold: 6, dropouts: { afterMaskedInput: 5 / 10 } });
    expect(run).toThrow(expect.objectContaining({ code: 'SECAGG_BELOW_THRESHOLD', details: expect.objectContaining({ stage: 'consistencyCheck', needed: 6, present: 5 }) }));
    expect(run).toThrow(/stage 'consistencyCheck'.*needs 6 but only 5 remain/);
  });

  it('refuses to release a sum of fewer inputs than the DP floor minSummands', () => {
    const inputs = randomWords(new Rng(3), 10, 4);
    expect(() => runSecureAggregation({ inputs, delta: 0.2, minSummands: 9, dropouts: { afterShareKeys: ['c3', 'c4'] } })).toThrow(
      expect.objectContaining({ code: 'SECAGG_BELOW_THRESHOLD', details: expect.objectContaining({ stage: 'maskedInputCollection', needed: 9, present: 8 }) }),
    );
  });

  it('aborts at share keys when too few clients are left to hold shares', () => {
    const inputs = randomWords(new Rng(2), 5, 4);
    expect(() => runSecureAggregation({ inputs, degree: 4, threshold: 4, dropouts: { afterAdvertiseKeys: ['c0', 'c1'] } })).toThrow(
      expect.objectContaining({ code: 'SECAGG_BELOW_THRESHOLD' }),
    );
  });

  it('a client policy the config does not meet stops the run before any message (SECAGG_CONFIG_REFUSED)', () => {
    const inputs = randomWords(new Rng(2), 10, 4);
    expect(() => runSecureAggregation({ inputs, clientPolicy: { gamma: 0.3 } })).toThrow(expect.objectContaining({ code: 'SECAGG_CONFIG_REFUSED' }));
  });
});

describe('runSecureAggregation: costs', () => {
  it('counts every serialised byte: a client sends little more than its 4-byte words', () => {
    const d = 20_000;
    const inputs = randomWords(new Rng(4), 10, d);
    const { costs } = runSecureAggregation({ inputs });
    expect(costs.bytesPerClient).toBeGreaterThan(4 * d);
    expect(costs.bytesPerClient).toBeLessThan(1.2 * 4 * d);
    expect(costs.clientMs).toBeGreaterThan(0);
    expect(costs.serverMs).toBeGreaterThan(0);
  });
});
