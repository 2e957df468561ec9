export { conclude, type EvidenceCheck, type EvidenceClaims, type EvidenceKind, type EvidenceVerification, type TcbStatus, type VerifyEvidenceOptions } from './evidence.js';
export { INTEL_SGX_ROOT_CA_SHA256, sgxCollateralFromQvl, verifySgxQuote, type SgxCollateral, type VerifySgxQuoteOptions } from './sgx/index.js';
export { AMD_ROOT_KEYS, verifySnpReport, type SnpCollateral, type VerifySnpReportOptions } from './snp/index.js';
export { AWS_NITRO_ROOT_G1_SHA256, nitroEvidenceBytes, verifyNitroEvidence, type VerifyNitroOptions } from './nitro/index.js';
export { applyPolicy, type AttestationPolicy } from './policy.js';
export { detectEvidenceKind, evidenceBytes, EvidenceFileError, readCollateralFile, readEvidenceFile, type EvidenceFile, type EvidenceFileErrorCode } from './evidence-file.js';
export { AttestationPolicyError, AttestationPolicySchema, parseAttestationPolicy, readAttestationPolicyFile } from './policy-file.js';
export { EvidenceRefusedError, verifyEvidence, type VerifyEvidenceParameters } from './verify-evidence.js';
