export { nitroEvidenceBytes } from './evidence-bytes.js';
export { AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256 } from './roots.js';
export { verifyNitroEvidence, type VerifyNitroOptions } from './verify.js';
