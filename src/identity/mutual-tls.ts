import { createHash } from 'node:crypto';
import type { ConnectionOptions, PeerCertificate, TlsOptions } from 'node:tls';
import { AuthError } from './errors.js';
import type { ParticipantKit, ServerKit } from './startup-kit.js';

/**
 * Mutual TLS between the coordinator and participants: both sides trust only the job's CA, the
 * server demands a client certificate, and the application maps that certificate to a participant
 * through the registry's pinned fingerprint (a certificate the CA issued is not enough: it must be
 * the one provisioned for that id, and the id must not be revoked).
 */

/** node:tls / node:https server options from the server kit: TLS 1.3 only, a client certificate from the job's CA required. */
export function tlsOptionsForServer(kit: ServerKit): TlsOptions {
  return { ca: kit.caCertificate, cert: kit.certificate, key: kit.privateKey, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' };
}

/** node:tls / node:https client options from a participant's kit: TLS 1.3 only, the coordinator must present a certificate from the job's CA. */
export function tlsOptionsForClient(kit: ParticipantKit): ConnectionOptions {
  return { ca: kit.caCertificate, cert: kit.certificate, key: kit.tlsPrivateKey, rejectUnauthorized: true, minVersion: 'TLSv1.3' };
}

/** The certificate fields this check reads; `socket.getPeerCertificate()` gives them, or `{}` when the peer sent none. */
export type PeerCertificateFields = Partial<Pick<PeerCertificate, 'raw' | 'subject'>>;

/** The id of the participant a verified TLS peer certificate belongs to; throws AuthError when there is none, it is not the registered one, or the id is revoked. */
export function participantOfCertificate(peer: PeerCertificateFields, kit: ServerKit): string {
  if (!peer.raw || peer.raw.length === 0) {
    throw new AuthError('AUTH_NO_CERTIFICATE', 'the connection has no client certificate; connect with the TLS certificate and key of your startup kit');
  }
  const id = peer.subject?.CN;
  const registered = typeof id === 'string' ? kit.participants.get(id) : undefined;
  if (typeof id !== 'string' || !registered) {
    throw new AuthError('AUTH_UNKNOWN_PARTICIPANT', `the client certificate names '${String(id)}', which is not a participant of this job; use the kit provisioned for you`, { id });
  }
  const fingerprint = createHash('sha256').update(peer.raw).digest('hex');
  if (fingerprint !== registered.certificateFingerprint) {
    throw new AuthError('AUTH_CERTIFICATE_MISMATCH', `the client certificate for '${id}' is not the one provisioned for it; use the kit of the current provisioning`, {
      id,
      fingerprint,
    });
  }
  if (kit.revoked.has(id)) throw new AuthError('AUTH_REVOKED', `participant '${id}' has been revoked from this job; ask the job's operator`, { id });
  return id;
}
