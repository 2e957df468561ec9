import { checkUpdates, type ClientUpdate, type FitInstructions, type Strategy } from './strategy.js';

/**
 * Sample-weighted mean of the client models, Σ n_k w_k / Σ n_k (McMahan et al. 2017, Algorithm 1,
 * server step "w_{t+1} ← Σ_k (n_k / n) w^k_{t+1}"). Refuses empty rounds, length mismatches with
 * `global`, non-positive example counts and a client that reports twice.
 */
export function weightedAverage(global: Float32Array, updates: readonly ClientUpdate[]): Float32Array {
  checkUpdates(global, updates);

  // Floating-point addition is not associative: summing in clientId order makes the aggregate
  // bit-identical whatever order the updates arrived in over the network.
  const ordered = [...updates].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  const sum = new Float64Array(global.length);
  let total = 0;
  for (const u of ordered) {
    const n = u.numExamples;
    total += n;
    const w = u.weights;
    for (let i = 0; i < sum.length; i++) sum[i] += n * w[i];
  }
  // One division at the end (rather than per-client n_k / n factors) keeps the weighting exact
  // for integer counts: identical inputs come back unchanged.
  const out = new Float32Array(global.length);
  for (let i = 0; i < out.length; i++) out[i] = sum[i] / total;
  return out;
}

/** Federated Averaging (McMahan et al. 2017): the next global model is the sample-weighted mean of the client models. */
export class FedAvg implements Strategy {
  readonly name: string = 'fedavg';
  readonly linear = true;

  /** FedAvg clients run plain local SGD. */
  configureFit(_round: number): FitInstructions {
    return { proximalMu: 0 };
  }

  /** Sample-weighted mean of the client models; see {@link weightedAverage}. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], _round: number): Float32Array {
    return weightedAverage(global, updates);
  }
}
