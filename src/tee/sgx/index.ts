export { verifySgxQuote, type VerifySgxQuoteOptions } from './verify.js';
export { sgxCollateralFromQvl, type SgxCollateral } from './collateral.js';
export { parseSgxQuote, isDebug, type SgxQuote, type SgxReportBody, type SgxQuoteParseFailure } from './quote.js';
export { parsePckExtension, SGX_EXTENSION_OID, type PckTcb } from './pck-extension.js';
export { convergeTcb, platformTcbLevel, qeTcbLevel, type IntelTcbStatus, type MatchedTcbLevel, type SgxTcbEvaluation } from './tcb.js';
export { INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_CA_SHA256 } from './roots.js';
