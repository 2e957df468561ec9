import { createECDH, createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { InvalidInputError } from './errors.js';

/** RFC 8410 PKCS#8 private keys of these curves: the DER that comes before the 32 secret bytes. */
const PKCS8_PREFIX = {
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
} as const;

/** The curves `generateCurveKeyPair` makes keys on: signatures (Ed25519) and key agreement (X25519). */
export type Curve = keyof typeof PKCS8_PREFIX;

/**
 * A fresh Ed25519 or X25519 key pair from 32 random bytes (any 32 bytes are a secret key of either curve, RFC 8032 and
 * RFC 7748). Not `generateKeyPairSync`: Node 20 ties such a key to its key-generation job, whose destructor takes the
 * key's lock, and exporting the key holds that lock while it allocates; a garbage collection started by that
 * allocation that destroys the job deadlocks the process. Seen in CI: a test worker hung for good in
 * `KeyObject.export({ format: 'jwk' })` under `~KeyGenJob` (gdb).
 */
export function generateCurveKeyPair(curve: Curve): { privateKey: KeyObject; publicKey: KeyObject } {
  const secret = randomBytes(32);
  try {
    return curveKeyPair(curve, secret);
  } finally {
    secret.fill(0);
  }
}

/** The key pair of 32 secret bytes on `curve` (the RFC 8032 seed of an Ed25519 key, the RFC 7748 scalar of an X25519 one). */
export function curveKeyPair(curve: Curve, secret: Uint8Array): { privateKey: KeyObject; publicKey: KeyObject } {
  if (secret.byteLength !== 32) throw new InvalidInputError('KEY_SECRET_INVALID', `an ${curve} secret key is 32 bytes; got ${secret.byteLength}`, { curve, bytes: secret.byteLength });
  const der = Buffer.concat([PKCS8_PREFIX[curve], secret]);
  try {
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    return { privateKey, publicKey: createPublicKey(privateKey) };
  } finally {
    der.fill(0);
  }
}

/** NIST curves `generateEcKeyPair` makes keys on, with OpenSSL's name and the bytes of a coordinate. */
const EC_CURVES = { 'P-256': { openssl: 'prime256v1', bytes: 32 }, 'P-384': { openssl: 'secp384r1', bytes: 48 } } as const;

/** The NIST curves of TLS (P-256) and of enclave evidence (P-384). */
export type EcCurve = keyof typeof EC_CURVES;

/** A fresh P-256 or P-384 key pair, made by ECDH and imported rather than by `generateKeyPairSync` (see generateCurveKeyPair). */
export function generateEcKeyPair(curve: EcCurve): { privateKey: KeyObject; publicKey: KeyObject } {
  const { openssl, bytes } = EC_CURVES[curve];
  const ecdh = createECDH(openssl);
  const point = ecdh.generateKeys();
  const coordinate = (from: number): string => point.subarray(from, from + bytes).toString('base64url');
  // JWK wants the scalar at the curve's full width, with its leading zeros.
  const scalar = ecdh.getPrivateKey();
  const d = Buffer.concat([Buffer.alloc(bytes - scalar.length), scalar]);
  try {
    const privateKey = createPrivateKey({ key: { kty: 'EC', crv: curve, d: d.toString('base64url'), x: coordinate(1), y: coordinate(1 + bytes) }, format: 'jwk' });
    return { privateKey, publicKey: createPublicKey(privateKey) };
  } finally {
    d.fill(0);
    scalar.fill(0);
  }
}

/**
 * A fresh, exportable ECDSA key pair as WebCrypto keys (for signing certificates), made by `generateEcKeyPair` and
 * imported: a key from `subtle.generateKey` stays tied to its key-generation job as well.
 */
export async function generateEcdsaCryptoKeyPair(curve: EcCurve): Promise<webcrypto.CryptoKeyPair> {
  const { privateKey, publicKey } = generateEcKeyPair(curve);
  const algorithm = { name: 'ECDSA', namedCurve: curve };
  return {
    privateKey: await webcrypto.subtle.importKey('jwk', privateKey.export({ format: 'jwk' }), algorithm, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('jwk', publicKey.export({ format: 'jwk' }), algorithm, true, ['verify']),
  };
}
