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
