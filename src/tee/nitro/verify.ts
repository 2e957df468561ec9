import { verify, X509Certificate as NodeCertificate } from 'node:crypto';
import { KeyUsageFlags } from '@peculiar/x509';
import { InvalidInputError } from '../../core/errors.js';
import { conclude, type EvidenceCheck, type EvidenceClaims, type EvidenceVerification, type VerifyEvidenceOptions } from '../evidence.js';
import { readAttestationDocument, type AttestationDocument } from './attestation-document.js';
import { hex, plainBytes, type Read } from './cbor.js';
import { checkChain, checkRoot, checkValidity, fingerprint, readChain, type ChainCertificate } from './certificate-chain.js';
import { readCoseSign1, sigStructure, type CoseSign1 } from './cose-sign1.js';
import { AWS_NITRO_ROOT_G1_SHA256 } from './roots.js';

/** Options of the Nitro verifier: the check time, and the root to pin in place of AWS's (tests, or a future AWS root). */
export interface VerifyNitroOptions extends VerifyEvidenceOptions {
  /** PEM of the root the cabundle must start with; the AWS Nitro Enclaves root G1 when not given. */
  root?: string;
}

/**
 * Verifies an AWS Nitro Enclaves attestation document (raw CBOR COSE_Sign1): checks `parse`, `root`,
 * `chain`, `validity`, `signature` and `timestamp`, in that order, and gives the claims when all pass.
 */
export function verifyNitroEvidence(bytes: Uint8Array, options: VerifyNitroOptions): EvidenceVerification {
  const at = options.at;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new InvalidInputError('TEE_CHECK_TIME_INVALID', 'the check time must be a valid Date; pass { at: new Date() } for now', at);
  }
  const pinned = options.root === undefined ? AWS_NITRO_ROOT_G1_SHA256 : rootFingerprint(options.root);

  const checks: EvidenceCheck[] = [];
  const parsed = parse(plainBytes(bytes));
  if (!parsed.ok) {
    checks.push({ name: 'parse', ok: false, detail: parsed.detail });
    return conclude('nitro', checks, null);
  }
  const { message, evidence } = parsed.value;
  checks.push({ name: 'parse', ok: true, detail: `COSE_Sign1 (ES384) attestation document of ${evidence.moduleId}` });

  checks.push(checkRoot(evidence.cabundle[0], pinned));
  const chain = readChain(evidence.cabundle, evidence.certificate);
  if (!chain.ok) {
    checks.push({ name: 'chain', ok: false, detail: chain.detail });
    return conclude('nitro', checks, null);
  }
  checks.push(checkChain(chain.value));
  checks.push(checkValidity(chain.value, at));
  const leaf = chain.value[chain.value.length - 1];
  checks.push(checkSignature(message, leaf));
  checks.push(checkTimestamp(evidence.timestamp, leaf, at));
  return conclude('nitro', checks, claims(evidence));
}

/** `parse`: a COSE_Sign1 whose payload is an attestation document as AWS specifies it. */
function parse(bytes: Uint8Array): Read<{ message: CoseSign1; evidence: AttestationDocument }> {
  const message = readCoseSign1(bytes);
  if (!message.ok) return message;
  const evidence = readAttestationDocument(message.value.payload);
  if (!evidence.ok) return evidence;
  return { ok: true, value: { message: message.value, evidence: evidence.value } };
}

/** `signature`: the leaf's P-384 key, allowed to sign, verifies the COSE_Sign1 over its Sig_structure (RFC 9052 §4.4). */
function checkSignature(message: CoseSign1, leaf: ChainCertificate): EvidenceCheck {
  const key = leaf.key;
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    return { name: 'signature', ok: false, detail: `${leaf.label} holds a ${key.asymmetricKeyType ?? 'unknown'} key, not the P-384 key ES384 needs` };
  }
  if (leaf.keyUsage !== null && (leaf.keyUsage & KeyUsageFlags.digitalSignature) === 0) {
    return { name: 'signature', ok: false, detail: `${leaf.label} is not allowed to make digital signatures` };
  }
  const valid = verify('sha384', sigStructure(message), { key, dsaEncoding: 'ieee-p1363' }, message.signature);
  return valid
    ? { name: 'signature', ok: true, detail: `the COSE_Sign1 ES384 signature verifies with the key of ${leaf.label}` }
    : { name: 'signature', ok: false, detail: `the COSE_Sign1 ES384 signature does not verify with the key of ${leaf.label}` };
}

/**
 * `timestamp`: the document was made while its leaf certificate was valid (Nitro issues the leaf for the
 * document, hours before it expires) and not after the check time. This also catches a timestamp in
 * seconds where AWS specifies milliseconds.
 */
function checkTimestamp(timestamp: number, leaf: ChainCertificate, at: Date): EvidenceCheck {
  const made = new Date(timestamp);
  const { notBefore, notAfter } = leaf;
  if (timestamp < notBefore.getTime() || timestamp > notAfter.getTime()) {
    // Before 2001-09-09 in milliseconds is a plausible date in seconds: say so.
    const unit = timestamp < 1e12 ? ' (a count of seconds, where AWS specifies milliseconds?)' : '';
    return {
      name: 'timestamp',
      ok: false,
      detail: `timestamp ${timestamp} (${made.toISOString()})${unit} lies outside the validity of ${leaf.label}, ${notBefore.toISOString()} to ${notAfter.toISOString()}`,
    };
  }
  if (timestamp > at.getTime()) {
    return { name: 'timestamp', ok: false, detail: `the document was made at ${made.toISOString()}, after the check time ${at.toISOString()}` };
  }
  return { name: 'timestamp', ok: true, detail: `made at ${made.toISOString()}, within the validity of ${leaf.label}` };
}

function claims(document: AttestationDocument): EvidenceClaims {
  const pcr0 = document.pcrs.get(0) as Uint8Array;
  const measurements: Record<string, string> = {};
  for (const [index, value] of document.pcrs) if (index !== 0) measurements[`PCR${index}`] = hex(value);
  return {
    kind: 'nitro',
    measurement: hex(pcr0),
    measurements,
    reportData: document.userData === null ? null : hex(document.userData),
    nonce: document.nonce === null ? null : hex(document.nonce),
    publicKey: document.publicKey === null ? null : hex(document.publicKey),
    // AWS zeroes the PCRs of an enclave started in debug mode, so a zero PCR0 is the one sign of it in the document.
    debug: pcr0.every((byte) => byte === 0),
    tcb: { status: 'unknown', detail: 'Nitro evidence carries no TCB collateral; the AWS-rooted chain vouches for the platform' },
    issuedAt: document.timestamp,
  };
}

function rootFingerprint(pem: string): string {
  try {
    return fingerprint(new Uint8Array(new NodeCertificate(pem).raw));
  } catch (error) {
    throw new InvalidInputError('TEE_NITRO_ROOT_INVALID', 'the root to pin must be a PEM X.509 certificate', { cause: error instanceof Error ? error.message : String(error) });
  }
}
