import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { StateError } from '../core/errors.js';
import { registerMissingWasmKernels } from './wasm-kernels.js';

let ready: Promise<void> | undefined;

/**
 * Makes the WebAssembly backend the active TF.js backend; safe to call any number of times.
 * It must run before the first tensor is created: otherwise TF.js silently picks its slower pure-JS
 * CPU backend (and prints a banner asking for tfjs-node, which cannot be installed here).
 */
export function initBackend(): Promise<void> {
  ready ??= (async () => {
    registerMissingWasmKernels();
    const ok = await tf.setBackend('wasm');
    if (!ok) throw new StateError('ML_BACKEND_UNAVAILABLE', 'the TF.js wasm backend failed to initialise; check that @tensorflow/tfjs-backend-wasm is installed');
    await tf.ready();
  })().catch((err: unknown) => {
    ready = undefined;
    throw err;
  });
  return ready;
}
