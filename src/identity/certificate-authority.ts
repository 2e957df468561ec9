import { X509Certificate as NodeX509Certificate, createHash, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { ECDSA_P256, generateTlsKeyPair, tlsPrivateKeyPem } from './tls-key.js';

/**
 * A per-job certificate authority for mutual TLS (RFC 5280 profile), ECDSA P-256 (tls-key.ts). The
 * CA's private key exists only in this object's memory: once a job is provisioned nobody can mint
 * another certificate it trusts. It makes the coordinator's key itself, but certifies the keys that
 * participants made on their own hosts (their certificate requests), whose private halves it never sees.
 */

// Certificates start a little in the past so a participant whose clock runs slow can still use one.
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** An issued certificate, PEM. */
export interface IssuedCertificate {
  certificatePem: string;
  /** sha256 of the certificate's DER, lowercase hex: what a registry pins. */
  fingerprint: string;
}

/** A certificate and the PKCS#8 private key of its subject, both PEM. */
export interface CertifiedKey extends IssuedCertificate {
  privateKeyPem: string;
}

/** Options of `CertificateAuthority.create`. */
export interface CreateCertificateAuthorityParameters {
  /** The CA's common name, e.g. `Cipher Nexus job CA`. */
  commonName: string;
  validDays: number;
  /** Issue time, for tests; default now. */
  now?: Date;
}

/** sha256 of a certificate's DER as lowercase hex; takes PEM text or raw DER bytes. */
export function certificateFingerprint(certificate: string | Uint8Array): string {
  const der = typeof certificate === 'string' ? new NodeX509Certificate(certificate).raw : certificate;
  return createHash('sha256').update(der).digest('hex');
}

// RFC 5280 §4.1.2.2: a positive integer of at most 20 octets; 16 random bytes with the top bit clear and the next one
// set, so the first octet is never zero (a zero first octet is dropped in DER and the serial would shrink).
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** A certificate authority that signs one job's server and participant certificates. */
export class CertificateAuthority {
  private constructor(
    private readonly certificate: x509.X509Certificate,
    private readonly signingKey: webcrypto.CryptoKey,
    private readonly issuedAt: Date,
  ) {}

  /** A fresh self-signed CA (basic constraints CA, path length 0, key usage keyCertSign). */
  static async create(parameters: CreateCertificateAuthorityParameters): Promise<CertificateAuthority> {
    const now = parameters.now ?? new Date();
    const keys = await generateTlsKeyPair();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: [{ CN: [parameters.commonName] }],
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + parameters.validDays * DAY_MS),
      signingAlgorithm: ECDSA_P256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(certificate, keys.privateKey, now);
  }

  /** The CA certificate, PEM: every party's trust anchor. */
  get certificatePem(): string {
    return this.certificate.toString('pem');
  }

  /** sha256 of the CA certificate's DER, lowercase hex, for comparing out of band. */
  get fingerprint(): string {
    return certificateFingerprint(new Uint8Array(this.certificate.rawData));
  }

  /** An ECDSA P-256 signature (SHA-256, IEEE P1363 r || s) by the CA's key over `data`: for statements beside certificates, such as the roster. */
  async signStatement(data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, this.signingKey, data));
  }

  /** A fresh key and a TLS server certificate for it whose subject alternative names are `hosts` (IP addresses as IP names, the rest as DNS names). */
  async issueServerCertificate(hosts: readonly string[], validDays: number): Promise<CertifiedKey> {
    const keys = await generateTlsKeyPair();
    const names = [...new Set(hosts)].map((host): x509.JsonGeneralName => ({ type: isIP(host) ? 'ip' : 'dns', value: host }));
    const issued = await this.issue(hosts[0], keys.publicKey, validDays, x509.ExtendedKeyUsage.serverAuth, [new x509.SubjectAlternativeNameExtension(names)]);
    return { ...issued, privateKeyPem: await tlsPrivateKeyPem(keys.privateKey) };
  }

  /** A TLS client certificate for a participant's own public key (from its verified certificate request), whose common name is the participant's id. */
  async issueParticipantCertificate(participantId: string, publicKey: x509.PublicKey, validDays: number): Promise<IssuedCertificate> {
    return this.issue(participantId, publicKey, validDays, x509.ExtendedKeyUsage.clientAuth, []);
  }

  private async issue(commonName: string, publicKey: x509.PublicKey | webcrypto.CryptoKey, validDays: number, usage: x509.ExtendedKeyUsage, extra: x509.Extension[]): Promise<IssuedCertificate> {
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: [{ CN: [commonName] }],
      issuer: this.certificate.subjectName,
      notBefore: new Date(this.issuedAt.getTime() - BACKDATE_MS),
      notAfter: new Date(this.issuedAt.getTime() + validDays * DAY_MS),
      signingAlgorithm: ECDSA_P256,
      publicKey,
      signingKey: this.signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // TLS 1.3 with an ECDSA key signs the handshake: digitalSignature is the only usage needed.
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([usage]),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
        ...extra,
      ],
    });
    return {
      certificatePem: certificate.toString('pem'),
      fingerprint: certificateFingerprint(new Uint8Array(certificate.rawData)),
    };
  }
}
