/**
 * Certificate revocation lists (RFC 5280 §5) of the Intel SGX Root CA and PCK CAs: signed by the
 * CA they name, fresh at the check time, and listing no certificate of the chain.
 */
import { verify as verifySignature } from 'node:crypto';
import { serialHex, type ParsedCertificate } from './certificate.js';
import { commonName } from './chain.js';
import { childrenOf, contentOf, oidOf, readElement, type DerElement } from './der.js';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** A parsed CRL with the bytes its signature covers. */
export interface Crl {
  tbs: Uint8Array;
  /** DER ECDSA signature. */
  signature: Uint8Array;
  signatureAlgorithm: string;
  issuerDer: Uint8Array;
  thisUpdate: Date;
  nextUpdate: Date | null;
  /** Revoked serials, lower-case hex without leading zeros. */
  revoked: Set<string>;
}

/** Parses a DER CRL, or says why it is not one. */
export function parseCrl(der: Uint8Array): Crl | { error: string } {
  const list = readElement(der, 0);
  const parts = list?.tag === 0x30 ? childrenOf(der, list) : null;
  const [tbs, algorithm, signature] = parts ?? [];
  const fields = tbs?.tag === 0x30 ? childrenOf(der, tbs) : null;
  const algorithmOid = algorithm?.tag === 0x30 ? childrenOf(der, algorithm)?.[0] : undefined;
  if (!fields || algorithmOid?.tag !== 0x06 || signature?.tag !== 0x03) return { error: 'not a DER certificate revocation list' };
  // tbsCertList: [version] signature issuer thisUpdate [nextUpdate] [revokedCertificates] [0]extensions
  let index = fields[0]?.tag === 0x02 ? 2 : 1;
  const issuer = fields[index++];
  const thisUpdate = fields[index] ? timeOf(der, fields[index++]) : null;
  const nextUpdate = fields[index] && isTime(fields[index]) ? timeOf(der, fields[index++]) : null;
  if (!issuer || thisUpdate === null) return { error: 'the CRL has no issuer or thisUpdate' };
  const revoked = new Set<string>();
  if (fields[index]?.tag === 0x30) {
    const entries = childrenOf(der, fields[index]);
    if (entries === null) return { error: 'the CRL\'s revoked entries do not parse' };
    for (const entry of entries) {
      const serial = childrenOf(der, entry)?.[0];
      if (serial?.tag !== 0x02) return { error: 'a revoked entry of the CRL has no serial number' };
      revoked.add(serialHex(contentOf(der, serial)));
    }
  }
  return {
    tbs: der.subarray(tbs.start, tbs.end),
    // A BIT STRING's first content byte counts unused bits, always 0 for a DER signature.
    signature: contentOf(der, signature).subarray(1),
    signatureAlgorithm: oidOf(der, algorithmOid),
    issuerDer: der.subarray(issuer.start, issuer.end),
    thisUpdate,
    nextUpdate,
    revoked,
  };
}

/**
 * Checks a CRL against the CA that should have issued it and the certificates it must not list;
 * returns null when it passes, else what was wrong.
 */
export function crlProblem(crl: Crl, issuer: ParsedCertificate, subjects: ParsedCertificate[], at: Date, name: string): string | null {
  if (!Buffer.from(crl.issuerDer).equals(issuer.subjectDer)) return `the ${name} is not issued by '${commonName(issuer)}'`;
  if (crl.signatureAlgorithm !== ECDSA_WITH_SHA256) return `the ${name} is signed with ${crl.signatureAlgorithm}, not ECDSA with SHA-256`;
  let signed = false;
  try {
    signed = verifySignature('sha256', crl.tbs, { key: issuer.x509.publicKey, dsaEncoding: 'der' }, crl.signature);
  } catch {
    signed = false;
  }
  if (!signed) return `the ${name}'s signature does not verify with its issuer's key`;
  if (at < crl.thisUpdate) return `the ${name} was issued ${crl.thisUpdate.toISOString()}, after the check time`;
  if (crl.nextUpdate === null || at > crl.nextUpdate) {
    return `the ${name} is stale: its next update was due ${crl.nextUpdate?.toISOString() ?? '(not given)'}, before the check time`;
  }
  const listed = subjects.find((subject) => crl.revoked.has(subject.serial));
  return listed ? `the ${name} revokes certificate serial ${listed.serial}` : null;
}

function isTime(element: DerElement): boolean {
  return element.tag === 0x17 || element.tag === 0x18;
}

/** UTCTime (two-digit years 50..99 are 19xx, RFC 5280 §4.1.2.5.1) or GeneralizedTime, both Zulu. */
function timeOf(der: Uint8Array, element: DerElement): Date | null {
  if (!isTime(element)) return null;
  const text = Buffer.from(contentOf(der, element)).toString('latin1');
  const match = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match || (element.tag === 0x17) !== (match[1].length === 2)) return null;
  const year = match[1].length === 2 ? (Number(match[1]) >= 50 ? 1900 : 2000) + Number(match[1]) : Number(match[1]);
  const date = new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])));
  return Number.isNaN(date.getTime()) ? null : date;
}
