export { verifySnpReport, type SnpCollateral, type VerifySnpReportOptions } from './verify.js';
export { parseSnpReport, decomposeTcb, SNP_REPORT_SIZE, type SnpReport, type SnpReportParse, type SnpSigningKey, type SnpTcb } from './report.js';
export { AMD_ROOT_KEYS, type AmdRootKey, type SnpProduct } from './roots.js';
export { SnpVerifierError, type SnpVerifierErrorCode } from './errors.js';
