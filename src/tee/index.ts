export { conclude, type EvidenceCheck, type EvidenceClaims, type EvidenceKind, type EvidenceVerification, type TcbStatus, type VerifyEvidenceOptions } from './evidence.js';
