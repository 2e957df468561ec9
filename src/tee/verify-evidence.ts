import { CipherNexusError } from '../core/errors.js';
import type { EvidenceKind, EvidenceVerification } from './evidence.js';
import { verifyNitroEvidence } from './nitro/index.js';
import { applyPolicy, type AttestationPolicy } from './policy.js';
import { verifySgxQuote, type SgxCollateral } from './sgx/index.js';
import { verifySnpReport, type SnpCollateral } from './snp/index.js';

/** What `verifyEvidence` needs besides the evidence. */
export interface VerifyEvidenceParameters {
  kind: EvidenceKind;
  /** The check time for certificates, CRLs and collateral. */
  at: Date;
  /** SGX: `SgxCollateral`; SNP: `SnpCollateral` (its VCEK or VLEK is required); Nitro: none. */
  collateral?: SgxCollateral | SnpCollateral;
  /** When given, applied after the cryptographic checks pass. */
  policy?: AttestationPolicy;
}

/** Verifies evidence of any kind with its kind's verifier, then the policy when one is given. */
export function verifyEvidence(bytes: Uint8Array, parameters: VerifyEvidenceParameters): EvidenceVerification {
  const { kind, at, collateral, policy } = parameters;
  const verification =
    kind === 'nitro'
      ? verifyNitroEvidence(bytes, { at })
      : kind === 'sgx'
        ? verifySgxQuote(bytes, { at, collateral: collateral as SgxCollateral | undefined })
        : verifySnpReport(bytes, { at, collateral: collateral as SnpCollateral });
  return policy === undefined ? verification : applyPolicy(verification, policy);
}

/** Evidence that was read and refused: the first failed check is named. The CLI exits 1 on it. */
export class EvidenceRefusedError extends CipherNexusError {
  constructor(verification: EvidenceVerification) {
    const failed = verification.checks.find((check) => !check.ok);
    super(
      'TEE_EVIDENCE_REFUSED',
      `${verification.kind} evidence refused at ${failed?.name ?? 'an unnamed check'}: ${failed?.detail ?? 'no detail'}`,
      { failed: verification.failed },
    );
  }
}
