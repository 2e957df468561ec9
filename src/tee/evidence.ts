/**
 * What every attestation evidence verifier (AWS Nitro, Intel SGX DCAP, AMD SEV-SNP) concludes, in
 * one shape: each check it made with its result, and — when every cryptographic check passed — the
 * claims the evidence proves. Policy (which measurements are allowed, debug refused, minimum TCB,
 * nonce and report-data binding) is decided apart from these checks, on the claims.
 */

/** The kinds of evidence Cipher Nexus verifies: three hardware platforms, and the development backend `simulated` (no hardware, a local platform key). */
export type EvidenceKind = 'nitro' | 'sgx' | 'snp' | 'simulated';

/** One check a verifier made, in the order it made them. */
export interface EvidenceCheck {
  /** Stable name, e.g. `parse`, `signature`, `chain`, `root`, `validity`, `crl`, `tcb`, `qe-report`, `report-data-binding`. */
  name: string;
  ok: boolean;
  /** What was found, in one sentence. */
  detail: string;
}

/** A platform's TCB standing, as Intel and AMD collateral name it; `unknown` where no collateral was given. */
export type TcbStatus =
  | 'up-to-date'
  | 'sw-hardening-needed'
  | 'configuration-needed'
  | 'configuration-and-sw-hardening-needed'
  | 'out-of-date'
  | 'out-of-date-configuration-needed'
  | 'revoked'
  | 'unknown';

/** What evidence proves once its cryptographic checks pass: the enclave's identity and what it bound into the evidence. */
export interface EvidenceClaims {
  kind: EvidenceKind;
  /** The code measurement, hex: Nitro PCR0, SGX MRENCLAVE, SNP MEASUREMENT. */
  measurement: string;
  /** Further measurements and identities by name, hex or decimal text (Nitro PCR1.., SGX MRSIGNER, ISV product id and SVN, SNP host data, ...). */
  measurements: Record<string, string>;
  /** The bytes the enclave bound in, hex (Nitro user_data, SGX and SNP report data), or null. */
  reportData: string | null;
  /** Nitro's nonce, hex, or null. */
  nonce: string | null;
  /** Nitro's public key, hex, or null. */
  publicKey: string | null;
  debug: boolean;
  tcb: { status: TcbStatus; detail: string };
  /** When the evidence was made, unix ms, where it says. */
  issuedAt: number | null;
  /** Set on every claim of `simulated` evidence: no hardware stands behind it, only a key on the developer's machine. */
  simulated?: true;
}

/** A verifier's conclusion. */
export interface EvidenceVerification {
  kind: EvidenceKind;
  /** True when every check passed. */
  ok: boolean;
  checks: EvidenceCheck[];
  /** The claims, when every cryptographic check passed; null otherwise. */
  claims: EvidenceClaims | null;
  /** The name of the first failed check, or null. */
  failed: string | null;
}

/** What a verifier is given besides the evidence. */
export interface VerifyEvidenceOptions {
  /** The time at which certificates, CRLs and collateral must be valid: samples verify at their own time and are refused as expired today. */
  at: Date;
  /** Kind-specific collateral (SGX: TCB info, QE identity, CRLs; SNP: the VCEK or VLEK and its chain). */
  collateral?: unknown;
}

/** Builds a verification from its checks and claims: ok when every check passed, claims kept only then. */
export function conclude(kind: EvidenceKind, checks: EvidenceCheck[], claims: EvidenceClaims | null): EvidenceVerification {
  const failed = checks.find((check) => !check.ok)?.name ?? null;
  return { kind, ok: failed === null, checks, claims: failed === null ? claims : null, failed };
}
