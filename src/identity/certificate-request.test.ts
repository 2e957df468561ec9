import { createHash, createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateRequest, signingProofMessage, verifyCertificateRequests } from './certificate-request.js';
import { generateSigningKeyPair, signingPublicKey } from './signing-key.js';
import { generateTlsKeyPair } from './tls-key.js';

// Forged and malformed requests are refused by provision: see provision.test.ts.

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-request-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('signingProofMessage', () => {
  it('is the domain, the id and the hex sha256 of the CSR DER, NUL-separated', () => {
    // sha256 of the bytes 01 02 03 (FIPS 180-4 SHA-256 of a 3-byte message).
    expect(createHash('sha256').update(Uint8Array.of(1, 2, 3)).digest('hex')).toBe('039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81');
    expect(signingProofMessage('alice', Uint8Array.of(1, 2, 3)).toString()).toBe(
      'cipher-nexus certificate request v1\x00alice\x00039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81',
    );
  });
});

describe('createCertificateRequest', () => {
  it('makes a CSR signed by the TLS key and a proof by the signing key over the id and that CSR; the checks accept it, in order', async () => {
    const signing = generateSigningKeyPair();
    const request = await createCertificateRequest('alice', await generateTlsKeyPair(), signing);
    const csr = new x509.Pkcs10CertificateRequest(request.csr);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('CN=alice');
    const key = signingPublicKey(request.signingPublicKey);
    expect(key && verify(null, signingProofMessage('alice', new Uint8Array(csr.rawData)), key, Buffer.from(request.signingProof, 'base64url'))).toBe(true);
    expect(createPublicKey(signing.privateKeyPem).export({ format: 'jwk' }).x).toBe(request.signingPublicKey);

    const other = await createCertificateRequest('bob', await generateTlsKeyPair(), generateSigningKeyPair());
    const files = [join(dir, 'bob.req.json'), join(dir, 'alice.req.json')];
    writeFileSync(files[0], JSON.stringify(other));
    writeFileSync(files[1], JSON.stringify(request));
    const verified = await verifyCertificateRequests(files);
    expect(verified.map((v) => [v.participantId, v.file])).toEqual([
      ['bob', files[0]],
      ['alice', files[1]],
    ]);
    expect(verified[1].sha256).toBe(createHash('sha256').update(JSON.stringify(request)).digest('hex'));
  });
});
