import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidInputError, StateError } from '../core/errors.js';
import { ModelValidator } from './model-validator.js';

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);
const upd = (weights: Float32Array, clientId = 'node-7'): { clientId: string; weights: Float32Array } => ({ clientId, weights });
const codes = (r: { reasons: { code: string }[] }): string[] => r.reasons.map((x) => x.code);

describe('ModelValidator.validateUpdate', () => {
  const global = f32(1, 1, 1, 1);

  it('accepts a well-formed update', () => {
    const v = new ModelValidator({ expectedLength: 4, maxNorm: 10, maxUpdateNorm: 1 });
    expect(v.validateUpdate(global, upd(f32(1.1, 0.9, 1, 1.2)))).toEqual({ valid: true, reasons: [] });
  });

  it('rejects the wrong length and names the client', () => {
    const r = new ModelValidator({ expectedLength: 4 }).validateUpdate(global, upd(f32(1, 1, 1)));
    expect(r.valid).toBe(false);
    expect(codes(r)).toEqual(['UPDATE_LENGTH']);
    expect(r.reasons[0].message).toMatch(/node-7.*3 weights, expected 4/);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('rejects a weight of %s', (bad) => {
    const r = new ModelValidator({ expectedLength: 4, maxNorm: 1 }).validateUpdate(global, upd(f32(1, bad, 1, bad)));
    expect(codes(r)).toEqual(['UPDATE_NON_FINITE']);
    expect(r.reasons[0]).toMatchObject({ value: 2 });
    expect(r.reasons[0].message).toMatch(/index 1/);
  });

  it('measures the update norm relative to the global model', () => {
    // w − global = (3, 4, 0, 0): distance 5.
    const v = new ModelValidator({ expectedLength: 4, maxUpdateNorm: 4.9 });
    const r = v.validateUpdate(global, upd(f32(4, 5, 1, 1)));
    expect(codes(r)).toEqual(['UPDATE_DISTANCE']);
    expect(r.reasons[0].value).toBeCloseTo(5, 12);
    expect(r.reasons[0].limit).toBe(4.9);
    expect(new ModelValidator({ expectedLength: 4, maxUpdateNorm: 5 }).validateUpdate(global, upd(f32(4, 5, 1, 1))).valid).toBe(true);
  });

  it('bounds the norm of the model itself and lists every broken rule', () => {
    const v = new ModelValidator({ expectedLength: 4, maxNorm: 2, maxUpdateNorm: 1 });
    const r = v.validateUpdate(global, upd(f32(3, 3, 3, 3)));
    expect(codes(r)).toEqual(['UPDATE_NORM', 'UPDATE_DISTANCE']);
    expect(r.reasons[0].value).toBeCloseTo(6, 12);
  });

  it('accepts the global model itself under any bound', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 32 }), fc.double({ min: 1e-9, max: 10, noNaN: true }), (xs, bound) => {
        const g = Float32Array.from(xs);
        expect(new ModelValidator({ expectedLength: g.length, maxUpdateNorm: bound }).validateUpdate(g, upd(g.slice())).valid).toBe(true);
      }),
    );
  });

  it('reports the same norms and non-finite counts as a plain loop, whatever the length and wherever the bad weights sit', () => {
    const finite = fc.float({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true });
    const weight = fc.oneof({ weight: 6, arbitrary: finite }, { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 37 }).chain((n) => fc.tuple(fc.array(weight, { minLength: n, maxLength: n }), fc.array(finite, { minLength: n, maxLength: n }))), ([ws, gs]) => {
        const w = Float32Array.from(ws);
        const g = Float32Array.from(gs);
        const bad = [...w.keys()].filter((i) => !Number.isFinite(w[i]));
        let normSq = 0;
        let distSq = 0;
        for (let i = 0; i < w.length; i++) {
          if (!Number.isFinite(w[i])) continue;
          normSq += w[i] * w[i];
          distSq += (w[i] - g[i]) ** 2;
        }
        const r = new ModelValidator({ expectedLength: w.length, maxNorm: 1e-300, maxUpdateNorm: 1e-300 }).validateUpdate(g, upd(w));
        if (bad.length > 0) {
          expect(r.reasons).toHaveLength(1);
          expect(r.reasons[0]).toMatchObject({ code: 'UPDATE_NON_FINITE', value: bad.length });
          expect(r.reasons[0].message).toContain(`index ${bad[0]}`);
          return;
        }
        const norm = r.reasons.find((x) => x.code === 'UPDATE_NORM')?.value ?? 0;
        const distance = r.reasons.find((x) => x.code === 'UPDATE_DISTANCE')?.value ?? 0;
        expect(norm).toBeCloseTo(Math.sqrt(normSq), 6);
        expect(distance).toBeCloseTo(Math.sqrt(distSq), 6);
      }),
    );
  });

  it('throws when the global model itself does not match the job', () => {
    expect(() => new ModelValidator({ expectedLength: 3 }).validateUpdate(global, upd(f32(1, 1, 1)))).toThrow(StateError);
  });

  it.each([{ expectedLength: 0 }, { expectedLength: 2.5 }, { expectedLength: 4, maxNorm: -1 }, { expectedLength: 4, thresholds: { minAccuracy: 2 } }])(
    'refuses options %j',
    (options) => {
      expect(() => new ModelValidator(options)).toThrow(InvalidInputError);
    },
  );
});

