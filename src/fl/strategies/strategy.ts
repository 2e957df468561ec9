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
  /**
   * True when `aggregate` depends on the updates only through their sample-weighted mean, so a
   * coordinator may fold updates into a running sum as they arrive instead of holding them all.
   */
  readonly linear?: boolean;
  /** Local-training instructions for round `round`. */
  configureFit(round: number): FitInstructions;
  /** The next global model from the current one and this round's client updates. */
  aggregate(global: Float32Array, updates: readonly ClientUpdate[], round: number): Float32Array;
  /** State carried from round to round (a server optimiser's moments), as bytes; null while there is none. Stateless rules omit it. */
  saveState?(): Uint8Array | null;
  /** Continues from bytes `saveState` produced; throws STRATEGY_STATE_INVALID for bytes it cannot use. */
  loadState?(state: Uint8Array): void;
}

/** Stable codes of {@link AggregationError}. */
export type AggregationErrorCode =
  | 'AGGREGATION_EMPTY'
  | 'AGGREGATION_SHAPE'
  | 'AGGREGATION_WEIGHT'
  | 'AGGREGATION_DUPLICATE'
  | 'AGGREGATION_TOO_FEW';

/** A round's updates cannot be aggregated (none, mismatched lengths, bad example counts, a client twice, too few for a robust rule). */
export class AggregationError extends CipherNexusError {
  declare readonly code: AggregationErrorCode;

  constructor(code: AggregationErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}

/**
 * Throws {@link AggregationError} unless `updates` is non-empty, every update has `global`'s length,
 * a positive finite example count, and no client appears twice.
 */
export function checkUpdates(global: Float32Array, updates: readonly ClientUpdate[]): void {
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
}
