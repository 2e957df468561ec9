import { X509Certificate as NodeX509Certificate, createHash, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 1.14 imports reflect-metadata itself, so only the crypto provider needs setting.
x509.cryptoProvider.set(webcrypto);

/**
 * A per-job certificate authority for mutual TLS (RFC 5280 profile): ECDSA P-256 with SHA-256
 * everywhere, because Node's TLS 1.3 and every browser accept it. The CA's private key exists only
 * in this object's memory: once a job is provisioned nobody can mint another certificate it trusts.
 */

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
// Certificates start a little in the past so a participant whose clock runs slow can still use one.
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** A certificate and the PKCS#8 private key of its subject, both PEM. */
export interface CertifiedKey {
  certificatePem: string;
  privateKeyPem: string;
  /** sha256 of the certificate's DER, lowercase hex: what a registry pins. */
  fingerprint: string;
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

// RFC 5280 §4.1.2.2: a positive integer of at most 20 octets; 16 random bytes with the top bit clear.
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return bytes.toString('hex');
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
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
    const keys = await generateKeys();
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

  /** A TLS server certificate whose subject alternative names are `hosts` (IP addresses as IP names, the rest as DNS names). */
  async issueServerCertificate(hosts: readonly string[], validDays: number): Promise<CertifiedKey> {
    const names = [...new Set(hosts)].map((host): x509.JsonGeneralName => ({ type: isIP(host) ? 'ip' : 'dns', value: host }));
    return this.issue(hosts[0], validDays, x509.ExtendedKeyUsage.serverAuth, [new x509.SubjectAlternativeNameExtension(names)]);
  }

  /** A TLS client certificate whose common name is the participant's id. */
  async issueParticipantCertificate(participantId: string, validDays: number): Promise<CertifiedKey> {
    return this.issue(participantId, validDays, x509.ExtendedKeyUsage.clientAuth, []);
  }

  private async issue(commonName: string, validDays: number, usage: x509.ExtendedKeyUsage, extra: x509.Extension[]): Promise<CertifiedKey> {
    const keys = await generateKeys();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: [{ CN: [commonName] }],
      issuer: this.certificate.subjectName,
      notBefore: new Date(this.issuedAt.getTime() - BACKDATE_MS),
      notAfter: new Date(this.issuedAt.getTime() + validDays * DAY_MS),
      signingAlgorithm: ECDSA_P256,
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // TLS 1.3 with an ECDSA key signs the handshake: digitalSignature is the only usage needed.
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([usage]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
        ...extra,
      ],
    });
    return {
      certificatePem: certificate.toString('pem'),
      privateKeyPem: await privateKeyPem(keys.privateKey),
      fingerprint: certificateFingerprint(new Uint8Array(certificate.rawData)),
    };
  }
}
