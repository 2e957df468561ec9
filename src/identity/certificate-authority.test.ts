import { KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, certificateFingerprint } from './certificate-authority.js';
import { generateTlsKeyPair } from './tls-key.js';

describe('CertificateAuthority', () => {
  it('issues P-256 certificates that chain to it, with distinct positive serials and a validity from five minutes before issue', async () => {
    const now = new Date('2026-03-01T12:00:00.000Z');
    const ca = await CertificateAuthority.create({ commonName: 'test CA', validDays: 10, now });
    const server = await ca.issueServerCertificate(['coordinator.test', '127.0.0.1', 'coordinator.test'], 10);
    // A participant's key is its own: the CA certifies the public half and never sees the private one.
    const aliceKeys = await generateTlsKeyPair();
    const client = await ca.issueParticipantCertificate('alice', await x509.PublicKey.create(aliceKeys.publicKey), 10);
    expect(client).not.toHaveProperty('privateKeyPem');
    const root = new X509Certificate(ca.certificatePem);
    expect(root.ca).toBe(true);
    expect(root.subject).toBe('CN=test CA');
    for (const [issued, privateKey] of [
      [server, createPrivateKey(server.privateKeyPem)],
      [client, KeyObject.from(aliceKeys.privateKey)],
    ] as const) {
      const certificate = new X509Certificate(issued.certificatePem);
      expect(certificate.checkIssued(root) && certificate.verify(root.publicKey)).toBe(true);
      expect(certificate.checkPrivateKey(privateKey)).toBe(true);
      expect(issued.fingerprint).toBe(certificateFingerprint(issued.certificatePem));
      expect(issued.fingerprint).toBe(certificateFingerprint(new Uint8Array(certificate.raw)));
      expect(new Date(certificate.validFrom).toISOString()).toBe('2026-03-01T11:55:00.000Z');
      expect(new Date(certificate.validTo).toISOString()).toBe('2026-03-11T12:00:00.000Z');
      expect(Number.parseInt(certificate.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
    }
    expect(new X509Certificate(server.certificatePem).serialNumber).not.toBe(new X509Certificate(client.certificatePem).serialNumber);
    expect(new X509Certificate(server.certificatePem).subjectAltName).toBe('DNS:coordinator.test, IP Address:127.0.0.1');
    expect(new X509Certificate(client.certificatePem).subject).toBe('CN=alice');
    const leaf = new x509.X509Certificate(client.certificatePem);
    expect(leaf.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(leaf.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(ca.fingerprint).toBe(certificateFingerprint(ca.certificatePem));
  });
});
