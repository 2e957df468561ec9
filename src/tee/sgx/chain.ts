/**
 * Certificate chains that end at the pinned Intel SGX Root CA: each certificate signed by the
 * next, each issuer a CA, the last one the pinned root by fingerprint, and all valid at the check
 * time (RFC 5280 §6.1, reduced to what Intel's fixed two- and three-certificate chains need).
 */
import type { EvidenceCheck } from '../evidence.js';
import { fingerprintOf, type ParsedCertificate } from './certificate.js';
import { INTEL_SGX_ROOT_CA_SHA256 } from './roots.js';

/** The common name of a certificate, for messages. */
export function commonName(certificate: ParsedCertificate): string {
  return /^CN=(.*)$/m.exec(certificate.x509.subject)?.[1] ?? certificate.x509.subject.replace(/\n/g, ', ');
}

/**
 * Checks `chain` (leaf first, root last) in the order `chain`, `root`, `validity`, stopping at the
 * first that fails, since a later check means nothing once an earlier one failed.
 */
export function checkChain(certificates: ParsedCertificate[], at: Date): EvidenceCheck[] {
  const link = linkProblem(certificates);
  if (link !== null) return [{ name: 'chain', ok: false, detail: link }];
  const names = certificates.map(commonName).join(' ← ');
  const checks: EvidenceCheck[] = [{ name: 'chain', ok: true, detail: `${names}: each signed by the next` }];
  const root = certificates[certificates.length - 1];
  const fingerprint = fingerprintOf(root);
  if (fingerprint !== INTEL_SGX_ROOT_CA_SHA256) {
    checks.push({ name: 'root', ok: false, detail: `the chain ends at '${commonName(root)}' with SHA-256 ${fingerprint}, not the pinned Intel SGX Root CA` });
    return checks;
  }
  checks.push({ name: 'root', ok: true, detail: `the chain ends at the pinned Intel SGX Root CA (SHA-256 ${fingerprint})` });
  const invalid = validityProblem(certificates, at);
  checks.push(invalid === null ? { name: 'validity', ok: true, detail: `every certificate is valid at ${at.toISOString()}` } : { name: 'validity', ok: false, detail: invalid });
  return checks;
}

/** The first problem of a chain in one sentence, or null: the three checks of `checkChain` folded into one. */
export function chainProblem(certificates: ParsedCertificate[], at: Date): string | null {
  return checkChain(certificates, at).find((check) => !check.ok)?.detail ?? null;
}

function linkProblem(certificates: ParsedCertificate[]): string | null {
  for (let index = 0; index + 1 < certificates.length; index += 1) {
    const subject = certificates[index];
    const issuer = certificates[index + 1];
    if (!issuer.x509.ca) return `'${commonName(issuer)}' is not a CA certificate`;
    if (!Buffer.from(subject.issuerDer).equals(issuer.subjectDer)) return `'${commonName(subject)}' is not issued by '${commonName(issuer)}'`;
    let signed = false;
    try {
      signed = subject.x509.verify(issuer.x509.publicKey);
    } catch {
      signed = false;
    }
    if (!signed) return `the signature of '${commonName(subject)}' does not verify with the key of '${commonName(issuer)}'`;
  }
  return null;
}

function validityProblem(certificates: ParsedCertificate[], at: Date): string | null {
  for (const certificate of certificates) {
    const from = new Date(certificate.x509.validFrom);
    const to = new Date(certificate.x509.validTo);
    if (at < from) return `'${commonName(certificate)}' is not valid before ${from.toISOString()}, after the check time ${at.toISOString()}`;
    if (at > to) return `'${commonName(certificate)}' expired ${to.toISOString()}, before the check time ${at.toISOString()}`;
  }
  return null;
}
