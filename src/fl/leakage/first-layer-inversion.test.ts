import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstLayerOf, inferLabel, invertFirstLayer, unitReconstruction } from './first-layer-inversion.js';

const INPUTS = 6;
const UNITS = 4;
const CLASSES = 3;
const shapes = [
  { name: 'k0', shape: [INPUTS, UNITS] },
  { name: 'b0', shape: [UNITS] },
  { name: 'k1', shape: [UNITS, CLASSES] },
  { name: 'b1', shape: [CLASSES] },
];

/** A single-example update of a dense first layer: dW[j][i] = x_j · db_i, laid out [inputs, units], then the rest. */
function updateFor(x: number[], db: number[], lastBias: number[]): Float32Array {
  const out = new Float32Array(INPUTS * UNITS + UNITS + UNITS * CLASSES + CLASSES);
  for (let j = 0; j < INPUTS; j++) for (let i = 0; i < UNITS; i++) out[j * UNITS + i] = x[j] * db[i];
  out.set(db, INPUTS * UNITS);
  out.set(lastBias, out.length - CLASSES);
  return out;
}

const pixels = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: INPUTS, maxLength: INPUTS });
const biasGrads = fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: UNITS, maxLength: UNITS }).filter((db) => db.some((v) => Math.abs(v) > 1e-3));

describe('analytic inversion of a first dense layer (Phong et al. 2017)', () => {
  it('recovers a single example exactly from every unit with a bias gradient, and by least squares', () => {
    fc.assert(
      fc.property(pixels, biasGrads, (x, db) => {
        const layer = firstLayerOf(updateFor(x, db, [0, 0, 0]), shapes);
        const ls = invertFirstLayer(layer);
        for (let j = 0; j < INPUTS; j++) expect(ls[j]).toBeCloseTo(x[j], 4);
        for (let i = 0; i < UNITS; i++) {
          const unit = unitReconstruction(layer, i);
          if (Math.abs(db[i]) > 1e-3) for (let j = 0; j < INPUTS; j++) expect(unit?.[j]).toBeCloseTo(x[j], 3);
        }
      }),
    );
  });

  it('has nothing to say from a unit whose bias gradient is 0', () => {
    const layer = firstLayerOf(updateFor([1, 1, 1, 1, 1, 1], [0, 0.5, 0, 0], [0, 0, 0]), shapes);
    expect(unitReconstruction(layer, 0)).toBeUndefined();
    expect(invertFirstLayer(firstLayerOf(new Float32Array(layer.kernel.length + 4 + UNITS * CLASSES + CLASSES), shapes))).toEqual(new Float32Array(INPUTS));
  });

  it('mixes the examples of a sum: one unit per example recovers each, the least-squares estimate blends them', () => {
    const a = [1, 0, 1, 0, 1, 0];
    const b = [0, 1, 0, 1, 0, 1];
    const sum = updateFor(a, [0.5, 0, 0.2, 0.1], [0, 0, 0]).map((v, k) => v + updateFor(b, [0, 0.4, 0.2, 0.1], [0, 0, 0])[k]);
    const layer = firstLayerOf(sum, shapes);
    expect(Array.from(unitReconstruction(layer, 0)!)).toEqual(a);
    expect(Array.from(unitReconstruction(layer, 1)!).map((v) => Math.round(v * 1e6) / 1e6)).toEqual(b);
    const ls = invertFirstLayer(layer);
    expect(ls[0]).toBeGreaterThan(0.3);
    expect(ls[1]).toBeGreaterThan(0.3);
  });

  it('refuses an update of another size and a model without a dense first layer', () => {
    expect(() => firstLayerOf(new Float32Array(5), shapes)).toThrow(/5 values but the model has/);
    expect(() => firstLayerOf(new Float32Array(10), [{ name: 'conv', shape: [3, 3, 1, 1] }, { name: 'b', shape: [1] }])).toThrow(/dense with a bias/);
  });
});

describe('label inference (iDLG)', () => {
  it('names the class whose logit bias the step raised: softmax - onehot is negative only there', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: CLASSES - 1 }), fc.array(fc.double({ min: 0.01, max: 1, noNaN: true }), { minLength: CLASSES, maxLength: CLASSES }), (label, raw) => {
        const total = raw.reduce((a, b) => a + b, 0);
        const gradient = raw.map((p, c) => p / total - (c === label ? 1 : 0));
        const delta = gradient.map((g) => -0.1 * g);
        return inferLabel(updateFor([0, 0, 0, 0, 0, 0], [0, 0, 0, 0], delta), shapes) === label;
      }),
    );
  });
});
