import { X509Certificate, verify } from 'node:crypto';
import { canonicalJson } from '../core/index.js';
import type { CertificateAuthority } from './certificate-authority.js';
import type { Roster } from './startup-kit.js';

// A domain string in the signed bytes keeps the CA's signature on a roster from passing for any other statement.
const signedBytes = (participants: Record<string, string>): Uint8Array => new TextEncoder().encode(canonicalJson({ roster: 'cipher-nexus/roster/v1', participants }));

/** Signs the roster of `participants` (id → signing public key, base64url) with the job's CA. */
export async function signRoster(ca: CertificateAuthority, participants: Record<string, string>): Promise<Roster> {
  const signature = await ca.signStatement(signedBytes(participants));
  return { participants: { ...participants }, signature: Buffer.from(signature).toString('base64url') };
}

/** Whether `roster` carries a valid signature of the CA whose certificate is `caCertificatePem`. */
export function rosterSignedBy(roster: Roster, caCertificatePem: string): boolean {
  const key = new X509Certificate(caCertificatePem).publicKey;
  return verify('sha256', signedBytes(roster.participants), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(roster.signature, 'base64url'));
}

/** The roster's signing keys as raw 32-byte Ed25519 keys, by participant id. */
export function rosterKeys(roster: Roster): Map<string, Uint8Array> {
  return new Map(Object.entries(roster.participants).map(([id, key]) => [id, new Uint8Array(Buffer.from(key, 'base64url'))]));
}
