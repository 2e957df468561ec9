import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * TF.js 4.22's wasm backend implements Conv2D and Conv2DBackpropInput but not Conv2DBackpropFilter,
 * so a CNN could predict but not train. This registers that one kernel in TypeScript: the gradient
 * of the loss with respect to a conv2d filter, dW[i,j,c,o] = sum over b,y,x of
 * x[b, y*sh + i*dh - padTop, x*sw + j*dw - padLeft, c] * dy[b, y, x, o] (NHWC).
 */
export function registerMissingWasmKernels(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter });
}

interface BackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs;
  if (!x || !dy) throw new Error('Conv2DBackpropFilter needs inputs x and dy');
  const attrs = args.attrs as unknown as BackpropFilterAttrs;
  if (attrs.dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm supports NHWC only, got ${attrs.dataFormat}`);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const xs = backend.readSync(x.dataId) as Float32Array;
  const gs = backend.readSync(dy.dataId) as Float32Array;
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const dw = new Float32Array(filterHeight * filterWidth * inChannels * outChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let y = 0; y < outHeight; y++) {
      for (let xo = 0; xo < outWidth; xo++) {
        const gBase = ((b * outHeight + y) * outWidth + xo) * outChannels;
        for (let i = 0; i < filterHeight; i++) {
          const iy = y * strideHeight + i * dilationHeight - info.padInfo.top;
          if (iy < 0 || iy >= inHeight) continue;
          for (let j = 0; j < filterWidth; j++) {
            const ix = xo * strideWidth + j * dilationWidth - info.padInfo.left;
            if (ix < 0 || ix >= inWidth) continue;
            const xBase = ((b * inHeight + iy) * inWidth + ix) * inChannels;
            const wBase = (i * filterWidth + j) * inChannels * outChannels;
            for (let c = 0; c < inChannels; c++) {
              const xv = xs[xBase + c];
              if (xv === 0) continue;
              const row = wBase + c * outChannels;
              for (let o = 0; o < outChannels; o++) dw[row + o] += xv * gs[gBase + o];
            }
          }
        }
      }
    }
  }
  const out = backend.makeOutput(attrs.filterShape, 'float32');
  backend.typedArrayFromHeap(out).set(dw);
  return out;
}
