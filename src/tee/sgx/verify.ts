/**
 * Verifies an Intel SGX DCAP version-3 ECDSA quote as Intel's Quote Verification Library does,
 * without it: the PCK chain to the pinned root, the CRLs, the QE report signed by the PCK key and
 * binding the attestation key, the ISV report signed by the attestation key, then the TCB status
 * from the collateral (Intel, "SGX ECDSA Quote Library Reference", Quote Verification steps).
 */
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { InvalidInputError } from '../../core/errors.js';
import { conclude, type EvidenceCheck, type EvidenceClaims, type EvidenceVerification, type VerifyEvidenceOptions } from '../evidence.js';
import { certificatesFromPem, type ParsedCertificate } from './certificate.js';
import { checkChain, commonName } from './chain.js';
import { checkSignedDocument, type SgxCollateral } from './collateral.js';
import { crlProblem, parseCrl } from './crl.js';
import { parsePckExtension, SGX_EXTENSION_OID } from './pck-extension.js';
import { isDebug, parseSgxQuote, quoteBytesOf, type SgxQuote } from './quote.js';
import { convergeTcb, platformTcbLevel, qeIdentityMismatch, qeTcbLevel, QeIdentitySchema, TcbInfoSchema, type SgxTcbEvaluation } from './tcb.js';

/** Options of `verifySgxQuote`: the check time and, optionally, Intel's collateral. */
export type VerifySgxQuoteOptions = VerifyEvidenceOptions & { collateral?: SgxCollateral };

/**
 * Verifies a DCAP v3 quote (raw, hex or base64) at `options.at`; checks run in order and stop at
 * the first failure, which `failed` names. Without TCB info and QE identity the TCB status is `unknown`.
 */
export function verifySgxQuote(bytes: Uint8Array, options: VerifySgxQuoteOptions): EvidenceVerification {
  const { at, collateral = {} } = options;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new InvalidInputError('TEE_CHECK_TIME_INVALID', 'the check time is not a valid Date; pass { at: new Date(...) }', { at });
  }
  const checks: EvidenceCheck[] = [];
  const refuse = (check: EvidenceCheck): EvidenceVerification => conclude('sgx', [...checks, check], null);
  const pass = (name: string, detail: string): void => {
    checks.push({ name, ok: true, detail });
  };

  const quote = parseSgxQuote(quoteBytesOf(bytes));
  if ('error' in quote) return refuse({ name: 'parse', ok: false, detail: quote.error });
  const certificates = certificatesFromPem(quote.pckChainPem);
  if ('error' in certificates) return refuse({ name: 'parse', ok: false, detail: `PCK certificate chain: ${certificates.error}` });
  if (certificates.length !== 3) return refuse({ name: 'parse', ok: false, detail: `the PCK chain has ${certificates.length} certificates, not 3 (PCK, PCK CA, root)` });
  pass('parse', `SGX quote v3, QE SVN ${quote.qeSvn}, PCE SVN ${quote.pceSvn}, PCK chain of 3 certificates`);

  const [leaf, pckCa, root] = certificates;
  for (const check of checkChain(certificates, at)) {
    if (!check.ok) return refuse(check);
    checks.push(check);
  }

  const crl = crlCheck(collateral, pckCa, root, leaf, at);
  if (crl !== null) {
    if (!crl.ok) return refuse(crl);
    checks.push(crl);
  }

  if (!signedBy(leaf.x509.publicKey, quote.qeReport.raw, quote.qeReportSignature)) {
    return refuse({ name: 'qe-report', ok: false, detail: 'the QE report signature does not verify with the PCK certificate key' });
  }
  pass('qe-report', `the QE report is signed by the PCK key of '${commonName(leaf)}'`);

  const binding = createHash('sha256').update(quote.attestationKey).update(quote.qeAuthData).digest();
  const reportData = quote.qeReport.reportData;
  if (!binding.equals(reportData.subarray(0, 32)) || reportData.subarray(32).some((byte) => byte !== 0)) {
    return refuse({ name: 'qe-report-data', ok: false, detail: 'the QE report data is not SHA-256(attestation key ‖ QE authentication data) followed by zeros' });
  }
  pass('qe-report-data', 'the QE report data binds the attestation key and QE authentication data');

  const attestationKey = p256Key(quote.attestationKey);
  if (attestationKey === null || !signedBy(attestationKey, quote.signedBody, quote.isvSignature)) {
    return refuse({ name: 'signature', ok: false, detail: 'the ISV report signature does not verify with the attestation key' });
  }
  pass('signature', 'the header and ISV report body are signed by the attestation key');

  const tcb = tcbChecks(quote, leaf, collateral, at);
  for (const check of tcb.checks) {
    if (!check.ok) return refuse(check);
    checks.push(check);
  }
  return conclude('sgx', checks, claimsOf(quote, tcb.evaluation));
}

/** One `crl` check over the CRLs given, or null when none was. */
function crlCheck(collateral: SgxCollateral, pckCa: ParsedCertificate, root: ParsedCertificate, leaf: ParsedCertificate, at: Date): EvidenceCheck | null {
  const given: { der: Uint8Array; issuer: ParsedCertificate; subject: ParsedCertificate; name: string }[] = [];
  if (collateral.rootCaCrl) given.push({ der: collateral.rootCaCrl, issuer: root, subject: pckCa, name: 'Root CA CRL' });
  if (collateral.pckCrl) given.push({ der: collateral.pckCrl, issuer: pckCa, subject: leaf, name: 'PCK CA CRL' });
  if (given.length === 0) return null;
  for (const { der, issuer, subject, name } of given) {
    const crl = parseCrl(der);
    if ('error' in crl) return { name: 'crl', ok: false, detail: `${name}: ${crl.error}` };
    const problem = crlProblem(crl, issuer, [subject], at, name);
    if (problem !== null) return { name: 'crl', ok: false, detail: problem };
  }
  return { name: 'crl', ok: true, detail: `${given.map((entry) => entry.name).join(' and ')} fresh and revoking no certificate of the chain` };
}

