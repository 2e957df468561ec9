/**
 * Verifies an AMD SEV-SNP attestation report against its endorsement key (VCEK or VLEK) and AMD's
 * pinned roots, following the SEV-SNP Firmware ABI Specification (publication 56860) §7.3 and the
 * VCEK Certificate and KDS Interface Specification (publication 57230).
 */

import { verify as verifySignature } from 'node:crypto';
import { conclude, type EvidenceCheck, type EvidenceClaims, type EvidenceVerification, type VerifyEvidenceOptions } from '../evidence.js';
import { buildPath, firstInvalidAt, pinnedProductOf, readChain, verifyPath } from './chain.js';
import { commonName, readEndorsementKey, type EndorsementKey } from './endorsement-key.js';
import { SnpVerifierError } from './errors.js';
import { decomposeTcb, parseSnpReport, POLICY_DEBUG, type SnpReport, type SnpTcb } from './report.js';
import type { SnpProduct } from './roots.js';

/** What SEV-SNP verification needs besides the report: the endorsement key and, optionally, its chain. */
export interface SnpCollateral {
  /** The VCEK or VLEK certificate, DER or PEM (from AMD's KDS or the host's extended report). */
  vcek: Uint8Array | string;
  /** PEM of the ASK (or ASVK for a VLEK) and optionally the ARK; AMD's own, shipped here, where absent. */
  chain?: string;
}

/** Options of {@link verifySnpReport}. */
export type VerifySnpReportOptions = VerifyEvidenceOptions & { collateral: SnpCollateral };

/** Checks an SEV-SNP report (raw, hex or base64) and concludes with every check made and, when all pass, its claims. */
export function verifySnpReport(report: Uint8Array | string, options: VerifySnpReportOptions): EvidenceVerification {
  const { at } = options;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new SnpVerifierError('SNP_CHECK_TIME_INVALID', 'the check time `at` must be a valid Date', { at });
  }
  const checks: EvidenceCheck[] = [];
  const record = (name: string, failure: string | null, success: string): boolean => {
    checks.push({ name, ok: failure === null, detail: failure ?? success });
    return failure === null;
  };
  // Later checks need what a failed parse, key or path would have given them: stop there.
  const refuse = (): EvidenceVerification => conclude('snp', checks, null);

  const parsed = parseSnpReport(report);
  if (!parsed.ok) {
    record('parse', parsed.reason, '');
    return refuse();
  }
  record('parse', null, `a version ${parsed.report.version} SEV-SNP report signed with ECDSA P-384`);
  const snp = parsed.report;

  const collateral = options.collateral as Partial<SnpCollateral> | undefined;
  const read = collateral?.vcek === undefined ? { ok: false as const, reason: 'no VCEK or VLEK certificate was given as collateral' } : readEndorsementKey(collateral.vcek);
  if (!read.ok) {
    record('endorsement-key', read.reason, '');
    return refuse();
  }
  const key = read.key;
  if (!record('endorsement-key', endorsementKeyFailure(key, snp), `a ${snp.signingKey.toUpperCase()} with a P-384 key, as the report's signing-key field names`)) return refuse();

  const given = collateral?.chain === undefined ? { ok: true as const, certificates: [] } : readChain(collateral.chain);
  const built = given.ok ? buildPath(key.certificate, given.certificates) : given;
  if (!built.ok) {
    record('chain', built.reason, '');
    return refuse();
  }
  const path = built.path;
  record('chain', verifyPath(path), `${nameOf(path.leaf.subject)} ← ${nameOf(path.ask.subject)} ← ${nameOf(path.ark.subject)}: every signature verifies`);

  const rootProduct = pinnedProductOf(path.ark);
  record('root', rootFailure(rootProduct, snp), `the chain ends at the pinned ${rootProduct ?? ''} root key (SHA-256 ${path.ark.fingerprint256})`);
  record('validity', firstInvalidAt(path, at), `the endorsement key, ASK and ARK are all valid at ${at.toISOString()}`);

  const product = rootProduct ?? key.issuerProduct;
  record('hwid', hwidFailure(key, snp, product), hwidSuccess(snp));
  const reportedTcb = product === null ? null : decomposeTcb(snp.reportedTcb, product);
  record('reported-tcb', reportedTcb === null ? 'the product is unknown, so is the layout of the reported TCB' : tcbFailure(key.tcb, reportedTcb), `the certificate's TCB extensions equal the reported TCB (${describeTcb(reportedTcb)})`);
  record('signature', signatureFailure(key, snp), `the ECDSA P-384 SHA-384 signature over bytes 0x000–0x29F verifies with the ${snp.signingKey.toUpperCase()}`);

  return conclude('snp', checks, claimsOf(snp, product, reportedTcb));
}

function endorsementKeyFailure(key: EndorsementKey, snp: SnpReport): string | null {
  if (key.kind !== snp.signingKey) {
    return `the report says it is signed by a ${snp.signingKey.toUpperCase()}, the certificate is ${nameOf(key.certificate.subject)}`;
  }
  const details = key.publicKey.asymmetricKeyDetails;
  if (key.publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'secp384r1') return 'the certificate\'s key is not an ECDSA P-384 key';
  return null;
}

