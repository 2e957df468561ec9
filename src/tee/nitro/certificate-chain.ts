import { createHash, type KeyObject, X509Certificate as NodeCertificate } from 'node:crypto';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, X509Certificate } from '@peculiar/x509';
import type { EvidenceCheck } from '../evidence.js';
import { fail, type Read } from './cbor.js';

/**
 * One certificate of a document's chain with every field the checks need read up front: @peculiar/x509
 * decodes extensions lazily and node:crypto its key on access, and either throws on tampered DER.
 */
export interface ChainCertificate {
  /** Where it came from and whom it names, for refusals: `cabundle[2] (….zonal.us-east-1.aws.nitro-enclaves)`. */
  label: string;
  /** node:crypto's view, for synchronous signature checks. */
  verifier: NodeCertificate;
  key: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** Basic constraints (RFC 5280 §4.2.1.9), null when absent. */
  constraints: { ca: boolean; pathLength: number | undefined } | null;
  /** Key usage bits (RFC 5280 §4.2.1.3), null when absent. */
  keyUsage: number | null;
  /** OIDs of critical extensions this verifier does not understand. */
  unknownCritical: string[];
}

const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
/** The only extensions a Nitro chain marks critical; RFC 5280 §4.2 says to refuse a critical one not understood. */
const UNDERSTOOD_CRITICAL = new Set([BASIC_CONSTRAINTS, KEY_USAGE]);

/** SHA-256 of DER bytes, lower-case hex. */
export function fingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Reads the chain root-first (`cabundle` then `certificate`); names the first entry that is not an X.509 certificate. */
export function readChain(cabundle: Uint8Array[], certificate: Uint8Array): Read<ChainCertificate[]> {
  const entries = [...cabundle.map((der, position) => ({ der, where: `cabundle[${position}]` })), { der: certificate, where: 'certificate' }];
  const chain: ChainCertificate[] = [];
  for (const { der, where } of entries) {
    try {
      chain.push(readCertificate(der, where));
    } catch (error) {
      // Both parsers throw on malformed DER, extensions or keys; for bytes from the evidence that is a refusal.
      return fail(`${where} is not a readable X.509 certificate: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { ok: true, value: chain };
}

function readCertificate(der: Uint8Array, where: string): ChainCertificate {
  const parsed = new X509Certificate(der);
  const verifier = new NodeCertificate(der);
  const commonName = parsed.subjectName.getField('CN')[0];
  const constraints = parsed.getExtension(BasicConstraintsExtension);
  const usage = parsed.getExtension(KeyUsagesExtension);
  return {
    label: commonName === undefined ? where : `${where} (${commonName})`,
    verifier,
    key: verifier.publicKey,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    constraints: constraints === null ? null : { ca: constraints.ca, pathLength: constraints.pathLength },
    keyUsage: usage === null ? null : usage.usages,
    unknownCritical: parsed.extensions.filter((extension) => extension.critical && !UNDERSTOOD_CRITICAL.has(extension.type)).map((extension) => extension.type),
  };
}

/** `root`: the first cabundle entry is the pinned root, compared by SHA-256 fingerprint of its DER. */
export function checkRoot(first: Uint8Array, pinnedSha256: string): EvidenceCheck {
  const found = fingerprint(first);
  return found === pinnedSha256
    ? { name: 'root', ok: true, detail: `cabundle[0] is the pinned root (SHA-256 ${pinnedSha256})` }
    : { name: 'root', ok: false, detail: `cabundle[0] has SHA-256 ${found}, not the pinned root's ${pinnedSha256}` };
}

/**
 * `chain`: each certificate is issued and signed by the one before it (RFC 5280 §6.1.3), each issuer is
 * a CA allowed to sign certificates (§4.2.1.3, §4.2.1.9) within its path length, and no certificate
 * carries a critical extension this verifier does not understand.
 */
export function checkChain(chain: ChainCertificate[]): EvidenceCheck {
  for (const certificate of chain) {
    if (certificate.unknownCritical.length > 0) {
      return chainFailure(`${certificate.label} has critical extensions ${certificate.unknownCritical.join(', ')} this verifier does not understand`);
    }
  }
  for (let position = 1; position < chain.length; position++) {
    const issuer = chain[position - 1];
    const subject = chain[position];
    const constraints = issuer.constraints;
    if (constraints === null || !constraints.ca) return chainFailure(`${issuer.label} is not a CA but issues ${subject.label}`);
    const intermediatesBelow = chain.length - 1 - position;
    if (constraints.pathLength !== undefined && intermediatesBelow > constraints.pathLength) {
      return chainFailure(`${issuer.label} allows ${constraints.pathLength} intermediate CAs below it, the chain has ${intermediatesBelow}`);
    }
    if (issuer.keyUsage === null || (issuer.keyUsage & KeyUsageFlags.keyCertSign) === 0) {
      return chainFailure(`${issuer.label} is not allowed to sign certificates (no keyCertSign usage)`);
    }
    if (!subject.verifier.checkIssued(issuer.verifier)) {
      return chainFailure(`${subject.label} does not name ${issuer.label} as its issuer`);
    }
    if (!subject.verifier.verify(issuer.key)) {
      return chainFailure(`${subject.label} is not signed by the key of ${issuer.label}`);
    }
  }
  return { name: 'chain', ok: true, detail: `${chain.length} certificates chain from ${chain[0].label} to ${chain[chain.length - 1].label}` };
}

/** `validity`: every certificate of the chain is valid at the check time (RFC 5280 §4.1.2.5, bounds inclusive); names each one that is not. */
export function checkValidity(chain: ChainCertificate[], at: Date): EvidenceCheck {
  const time = at.getTime();
  const invalid: string[] = [];
  for (const { label, notBefore, notAfter } of chain) {
    if (time < notBefore.getTime()) invalid.push(`${label} is not valid before ${notBefore.toISOString()}`);
    else if (time > notAfter.getTime()) invalid.push(`${label} expired at ${notAfter.toISOString()}`);
  }
  return invalid.length === 0
    ? { name: 'validity', ok: true, detail: `all ${chain.length} certificates are valid at ${at.toISOString()}` }
    : { name: 'validity', ok: false, detail: `at the check time ${at.toISOString()}: ${invalid.join('; ')}` };
}

function chainFailure(detail: string): EvidenceCheck {
  return { name: 'chain', ok: false, detail };
}
