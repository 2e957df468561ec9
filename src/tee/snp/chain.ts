/**
 * The certificate path from an endorsement key to AMD's root: VCEK ← ASK ← ARK, or VLEK ← ASVK ←
 * ARK (publication 57230 §2). AMD signs both links with RSASSA-PSS SHA-384, which node:crypto's
 * X509Certificate.verify checks from the algorithm parameters in each certificate.
 */

import { X509Certificate } from 'node:crypto';
import { commonName, productOfName } from './endorsement-key.js';
import { AMD_ROOT_KEYS, type SnpProduct } from './roots.js';
import { AMD_SIGNING_KEYS } from './signing-keys.js';

/** A path from the leaf to a root; `ark` is the one the caller gave, or the pinned one where it gave none. */
export interface CertificatePath {
  leaf: X509Certificate;
  ask: X509Certificate;
  ark: X509Certificate;
}

/** Splits PEM text into certificates, or says which block does not parse. */
export function readChain(pem: string): { ok: true; certificates: X509Certificate[] } | { ok: false; reason: string } {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return { ok: false, reason: 'the chain holds no PEM certificate' };
  const certificates: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      certificates.push(new X509Certificate(block));
    } catch (error) {
      return { ok: false, reason: `certificate ${index + 1} of the chain does not parse (${(error as Error).message})` };
    }
  }
  return { ok: true, certificates };
}

/**
 * Finds the leaf's ASK (or ASVK) and ARK by subject name: first among the certificates given, then
 * among AMD's signing keys and pinned roots shipped here; or says which link is missing.
 */
export function buildPath(leaf: X509Certificate, given: X509Certificate[]): { ok: true; path: CertificatePath } | { ok: false; reason: string } {
  const issuerName = commonName(leaf.issuer);
  const ask = given.find((candidate) => candidate.subject === leaf.issuer) ?? (given.length === 0 ? shippedSigningKey(issuerName) : undefined);
  if (ask === undefined) return { ok: false, reason: `no certificate in the chain is the endorsement key's issuer ${issuerName ?? '(no CN)'}` };
  const arkName = commonName(ask.issuer);
  const ark = given.find((candidate) => candidate.subject === ask.issuer && candidate !== ask) ?? pinnedRoot(productOfName(arkName));
  if (ark === undefined) return { ok: false, reason: `${commonName(ask.subject) ?? 'the signing key'} is issued by ${arkName ?? '(no CN)'}, which is not an AMD root` };
  return { ok: true, path: { leaf, ask, ark } };
}

/** Checks each link's issuer name and signature, the ARK's self-signature and the CA flags; null when all hold, else what failed. */
export function verifyPath(path: CertificatePath): string | null {
  try {
    return verifyLinks(path);
  } catch (error) {
    // node:crypto decodes each public key on first use and throws on a malformed one.
    return `a certificate of the chain has an unreadable key (${(error as Error).message})`;
  }
}

function verifyLinks({ leaf, ask, ark }: CertificatePath): string | null {
  const askName = commonName(ask.subject) ?? 'the signing key';
  const arkName = commonName(ark.subject) ?? 'the root';
  if (!leaf.checkIssued(ask) || !leaf.verify(ask.publicKey)) return `the endorsement key's signature does not verify with ${askName}`;
  if (!ask.ca) return `${askName} is not a CA certificate`;
  if (!ask.checkIssued(ark) || !ask.verify(ark.publicKey)) return `${askName}'s signature does not verify with ${arkName}`;
  if (!ark.ca || !ark.checkIssued(ark) || !ark.verify(ark.publicKey)) return `${arkName} is not a self-signed CA certificate`;
  return null;
}

/** The product whose pinned ARK this certificate is, by SHA-256 fingerprint, or null. */
export function pinnedProductOf(ark: X509Certificate): SnpProduct | null {
  const entry = Object.entries(AMD_ROOT_KEYS).find(([, root]) => root.fingerprint256 === ark.fingerprint256);
  return entry === undefined ? null : (entry[0] as SnpProduct);
}

/** The first certificate of the path not valid at `at`, described, or null when all are. */
export function firstInvalidAt(path: CertificatePath, at: Date): string | null {
  for (const [role, certificate] of [['endorsement key', path.leaf], ['ASK', path.ask], ['ARK', path.ark]] as const) {
    const from = new Date(certificate.validFrom);
    const to = new Date(certificate.validTo);
    const name = commonName(certificate.subject) ?? '';
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) return `the ${role} ${name} has an unreadable validity period`;
    if (at < from || at > to) return `the ${role} ${name} is valid ${from.toISOString()} to ${to.toISOString()}, not at ${at.toISOString()}`;
  }
  return null;
}

function shippedSigningKey(name: string | null): X509Certificate | undefined {
  // An issuer name comes from the certificate under test: look it up as an own key only.
  return name !== null && Object.hasOwn(AMD_SIGNING_KEYS, name) ? new X509Certificate(AMD_SIGNING_KEYS[name]) : undefined;
}

function pinnedRoot(product: SnpProduct | null): X509Certificate | undefined {
  return product === null ? undefined : new X509Certificate(AMD_ROOT_KEYS[product].pem);
}
