import { CipherNexusError } from '../../core/errors.js';

/** The codes an SEV-SNP verification throws with: only for a caller's mistake, never for bad evidence (that is a failed check). */
export type SnpVerifierErrorCode = 'SNP_CHECK_TIME_INVALID';

/** A call to the SEV-SNP verifier that cannot be answered, e.g. a check time that is not a date. */
export class SnpVerifierError extends CipherNexusError {
  declare readonly code: SnpVerifierErrorCode;

  constructor(code: SnpVerifierErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}