function rootFailure(rootProduct: SnpProduct | null, snp: SnpReport): string | null {
  if (rootProduct === null) return 'the chain\'s root key is not one of the pinned AMD ARKs (Milan, Genoa, Turin)';
  // The report's CPUID (version 3 on) names the processor; a chain for another product cannot be its.
  if (snp.cpuidProduct !== null && snp.cpuidProduct !== rootProduct) {
    return `the report's CPUID names ${snp.cpuidProduct}, the chain ends at the ${rootProduct} root`;
  }
  return null;
}

/** The VCEK's hwID must be the report's chip id; Turin's hwID is the chip id's first 8 bytes (publication 57230, Table 8). */
function hwidFailure(key: EndorsementKey, snp: SnpReport, product: SnpProduct | null): string | null {
  if (snp.signingKey === 'vlek' || snp.chipIdMasked) return null;
  if (key.hwid === null) return 'the VCEK has no hwID extension';
  const expected = product === 'Turin' ? snp.chipId.subarray(0, 8) : snp.chipId;
  if (!Buffer.from(key.hwid).equals(Buffer.from(expected))) {
    return `the VCEK's hwID ${hex(key.hwid)} is not the report's chip id ${hex(expected)}`;
  }
  return null;
}

function hwidSuccess(snp: SnpReport): string {
  if (snp.signingKey === 'vlek') return 'not applicable: a VLEK belongs to a cloud provider, not to a chip';
  if (snp.chipIdMasked) return 'not compared: the guest masked the chip id (MASK_CHIP_ID); the VCEK\'s key still names the chip';
  return 'the VCEK\'s hwID equals the report\'s chip id';
}

function tcbFailure(certified: Partial<SnpTcb>, reported: SnpTcb): string | null {
  for (const component of Object.keys(reported) as (keyof SnpTcb)[]) {
    if (certified[component] === undefined) return `the certificate has no ${component} TCB extension`;
    if (certified[component] !== reported[component]) {
      return `the certificate's ${component} level is ${certified[component]}, the report's ${reported[component]}`;
    }
  }
  return null;
}

/** ECDSA over the signed bytes with the certificate's key; the report stores R and S little-endian in 72 bytes each (ABI Table 139). */
function signatureFailure(key: EndorsementKey, snp: SnpReport): string | null {
  const padding = [...snp.signatureR.subarray(48), ...snp.signatureS.subarray(48)];
  if (padding.some((byte) => byte !== 0)) return 'R or S is wider than 384 bits';
  const signature = Buffer.concat([Buffer.from(snp.signatureR.subarray(0, 48)).reverse(), Buffer.from(snp.signatureS.subarray(0, 48)).reverse()]);
  const ok = verifySignature('sha384', snp.signed, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  return ok ? null : `the signature does not verify with the ${snp.signingKey.toUpperCase()}'s key`;
}

function claimsOf(snp: SnpReport, product: SnpProduct | null, reportedTcb: SnpTcb | null): EvidenceClaims {
  const tcbLevels = Object.fromEntries(Object.entries(reportedTcb ?? {}).map(([component, level]) => [`reportedTcb.${component}`, String(level)]));
  return {
    kind: 'snp',
    measurement: hex(snp.measurement),
    measurements: {
      hostData: hex(snp.hostData),
      idKeyDigest: hex(snp.idKeyDigest),
      authorKeyDigest: hex(snp.authorKeyDigest),
      familyId: hex(snp.familyId),
      imageId: hex(snp.imageId),
      reportId: hex(snp.reportId),
      reportIdMa: hex(snp.reportIdMa),
      guestSvn: String(snp.guestSvn),
      vmpl: String(snp.vmpl),
      policy: `0x${snp.policy.toString(16)}`,
      platformInfo: `0x${snp.platformInfo.toString(16)}`,
      chipId: hex(snp.chipId),
      reportedTcb: hex(snp.reportedTcb),
      ...tcbLevels,
      signingKey: snp.signingKey,
      product: product ?? 'unknown',
      version: String(snp.version),
    },
    reportData: hex(snp.reportData),
    nonce: null,
    publicKey: null,
    debug: (snp.policy & POLICY_DEBUG) !== 0n,
    tcb: {
      status: 'unknown',
      // AMD publishes no signed TCB-status collateral (unlike Intel's TCB info): the endorsement key
      // only certifies which TCB the report claims, so whether it is current is a policy's minimum TCB.
      detail: `reported TCB ${describeTcb(reportedTcb)} is certified by the endorsement key; AMD publishes no TCB status to rate it against`,
    },
    issuedAt: null,
  };
}

function describeTcb(tcb: SnpTcb | null): string {
  if (tcb === null) return 'of unknown layout';
  return Object.entries(tcb).map(([component, level]) => `${component} ${level}`).join(', ');
}

function nameOf(distinguishedName: string): string {
  return commonName(distinguishedName) ?? distinguishedName;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
