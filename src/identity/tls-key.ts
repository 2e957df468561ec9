import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { generateEcdsaCryptoKeyPair } from '../core/index.js';

// @peculiar/x509 1.14 imports reflect-metadata itself, so only the crypto provider needs setting.
x509.cryptoProvider.set(webcrypto);

/**
 * TLS keys: ECDSA P-256 with SHA-256 everywhere (certificates, requests, handshakes), because
 * Node's TLS 1.3 and every browser accept it. Keys are WebCrypto keys (made by ECDH and imported) so @peculiar/x509 can
 * sign certificates and certificate requests with them.
 */

/** The one TLS key and signature algorithm of a job. */
export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A fresh, exportable ECDSA P-256 key pair. */
export async function generateTlsKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return generateEcdsaCryptoKeyPair('P-256');
}

/** A private key as PKCS#8 PEM, the form kits and key files store. */
export async function tlsPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}