describe('ModelValidator.checkMetrics', () => {
  const v = new ModelValidator({ expectedLength: 1, thresholds: { minAccuracy: 0.8, maxLoss: 0.5 } });

  it('passes metrics within the thresholds', () => {
    expect(v.checkMetrics({ accuracy: 0.8, loss: 0.5 })).toEqual({ valid: true, reasons: [] });
  });

  it('flags low accuracy and high loss together', () => {
    const r = v.checkMetrics({ accuracy: 0.79, loss: 0.51 });
    expect(codes(r)).toEqual(['METRIC_ACCURACY', 'METRIC_LOSS']);
    expect(r.reasons[0]).toMatchObject({ value: 0.79, limit: 0.8 });
  });

  it('flags non-finite metrics and accuracy given as a percentage', () => {
    expect(codes(v.checkMetrics({ accuracy: Number.NaN, loss: Number.POSITIVE_INFINITY }))).toEqual(['METRIC_NON_FINITE', 'METRIC_NON_FINITE']);
    expect(codes(v.checkMetrics({ accuracy: 93, loss: 0.1 }))).toEqual(['METRIC_RANGE']);
  });

  it('checks nothing but sanity without thresholds', () => {
    expect(new ModelValidator({ expectedLength: 1 }).checkMetrics({ accuracy: 0, loss: 1e6 }).valid).toBe(true);
  });

  describe('minOverBaseline', () => {
    const margin = new ModelValidator({ expectedLength: 1, thresholds: { minOverBaseline: 0.05 } });

    it('fails a model that does not beat the majority class by the margin, naming both', () => {
      // 0.602 is what always answering the majority class scores on a 60/40 test set.
      const r = margin.checkMetrics({ accuracy: 0.602, loss: 0.7, baseline: 0.602 });
      expect(codes(r)).toEqual(['METRIC_BASELINE']);
      expect(r.reasons[0]).toMatchObject({ value: 0, limit: 0.05 });
      expect(r.reasons[0].message).toMatch(/only 0 above the majority-class baseline 0.602; at least 0.05 above it is required/);
      expect(margin.checkMetrics({ accuracy: 0.55, loss: 0.7, baseline: 0.6 }).reasons[0].message).toMatch(/0.05 below the majority-class baseline/);
    });

    it('passes a margin of exactly the limit, counted in examples', () => {
      // 656/1000 against 606/1000: 0.05 apart up to floating-point rounding.
      expect(margin.checkMetrics({ accuracy: 656 / 1000, loss: 0.3, baseline: 606 / 1000 }).valid).toBe(true);
      expect(margin.checkMetrics({ accuracy: 655 / 1000, loss: 0.3, baseline: 606 / 1000 }).valid).toBe(false);
    });

    it('needs the baseline when the margin is set', () => {
      expect(() => margin.checkMetrics({ accuracy: 0.9, loss: 0.1 })).toThrow(StateError);
      expect(v.checkMetrics({ accuracy: 0.9, loss: 0.1 }).valid).toBe(true);
    });
  });
});
