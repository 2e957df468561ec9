/**
 * The Intel SGX DCAP version-3 ECDSA quote: layout from Intel's "SGX ECDSA Quote Library
 * Reference" (DCAP), appendix A.4 "Quote Format" — a 48-byte header, a 384-byte report body, a
 * 4-byte length, then the quote signature data.
 */

/** A report body (SGX `sgx_report_body_t`), the layout shared by the ISV enclave report and the QE report. */
export interface SgxReportBody {
  /** The exact 384 bytes, since signatures cover them. */
  raw: Uint8Array;
  cpuSvn: Uint8Array;
  miscSelect: number;
  /** 16 bytes: the flags (8, little-endian) then XFRM (8). */
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
}

/** A parsed version-3 quote with type-5 certification data. */
export interface SgxQuote {
  /** The 48-byte header followed by the 384-byte ISV report body: what the ISV report signature covers. */
  signedBody: Uint8Array;
  version: number;
  qeSvn: number;
  pceSvn: number;
  qeVendorId: Uint8Array;
  report: SgxReportBody;
  /** ECDSA P-256 r‖s over `signedBody`. */
  isvSignature: Uint8Array;
  /** The attestation key's raw P-256 point x‖y. */
  attestationKey: Uint8Array;
  qeReport: SgxReportBody;
  /** ECDSA P-256 r‖s over the QE report, by the PCK leaf's key. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** The PCK certificate chain, PEM text, leaf first. */
  pckChainPem: string;
}

/** A parse that failed, and why in one sentence. */
export interface SgxQuoteParseFailure {
  error: string;
}

const HEADER_LENGTH = 48;
const REPORT_LENGTH = 384;
const ECDSA_P256_KEY_TYPE = 2;
/** Certification data type 5: the PCK leaf, PCK CA and root certificates, PEM, inside the quote. */
const PCK_CHAIN_CERT_TYPE = 5;
const FIXED_SIGNATURE_DATA = 64 + 64 + REPORT_LENGTH + 64;

/** Reads a report body from its 384 bytes (Intel SGX SDK `sgx_report_body_t`). */
export function parseReportBody(raw: Uint8Array): SgxReportBody {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return {
    raw,
    cpuSvn: raw.subarray(0, 16),
    miscSelect: view.getUint32(16, true),
    attributes: raw.subarray(48, 64),
    mrEnclave: raw.subarray(64, 96),
    mrSigner: raw.subarray(128, 160),
    isvProdId: view.getUint16(256, true),
    isvSvn: view.getUint16(258, true),
    reportData: raw.subarray(320, 384),
  };
}

/** Parses a version-3 ECDSA P-256 quote whose certification data is the PEM PCK chain; says why when it is not one. */
export function parseSgxQuote(bytes: Uint8Array): SgxQuote | SgxQuoteParseFailure {
  const fixed = HEADER_LENGTH + REPORT_LENGTH + 4;
  if (bytes.length < fixed + FIXED_SIGNATURE_DATA + 2) return { error: `${bytes.length} bytes is too short for an SGX quote` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(0, true);
  if (version !== 3) return { error: `quote version ${version} is not 3` };
  const keyType = view.getUint16(2, true);
  if (keyType !== ECDSA_P256_KEY_TYPE) return { error: `attestation key type ${keyType} is not 2 (ECDSA P-256)` };
  const signatureLength = view.getUint32(HEADER_LENGTH + REPORT_LENGTH, true);
  if (fixed + signatureLength !== bytes.length) {
    return { error: `signature data length ${signatureLength} does not fill the ${bytes.length - fixed} bytes after the report` };
  }
  let cursor = fixed;
  const take = (length: number): Uint8Array => bytes.subarray(cursor, (cursor += length));
  const isvSignature = take(64);
  const attestationKey = take(64);
  const qeReport = parseReportBody(take(REPORT_LENGTH));
  const qeReportSignature = take(64);
  const authLength = view.getUint16(cursor, true);
  cursor += 2;
  if (cursor + authLength + 6 > bytes.length) return { error: `QE authentication data of ${authLength} bytes overruns the quote` };
  const qeAuthData = take(authLength);
  const certType = view.getUint16(cursor, true);
  const certLength = view.getUint32(cursor + 2, true);
  cursor += 6;
  if (certType !== PCK_CHAIN_CERT_TYPE) return { error: `certification data type ${certType} is not 5 (PCK certificate chain)` };
  if (cursor + certLength !== bytes.length) return { error: `certification data of ${certLength} bytes does not end the quote` };
  return {
    signedBody: bytes.subarray(0, HEADER_LENGTH + REPORT_LENGTH),
    version,
    qeSvn: view.getUint16(8, true),
    pceSvn: view.getUint16(10, true),
    qeVendorId: bytes.subarray(12, 28),
    report: parseReportBody(bytes.subarray(HEADER_LENGTH, HEADER_LENGTH + REPORT_LENGTH)),
    isvSignature,
    attestationKey,
    qeReport,
    qeReportSignature,
    qeAuthData,
    pckChainPem: new TextDecoder().decode(take(certLength)),
  };
}

/** Whether a report's DEBUG attribute (flags bit 1, SGX SDK `SGX_FLAGS_DEBUG`) is set: its memory is open to a debugger. */
export function isDebug(report: SgxReportBody): boolean {
  return (report.attributes[0] & 0x02) !== 0;
}

/**
 * The quote bytes from evidence given raw, as hex text or as base64 text: a raw v3 quote starts
 * with 03 00, which is neither hex digits nor base64 letters, so the three never collide.
 */
export function quoteBytesOf(evidence: Uint8Array): Uint8Array {
  if (evidence.length >= 2 && evidence[0] === 3 && evidence[1] === 0) return evidence;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(evidence).replace(/\s+/g, '');
  if (text.length > 0 && text.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(text)) return Uint8Array.from(Buffer.from(text, 'hex'));
  if (text.length > 0 && text.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(text)) return Uint8Array.from(Buffer.from(text, 'base64'));
  return evidence;
}
