import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend.js';

describe('initBackend', () => {
  it('activates the wasm backend once, even when called concurrently', async () => {
    await Promise.all([initBackend(), initBackend()]);
    await initBackend();
    expect(tf.getBackend()).toBe('wasm');
    const sum = tf.tidy(() => tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0]);
    expect(sum).toBe(6);
  });

  it('never initialises the pure-JS CPU backend', async () => {
    await initBackend();
    tf.tidy(() => tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])));
    expect(Object.keys(tf.engine().registry)).toEqual(['wasm']);
  });
});
