import { CipherNexusError } from '../../core/errors.js';

/** One client's result of a round of local training. */
export interface ClientUpdate {
  clientId: string;
  /** The client's locally trained model, flat, the same length as the global model. */
  weights: Float32Array;
  /** Local training examples; FedAvg weights the client by this count. */
  numExamples: number;
  metrics?: Record<string, number>;
}

/** What the strategy asks every selected client to do locally this round. */
export interface FitInstructions {
  /** Weight of the proximal term (mu/2)·||w − w_global||² in the local objective; 0 means plain local SGD. */
  proximalMu: number;
}

/** A server-side aggregation rule: one per file, all behind this interface (the Flower layout). */
export interface Strategy {
  readonly name: string;
  /** Local-training instructions for round `round`. */
  configureFit(round: number): FitInstructions;
  /** The next global model from the current one and this round's client updates. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], round: number): Float32Array;
}

/** Stable codes of {@link AggregationError}. */
export type AggregationErrorCode =
  | 'AGGREGATION_EMPTY'
  | 'AGGREGATION_SHAPE'
  | 'AGGREGATION_WEIGHT'
  | 'AGGREGATION_DUPLICATE';

/** A round's updates cannot be aggregated (none, mismatched lengths, bad example counts, a client twice). */
export class AggregationError extends CipherNexusError {
  declare readonly code: AggregationErrorCode;

  constructor(code: AggregationErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}
