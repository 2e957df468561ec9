import { CipherNexusError, InvalidInputError } from '../../core/index.js';

/** A value is not usable as circuit input: not a field element, a leaf index outside the tree, a full tree (`ZK_INPUT_INVALID`). */
export class ZkInputError extends InvalidInputError {
  constructor(message: string, details?: unknown) {
    super('ZK_INPUT_INVALID', message, details);
  }
}

/** Proof bytes cannot be decoded: wrong length, or a coordinate or public signal outside its field (`ZK_PROOF_MALFORMED`). */
export class ZkProofMalformedError extends CipherNexusError {
  constructor(message: string, details?: unknown) {
    super('ZK_PROOF_MALFORMED', message, details);
  }
}

/** Why a well-formed membership proof was refused. */
export type ZkRejection = 'ZK_ROOT_UNKNOWN' | 'ZK_SCOPE_MISMATCH' | 'ZK_SIGNAL_MISMATCH' | 'ZK_PROOF_INVALID' | 'ZK_NULLIFIER_REUSED';

/**
 * A well-formed membership proof was refused: made against a root that is not (or no longer) accepted
 * (`ZK_ROOT_UNKNOWN`), for another scope (`ZK_SCOPE_MISMATCH`) or signal (`ZK_SIGNAL_MISMATCH`), failing the pairing
 * check (`ZK_PROOF_INVALID`), or carrying a nullifier already spent in its scope (`ZK_NULLIFIER_REUSED`).
 */
export class ZkProofRejectedError extends CipherNexusError {
  declare readonly code: ZkRejection;

  constructor(code: ZkRejection, message: string, details?: unknown) {
    super(code, message, details);
  }
}

/** A circuit artefact on disk does not have the hash this build pins; rerun `npm run circuits` or restore it (`ZK_ARTEFACT_MISMATCH`). */
export class ZkArtefactError extends CipherNexusError {
  constructor(message: string, details?: unknown) {
    super('ZK_ARTEFACT_MISMATCH', message, details);
  }
}
