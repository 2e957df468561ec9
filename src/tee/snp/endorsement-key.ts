/**
 * The endorsement key certificate — a VCEK (one chip, one TCB) or a VLEK (one cloud provider) —
 * and the AMD extensions it carries, as AMD's "Versioned Chip Endorsement Key (VCEK) Certificate
 * and KDS Interface Specification" (publication 57230) §3 lists them.
 */

import { X509Certificate, type KeyObject } from 'node:crypto';
import { X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import type { SnpProduct } from './roots.js';
import type { SnpSigningKey, SnpTcb } from './report.js';

/** AMD's certificate extension OIDs (publication 57230, Table 8). */
const OID = {
  productName: '1.3.6.1.4.1.3704.1.2',
  bootloader: '1.3.6.1.4.1.3704.1.3.1',
  tee: '1.3.6.1.4.1.3704.1.3.2',
  snp: '1.3.6.1.4.1.3704.1.3.3',
  microcode: '1.3.6.1.4.1.3704.1.3.8',
  fmc: '1.3.6.1.4.1.3704.1.3.9',
  hwid: '1.3.6.1.4.1.3704.1.4',
} as const;

/** An endorsement key certificate with the AMD extensions read out. */
export interface EndorsementKey {
  certificate: X509Certificate;
  publicKey: KeyObject;
  /** `vcek` or `vlek`, from the subject's common name. */
  kind: SnpSigningKey | null;
  /** The product named by the issuer (`SEV-Milan`, `SEV-VLEK-Genoa`, ...), or null. */
  issuerProduct: SnpProduct | null;
  /** The hwID extension's bytes (the chip id, 64 bytes, or 8 on Turin), or null where absent (VLEKs). */
  hwid: Uint8Array | null;
  /** The extensions' TCB levels by component; a component missing from the certificate is absent here. */
  tcb: Partial<SnpTcb>;
}

/** Reads a VCEK or VLEK from DER or PEM bytes, or says why they are not one. */
export function readEndorsementKey(input: Uint8Array | string): { ok: true; key: EndorsementKey } | { ok: false; reason: string } {
  let certificate: X509Certificate;
  let publicKey: KeyObject;
  let extensions: PeculiarCertificate['extensions'];
  try {
    certificate = new X509Certificate(typeof input === 'string' ? input : Buffer.from(input));
    // The key is decoded lazily by node:crypto and throws on a malformed one: read it here.
    publicKey = certificate.publicKey;
    extensions = new PeculiarCertificate(certificate.raw).extensions;
  } catch (error) {
    return { ok: false, reason: `the VCEK/VLEK is not an X.509 certificate in DER or PEM (${(error as Error).message})` };
  }
  const extension = (oid: string): Uint8Array | null => {
    const found = extensions.find((candidate) => candidate.type === oid);
    return found === undefined ? null : new Uint8Array(found.value);
  };
  const tcb: Partial<SnpTcb> = {};
  for (const component of ['fmc', 'bootloader', 'tee', 'snp', 'microcode'] as const) {
    const value = extension(OID[component]);
    const level = value === null ? null : derInteger(value);
    if (level !== null) tcb[component] = level;
  }
  const hwid = extension(OID.hwid);
  return {
    ok: true,
    key: {
      certificate,
      publicKey,
      kind: kindOf(commonName(certificate.subject)),
      issuerProduct: productOfName(commonName(certificate.issuer)),
      hwid: hwid === null ? null : unwrapHwid(hwid),
      tcb,
    },
  };
}

/** The CN of a node:crypto distinguished name (one attribute per line). */
export function commonName(name: string): string | null {
  return /^CN=(.*)$/m.exec(name)?.[1] ?? null;
}

/** The product a signing or root key's common name ends in: `SEV-Milan`, `SEV-VLEK-Turin`, `ARK-Genoa`. */
export function productOfName(name: string | null): SnpProduct | null {
  const product = /^(?:SEV|SEV-VLEK|ARK)-(Milan|Genoa|Turin)$/.exec(name ?? '')?.[1];
  return product === undefined ? null : (product as SnpProduct);
}

function kindOf(subjectCommonName: string | null): SnpSigningKey | null {
  if (subjectCommonName === 'SEV-VCEK') return 'vcek';
  if (subjectCommonName === 'SEV-VLEK') return 'vlek';
  return null;
}

/**
 * AMD's KDS has issued the hwID extension both as the raw chip id and wrapped in a DER OCTET
 * STRING; the lengths tell them apart (64 or 8 raw, 66 or 10 wrapped).
 */
function unwrapHwid(value: Uint8Array): Uint8Array {
  const wrapped = value.length >= 2 && value[0] === 0x04 && value[1] === value.length - 2 && (value.length === 66 || value.length === 10);
  return wrapped ? value.subarray(2) : value;
}

/** A small non-negative DER INTEGER (the TCB extensions are one or two bytes), or null. */
function derInteger(value: Uint8Array): number | null {
  const length = value[1];
  if (value[0] !== 0x02 || length === undefined || length < 1 || length > 4 || value.length !== 2 + length) return null;
  let result = 0;
  for (const byte of value.subarray(2)) result = result * 256 + byte;
  // A leading 0x80 bit would make the integer negative: not a patch level.
  return (value[2] ?? 0) & 0x80 ? null : result;
}
