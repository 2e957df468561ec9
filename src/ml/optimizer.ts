import * as tf from '@tensorflow/tfjs';

/** The optimisers local training offers. */
export type OptimizerName = 'sgd' | 'adam' | 'momentum';

/** A fresh TF.js optimiser; clients start each round with new optimiser state. */
export function createOptimizer(opts: { optimizer: OptimizerName; learningRate: number; momentum?: number }): tf.Optimizer {
  switch (opts.optimizer) {
    case 'sgd':
      return tf.train.sgd(opts.learningRate);
    case 'adam':
      return tf.train.adam(opts.learningRate);
    case 'momentum':
      return tf.train.momentum(opts.learningRate, opts.momentum ?? 0.9);
  }
}

/** Frees an optimiser's tensors; TF.js 4.22's MomentumOptimizer.dispose skips SGDOptimizer.dispose and would leak its learning-rate scalar. */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  if (optimizer.getClassName() === 'Momentum') tf.SGDOptimizer.prototype.dispose.call(optimizer);
}
