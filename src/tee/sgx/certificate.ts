/**
 * X.509 pieces node:crypto does not expose: the DER of a certificate's issuer and subject names,
 * its serial and one extension's value (RFC 5280 §4.1), read straight from the DER so they are
 * compared byte for byte.
 */
import { X509Certificate } from 'node:crypto';
import { childrenOf, contentOf, oidOf, readElement, type DerElement } from './der.js';

/** A certificate with the raw fields the SGX checks compare. */
export interface ParsedCertificate {
  x509: X509Certificate;
  /** The serial's content bytes without leading zeros, lower-case hex. */
  serial: string;
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  /** Extension values (the OCTET STRING contents) by OID. */
  extensions: Map<string, Uint8Array>;
}

/** The certificates of a PEM bundle, in order, or a reason when one of them is not a certificate. */
export function certificatesFromPem(pem: string): ParsedCertificate[] | { error: string } {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return { error: 'no PEM certificate found' };
  const certificates: ParsedCertificate[] = [];
  for (const [index, block] of blocks.entries()) {
    const parsed = parseCertificate(block);
    if (parsed === null) return { error: `certificate ${index} of the PEM bundle does not parse` };
    certificates.push(parsed);
  }
  return certificates;
}

/** Parses one PEM or DER certificate, or null when it is not one. */
export function parseCertificate(source: string | Uint8Array): ParsedCertificate | null {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(source);
  } catch {
    return null;
  }
  const der = new Uint8Array(x509.raw);
  const fields = tbsFieldsOf(der);
  return fields === null ? null : { x509, ...fields };
}

/** SHA-256 of a certificate's DER, lower-case hex, as vendors publish root fingerprints. */
export function fingerprintOf(certificate: ParsedCertificate): string {
  return certificate.x509.fingerprint256.replace(/:/g, '').toLowerCase();
}

/** Strips an INTEGER's sign-padding zeros so serials compare by value. */
export function serialHex(content: Uint8Array): string {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start += 1;
  return Buffer.from(content.subarray(start)).toString('hex');
}

function tbsFieldsOf(der: Uint8Array): Omit<ParsedCertificate, 'x509'> | null {
  const certificate = readElement(der, 0);
  const parts = certificate && childrenOf(der, certificate);
  const tbs = parts?.[0] && childrenOf(der, parts[0]);
  if (!tbs) return null;
  // An explicit [0] version comes first in v3 certificates; without it every index shifts by one.
  const fields = tbs[0]?.tag === 0xa0 ? tbs.slice(1) : tbs;
  const [serial, , issuer, , subject] = fields;
  if (!serial || !issuer || !subject) return null;
  const extensions = new Map<string, Uint8Array>();
  const holder = fields.find((field) => field.tag === 0xa3);
  if (holder) {
    const list = childrenOf(der, holder)?.[0];
    for (const extension of (list && childrenOf(der, list)) ?? []) {
      const entry = childrenOf(der, extension);
      const value = entry?.[entry.length - 1];
      if (!entry || entry[0].tag !== 0x06 || value?.tag !== 0x04) return null;
      extensions.set(oidOf(der, entry[0]), contentOf(der, value));
    }
  }
  return { serial: serialHex(contentOf(der, serial)), issuerDer: whole(der, issuer), subjectDer: whole(der, subject), extensions };
}

function whole(der: Uint8Array, element: DerElement): Uint8Array {
  return der.subarray(element.start, element.end);
}