/** The `tcb-info`, `qe-identity` and `tcb` checks, and the evaluation when both documents were given. */
function tcbChecks(quote: SgxQuote, leaf: ParsedCertificate, collateral: SgxCollateral, at: Date): { checks: EvidenceCheck[]; evaluation: SgxTcbEvaluation | null } {
  const checks: EvidenceCheck[] = [];
  const fail = (name: string, detail: string) => ({ checks: [...checks, { name, ok: false, detail }], evaluation: null });
  if (collateral.tcbInfo === undefined || collateral.qeIdentity === undefined) {
    const missing = collateral.tcbInfo === undefined && collateral.qeIdentity === undefined ? 'no TCB info or QE identity' : `no ${collateral.tcbInfo === undefined ? 'TCB info' : 'QE identity'}`;
    checks.push({ name: 'tcb', ok: true, detail: `unknown: ${missing} collateral was given` });
    return { checks, evaluation: null };
  }
  const extension = leaf.extensions.get(SGX_EXTENSION_OID);
  const pck = extension === undefined ? { error: 'the PCK certificate has no SGX extension' } : parsePckExtension(extension);
  if ('error' in pck) return fail('tcb-info', pck.error);
  const info = checkSignedDocument(collateral.tcbInfo, 'tcbInfo', TcbInfoSchema, collateral.tcbSigningChain, at);
  if ('error' in info) return fail('tcb-info', `TCB info: ${info.error}`);
  if (info.value.fmspc.toUpperCase() !== pck.fmspc || info.value.pceId.toUpperCase() !== pck.pceId) {
    return fail('tcb-info', `the TCB info is for FMSPC ${info.value.fmspc} PCE ${info.value.pceId}, the PCK certificate's platform is FMSPC ${pck.fmspc} PCE ${pck.pceId}`);
  }
  checks.push({ name: 'tcb-info', ok: true, detail: `TCB info for FMSPC ${pck.fmspc} signed by Intel, valid until ${info.value.nextUpdate}` });
  const identity = checkSignedDocument(collateral.qeIdentity, 'enclaveIdentity', QeIdentitySchema, collateral.tcbSigningChain, at);
  if ('error' in identity) return fail('qe-identity', `QE identity: ${identity.error}`);
  const mismatch = qeIdentityMismatch(identity.value, quote.qeReport);
  if (mismatch !== null) return fail('qe-identity', mismatch);
  checks.push({ name: 'qe-identity', ok: true, detail: `the QE is the one Intel's QE identity describes, valid until ${identity.value.nextUpdate}` });

  const platform = platformTcbLevel(info.value, pck);
  if (platform === null) return fail('tcb', `no TCB level matches the PCK certificate's SVNs ${pck.components.join(',')} and PCESVN ${pck.pceSvn}: the platform's TCB is not supported`);
  const qe = qeTcbLevel(identity.value, quote.qeReport);
  if (qe === null) return fail('tcb', `no QE TCB level matches QE ISVSVN ${quote.qeReport.isvSvn}: the QE is revoked`);
  const evaluation = convergeTcb(platform, qe);
  const detail = tcbDetail(evaluation);
  if (evaluation.status === 'revoked') return fail('tcb', detail);
  checks.push({ name: 'tcb', ok: true, detail });
  return { checks, evaluation };
}

function tcbDetail(evaluation: SgxTcbEvaluation): string {
  const advisories = evaluation.advisoryIds.length > 0 ? `; advisories ${evaluation.advisoryIds.join(', ')}` : '';
  return `${evaluation.status}: platform ${evaluation.platform.status} (TCB date ${evaluation.platform.tcbDate}), QE ${evaluation.qe.status} (TCB date ${evaluation.qe.tcbDate})${advisories}`;
}

function claimsOf(quote: SgxQuote, evaluation: SgxTcbEvaluation | null): EvidenceClaims {
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
  const { report } = quote;
  return {
    kind: 'sgx',
    measurement: hex(report.mrEnclave),
    measurements: { mrsigner: hex(report.mrSigner), isvProdId: String(report.isvProdId), isvSvn: String(report.isvSvn), attributes: hex(report.attributes) },
    reportData: hex(report.reportData),
    nonce: null,
    publicKey: null,
    debug: isDebug(report),
    tcb: evaluation === null ? { status: 'unknown', detail: 'no TCB info and QE identity collateral: the TCB was not evaluated' } : { status: evaluation.status, detail: tcbDetail(evaluation) },
    issuedAt: null,
  };
}

/** An uncompressed P-256 point x‖y as a key, or null when it is not on the curve. */
function p256Key(point: Uint8Array): KeyObject | null {
  try {
    const x = Buffer.from(point.subarray(0, 32)).toString('base64url');
    const y = Buffer.from(point.subarray(32, 64)).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
  } catch {
    return null;
  }
}

/** ECDSA P-256 / SHA-256 with a raw r‖s signature, as SGX quotes carry them. */
function signedBy(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verifySignature('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
