import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../core/rng.js';
import { initBackend } from './backend.js';

beforeAll(initBackend);

/** Direct definition of the filter gradient of sum(conv2d(x, w) * dy), to check the kernel against. */
function reference(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], stride: number, pad: 'valid' | 'same'): Float32Array {
  // d/dw of sum(conv2d(x, w) * dy) is linear in w, so each entry is a finite difference of a unit basis filter.
  const size = filterShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  for (let k = 0; k < size; k++) {
    const basis = new Float32Array(size);
    basis[k] = 1;
    out[k] = tf.tidy(() => tf.sum(tf.mul(tf.conv2d(x, tf.tensor4d(basis, filterShape as [number, number, number, number]), stride, pad), dy)).dataSync()[0]);
  }
  return out;
}

describe('Conv2DBackpropFilter on wasm', () => {
  for (const [stride, pad] of [
    [1, 'valid'],
    [2, 'same'],
  ] as const) {
    it(`matches the definition for stride ${stride}, padding ${pad}`, () => {
      const rng = new Rng(1);
      const filterShape = [3, 3, 2, 4] as [number, number, number, number];
      const x = tf.tensor4d(Float32Array.from({ length: 2 * 7 * 6 * 2 }, () => rng.normal()), [2, 7, 6, 2]);
      const outShape = tf.tidy(() => tf.conv2d(x, tf.zeros(filterShape) as tf.Tensor4D, stride, pad).shape);
      const dy = tf.tensor4d(Float32Array.from({ length: outShape.reduce((a, b) => a * b, 1) }, () => rng.normal()), outShape as [number, number, number, number]);
      const objective = (w: tf.Tensor): tf.Tensor => tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, stride, pad), dy));
      const grad = tf.tidy(() => tf.grad(objective)(tf.ones(filterShape)).dataSync() as Float32Array);
      const expected = reference(x, dy, filterShape, stride, pad);
      grad.forEach((g, i) => expect(g).toBeCloseTo(expected[i], 4));
      tf.dispose([x, dy]);
    });
  }
});
