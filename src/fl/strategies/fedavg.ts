import { AggregationError, type ClientUpdate, type FitInstructions, type Strategy } from './strategy.js';

/**
 * Sample-weighted mean of the client models, Σ n_k w_k / Σ n_k (McMahan et al. 2017, Algorithm 1,
 * server step "w_{t+1} ← Σ_k (n_k / n) w^k_{t+1}"). Refuses empty rounds, length mismatches with
 * `global`, non-positive example counts and a client that reports twice.
 */
export function weightedAverage(global: Float32Array, updates: readonly ClientUpdate[]): Float32Array {
  if (updates.length === 0) {
    throw new AggregationError('AGGREGATION_EMPTY', 'no client updates to aggregate; wait for the quorum before aggregating');
  }
  const seen = new Set<string>();
  for (const u of updates) {
    if (seen.has(u.clientId)) {
      throw new AggregationError(
        'AGGREGATION_DUPLICATE',
        `client '${u.clientId}' sent more than one update this round; keep one update per client`,
        { clientId: u.clientId },
      );
    }
    seen.add(u.clientId);
    if (u.weights.length !== global.length) {
      throw new AggregationError(
        'AGGREGATION_SHAPE',
        `client '${u.clientId}' sent ${u.weights.length} weights but the global model has ${global.length}; it trained a different architecture`,
        { clientId: u.clientId, expected: global.length, actual: u.weights.length },
      );
    }
    if (!Number.isFinite(u.numExamples) || u.numExamples <= 0) {
      throw new AggregationError(
        'AGGREGATION_WEIGHT',
        `client '${u.clientId}' reported numExamples = ${u.numExamples}; an update must come from at least one example`,
        { clientId: u.clientId, numExamples: u.numExamples },
      );
    }
  }

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

  /** FedAvg clients run plain local SGD. */
  configureFit(_round: number): FitInstructions {
    return { proximalMu: 0 };
  }

  /** Sample-weighted mean of the client models; see {@link weightedAverage}. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], _round: number): Float32Array {
    return weightedAverage(global, updates);
  }
}
