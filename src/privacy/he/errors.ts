import { CipherNexusError, InvalidInputError } from '../../core/index.js';

/** Encryption parameters are malformed or below the 128-bit security level (`HE_PARAMS_INSECURE`, `HE_PARAMS_INVALID`). */
export class HeParamsError extends InvalidInputError {}

/** Two operands, or an operand and this instance, belong to different parameters or keys (`HE_PARAMS_MISMATCH`, `HE_KEY_MISMATCH`). */
export class HeMismatchError extends CipherNexusError {}

/** A key is absent where one is needed, or a passphrase or transport key does not open it (`HE_KEY_MISSING`, `HE_KEY_WRONG`). */
export class HeKeyError extends CipherNexusError {}

/** Serialised ciphertext bytes are damaged or not a ciphertext of these parameters (`HE_CIPHERTEXT_CORRUPT`). */
export class HeCiphertextError extends CipherNexusError {
  constructor(message: string, details?: unknown) {
    super('HE_CIPHERTEXT_CORRUPT', message, details);
  }
}

/** An operation the ciphertext cannot take any more: no level left to rescale, or scales that differ (`HE_DEPTH_EXHAUSTED`, `HE_SCALE_MISMATCH`). */
export class HeOperationError extends CipherNexusError {}

/**
 * An opened aggregate failed a check, so nothing of it is released (`HE_AGGREGATE_REFUSED`); `details.check` names the
 * check: `kind`, `round`, `length`, `size`, `level`, `scale`, `ntt`, `claim`, `min-contributors`, `sum`, `contributor-block`,
 * `contributor-consistency`, `contributors`, `weight`, `tags`.
 */
export class HeAggregateRefusedError extends CipherNexusError {
  constructor(check: string, message: string, details: Record<string, unknown> = {}) {
    super('HE_AGGREGATE_REFUSED', `aggregate refused (${check}): ${message}`, { check, ...details });
  }

  /** The failed check. */
  get check(): string {
    return (this.details as { check: string }).check;
  }
}

/**
 * A decryption share or public key share is unusable: damaged (`HE_SHARE_INVALID`), not signed by the holder it names
 * (`HE_SHARE_FORGED`), sealed for another holder (`HE_SHARE_MISDIRECTED`), made for another job, round or aggregate
 * (`HE_SHARE_MISMATCH`), repeated (`HE_SHARE_DUPLICATE`) or missing (`HE_SHARES_INCOMPLETE`).
 */
export class HeShareError extends CipherNexusError {}

/** This holder already gave decryption shares for the round context; it gives them once (`HE_ROUND_ALREADY_SHARED`). */
export class HeRoundSpentError extends CipherNexusError {
  constructor(roundContext: string) {
    super('HE_ROUND_ALREADY_SHARED', `decryption shares for round '${roundContext}' were already given; a holder shares once per round context, open a new round instead`, {
      roundContext,
    });
  }
}
