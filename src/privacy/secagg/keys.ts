import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { generateCurveKeyPair } from '../../core/index.js';
import { SecAggMessageRejectedError } from './errors.js';

/**
 * Key agreement and signatures of Bonawitz et al. 2017 §3.2 and §3.5: X25519 (RFC 7748) for the two
 * per-round key pairs each client advertises, Ed25519 (RFC 8032) for the long-term identity key that
 * signs them, whose public half the server and the clients learn out of band (registration, §3.6 PKI).
 */

// DER prefix of an RFC 8410 PKCS#8 X25519 key around its 32 raw bytes: a Buffer, unlike a JWK string, can be wiped.
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** Bytes of an X25519 or Ed25519 public key, and of an X25519 secret key. */
export const KEY_BYTES = 32;
/** Bytes of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64;

/** A client's long-term Ed25519 identity: the private key stays with the client, the public key is registered. */
export interface IdentityKeyPair {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

/** A fresh Ed25519 identity key pair. */
export function generateIdentity(): IdentityKeyPair {
  const { privateKey, publicKey } = generateCurveKeyPair('ed25519');
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

function rawPublicKey(key: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url'));
}

/** Ed25519 signature of `data`. */
export function signTranscript(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, privateKey));
}

// Public keys are used many times a round (identity keys, a neighbour's c_v^PK in rounds 1 and 2):
// keep OpenSSL's parsed key per byte array, for as long as the array lives.
const publicKeyObjects = { ed25519: new WeakMap<Uint8Array, KeyObject>(), x25519: new WeakMap<Uint8Array, KeyObject>() };

function publicKeyObject(raw: Uint8Array, kind: 'ed25519' | 'x25519'): KeyObject {
  let key = publicKeyObjects[kind].get(raw);
  if (!key) {
    // JWK import is about 10x faster than DER through OpenSSL 3's decoders; a public key has nothing to wipe.
    const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
    key = createPublicKey({ key: { kty: 'OKP', crv: kind === 'ed25519' ? 'Ed25519' : 'X25519', x }, format: 'jwk' });
    publicKeyObjects[kind].set(raw, key);
  }
  return key;
}

/** Whether `signature` is a valid Ed25519 signature of `data` under the raw public key (false for malformed keys). */
export function verifyTranscript(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, data, publicKeyObject(publicKey, 'ed25519'), signature);
  } catch {
    return false;
  }
}

/**
 * An X25519 key pair. The secret half is kept as raw bytes, so that it can be Shamir-shared and wiped,
 * and once as OpenSSL's key object for the many agreements of a round; JavaScript cannot wipe the
 * latter, which is freed when the pair is dropped.
 */
export interface AgreementKeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

/** OpenSSL's key object of raw X25519 secret bytes; the DER copy is wiped (the KeyObject itself cannot be). */
function privateKeyObject(secretKey: Uint8Array): KeyObject {
  const der = Buffer.concat([X25519_PKCS8, secretKey]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

/** The X25519 key pair of raw secret bytes (RFC 7748 §6.1: any 32 bytes are a secret key). */
export function agreementKeyPair(secretKey: Uint8Array): AgreementKeyPair {
  const privateKey = privateKeyObject(secretKey);
  return { secretKey, publicKey: rawPublicKey(createPublicKey(privateKey)), privateKey };
}

/** A fresh X25519 key pair. */
export function generateAgreementKeyPair(): AgreementKeyPair {
  return agreementKeyPair(new Uint8Array(randomBytes(KEY_BYTES)));
}

/** X25519(own secret, peer public); refuses a peer key of small order, whose shared secret would be all zeros (RFC 7748 §6.1). */
export function agree(own: AgreementKeyPair, publicKey: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = new Uint8Array(diffieHellman({ privateKey: own.privateKey, publicKey: publicKeyObject(publicKey, 'x25519') }));
  } catch {
    throw new SecAggMessageRejectedError('SECAGG_BAD_KEY', 'a peer X25519 public key is malformed; the message that carried it is refused');
  }
  if (shared.every((b) => b === 0)) {
    throw new SecAggMessageRejectedError('SECAGG_BAD_KEY', 'a peer X25519 public key has small order; the message that carried it is refused');
  }
  return shared;
}
