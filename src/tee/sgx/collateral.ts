/**
 * SGX collateral: Intel's signed TCB info and QE identity, the TCB signing chain that signs them,
 * and the CRLs of the Root CA and PCK CA. Each signed document is checked the way Intel's PCS
 * serves it: the signature (ECDSA P-256, r‖s hex) over the exact bytes of its `tcbInfo` or
 * `enclaveIdentity` value, by the "Intel SGX TCB Signing" certificate that the pinned root issues.
 */
import { verify as verifySignature } from 'node:crypto';
import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.js';
import { certificatesFromPem, fingerprintOf, parseCertificate, type ParsedCertificate } from './certificate.js';
import { chainProblem, commonName } from './chain.js';
import { INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_CA_SHA256 } from './roots.js';
import { rawMember } from './signed-json.js';

/** Collateral for a DCAP quote; each piece optional, and each one given is checked. */
export interface SgxCollateral {
  /** Intel PCS "TCB info" response body as served: `{"tcbInfo":{…},"signature":"…"}`. */
  tcbInfo?: string;
  /** Intel PCS "QE identity" response body as served: `{"enclaveIdentity":{…},"signature":"…"}`. */
  qeIdentity?: string;
  /** PEM of the Intel SGX TCB Signing certificate (PCS's `TCB-Info-Issuer-Chain`), the root after it optional. */
  tcbSigningChain?: string;
  /** DER CRL of the Intel SGX Root CA. */
  rootCaCrl?: Uint8Array;
  /** DER CRL of the PCK CA (Processor or Platform) that issued the quote's PCK certificate. */
  pckCrl?: Uint8Array;
}

const TCB_SIGNER_NAME = 'Intel SGX TCB Signing';
const hexText = z.string().regex(/^([0-9a-fA-F]{2})*$/);

/** The collateral file of Phala's dcap-qvl (`QuoteCollateralV3`, JSON), which carries everything in one object. */
const QvlCollateralSchema = z.object({
  tcb_info_issuer_chain: z.string(),
  tcb_info: z.string(),
  tcb_info_signature: hexText,
  qe_identity_issuer_chain: z.string(),
  qe_identity: z.string(),
  qe_identity_signature: hexText,
  root_ca_crl: hexText.optional(),
  pck_crl: hexText.optional(),
});

/** Reads dcap-qvl's collateral JSON into collateral whose signed values keep their exact bytes. */
export function sgxCollateralFromQvl(text: string): SgxCollateral {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidInputError('SGX_COLLATERAL_INVALID', 'the SGX collateral is not JSON; give dcap-qvl collateral (tcb_info, qe_identity, signatures, chains, CRLs)');
  }
  const parsed = QvlCollateralSchema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidInputError('SGX_COLLATERAL_INVALID', `the SGX collateral lacks a field of dcap-qvl's format: ${parsed.error.issues[0]?.path.join('.')}`, parsed.error.issues);
  }
  const qvl = parsed.data;
  return {
    // The signed JSON goes in verbatim, so the bytes checked are the bytes Intel signed.
    tcbInfo: `{"tcbInfo":${qvl.tcb_info},"signature":"${qvl.tcb_info_signature}"}`,
    qeIdentity: `{"enclaveIdentity":${qvl.qe_identity},"signature":"${qvl.qe_identity_signature}"}`,
    tcbSigningChain: qvl.tcb_info_issuer_chain,
    rootCaCrl: qvl.root_ca_crl === undefined ? undefined : Uint8Array.from(Buffer.from(qvl.root_ca_crl, 'hex')),
    pckCrl: qvl.pck_crl === undefined ? undefined : Uint8Array.from(Buffer.from(qvl.pck_crl, 'hex')),
  };
}

/** The Intel SGX Root CA as a parsed certificate. */
export function pinnedRoot(): ParsedCertificate {
  const root = parseCertificate(INTEL_SGX_ROOT_CA_PEM);
  // The constant is ours: failing to parse it is a programmer error.
  if (root === null) throw new InvalidInputError('SGX_ROOT_INVALID', 'the pinned Intel SGX Root CA does not parse; restore src/tee/sgx/roots.ts');
  return root;
}

/**
 * Checks one signed PCS document: the signer chains to the pinned root at `at`, the signature
 * covers the exact bytes of `member`, the value has `schema`'s shape and `at` lies within its
 * issueDate..nextUpdate. Returns the value, or what was wrong.
 */
export function checkSignedDocument<T extends { issueDate: string; nextUpdate: string }>(
  body: string,
  member: string,
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  signingChain: string | undefined,
  at: Date,
): { value: T } | { error: string } {
  const signed = rawMember(body, member);
  const signature = rawMember(body, 'signature');
  if (signed === null || signature === null || !/^"[0-9a-fA-F]{128}"$/.test(signature)) {
    return { error: `not an Intel PCS body with '${member}' and a 64-byte hex 'signature'` };
  }
  if (signingChain === undefined) return { error: 'no TCB signing certificate was given to check its signature' };
  const certificates = certificatesFromPem(signingChain);
  if ('error' in certificates) return { error: `TCB signing chain: ${certificates.error}` };
  const signer = certificates[0];
  if (commonName(signer) !== TCB_SIGNER_NAME) return { error: `signed by '${commonName(signer)}', not '${TCB_SIGNER_NAME}'` };
  const last = certificates[certificates.length - 1];
  const chain = fingerprintOf(last) === INTEL_SGX_ROOT_CA_SHA256 || certificates.length > 1 ? certificates : [...certificates, pinnedRoot()];
  const problem = chainProblem(chain, at);
  if (problem !== null) return { error: `TCB signing chain: ${problem}` };
  let verified = false;
  try {
    verified = verifySignature('sha256', Buffer.from(signed, 'utf8'), { key: signer.x509.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature.slice(1, -1), 'hex'));
  } catch {
    verified = false;
  }
  if (!verified) return { error: `the signature over '${member}' does not verify with the TCB signing key` };
  let json: unknown;
  try {
    json = JSON.parse(signed);
  } catch {
    return { error: `'${member}' is not JSON` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { error: `'${member}' is not the expected version: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}` };
  const { issueDate, nextUpdate } = parsed.data;
  if (at < new Date(issueDate)) return { error: `issued ${issueDate}, after the check time ${at.toISOString()}` };
  if (at > new Date(nextUpdate)) return { error: `stale: its next update was due ${nextUpdate}, before the check time ${at.toISOString()}` };
  return { value: parsed.data };
}
