import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { generateCurveKeyPair } from '../core/index.js';

/**
 * A participant's Ed25519 message-signing key (RFC 8032). The private half is PKCS#8 PEM in the
 * participant's kit; the public half travels as its 32 raw bytes in base64url, which is exactly the
 * `x` member of its RFC 8037 JWK, so it imports without DER.
 */

/** An Ed25519 key pair as the kits store it. */
export interface SigningKeyPair {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** The raw 32-byte public key in base64url without padding (43 characters). */
  publicKey: string;
}

// 32 bytes are 43 base64url characters whose last one carries 4 bits, its low 2 zero: only the canonical spelling of a
// key is its name. OpenSSL imports any 32 bytes as an Ed25519 public key (RFC 8032 §5.1.5 decodes a point when
// verifying, not when importing), so the pattern is the whole check and needs no KeyObject.
const SIGNING_PUBLIC_KEY_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** A fresh Ed25519 key pair. */
export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateCurveKeyPair('ed25519');
  return { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey: publicKeyText(publicKey) };
}

/** The base64url text of an Ed25519 public (or private) key's public half. */
export function publicKeyText(key: KeyObject): string {
  return (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }).x ?? '';
}

/** The Ed25519 private key in a PEM, or undefined when the text is not one. */
export function signingPrivateKey(pem: string): KeyObject | undefined {
  try {
    const key = createPrivateKey(pem);
    return key.asymmetricKeyType === 'ed25519' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `text` is an Ed25519 public key in canonical base64url: what a roster of thousands checks per entry without importing each key. */
export function isSigningPublicKeyText(text: string): boolean {
  return SIGNING_PUBLIC_KEY_PATTERN.test(text);
}

/** The Ed25519 public key whose base64url text is given, or undefined when the text is not one. */
export function signingPublicKey(text: string): KeyObject | undefined {
  if (!isSigningPublicKeyText(text)) return undefined;
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: text }, format: 'jwk' });
  } catch {
    return undefined;
  }
}
