import { CipherNexusError } from '../../core/index.js';

/**
 * The protocol stages, named after the round a party was in (Bonawitz et al. 2017, Fig. 4, rounds 0-4),
 * with `confirmShares` between ShareKeys and MaskedInputCollection: holders report undecryptable shares
 * before anyone masks, so that a client dealing bad shares is dropped before its input is summed.
 */
export type SecAggStage = 'advertiseKeys' | 'shareKeys' | 'confirmShares' | 'maskedInputCollection' | 'consistencyCheck' | 'unmasking';

/** Base class of every secure-aggregation error; `code` is stable, e.g. `SECAGG_BAD_SIGNATURE`. */
export class SecAggError extends CipherNexusError {}

/**
 * One protocol message was refused (malformed, forged, replayed, late, for another round); the
 * receiver's state is as it was before, so the round goes on without that message.
 */
export class SecAggMessageRejectedError extends SecAggError {}

/** The round cannot finish securely (too few parties left, a server showing inconsistent views); start a new round. */
export class SecAggAbortError extends SecAggError {}

/** Thrown when fewer parties remain than the Shamir threshold needs at `stage`. */
export class SecAggBelowThresholdError extends SecAggAbortError {
  constructor(stage: SecAggStage, needed: number, present: number, what: string) {
    super(
      'SECAGG_BELOW_THRESHOLD',
      `secure aggregation aborted at stage '${stage}': ${what} needs ${needed} but only ${present} remain; ` +
        'lower the threshold or the drop-out rate, or start a new round with more clients',
      { stage, needed, present, what },
    );
  }
}

/**
 * A client refused a round configuration below its own policy (`ClientPolicy`) before sending anything:
 * the coordinator proposes the parameters, each client decides whether they protect it.
 */
export class SecAggConfigRefusedError extends SecAggError {
  constructor(field: string, bound: string, message: string) {
    super('SECAGG_CONFIG_REFUSED', `secure aggregation config refused, field '${field}': ${message} (${bound})`, { field, bound });
  }
}
