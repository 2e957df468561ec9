import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { agree, type AgreementKeyPair } from './keys.js';
import { SecAggMessageRejectedError } from './errors.js';
import { transcript } from './transcript.js';

/**
 * Authenticated encryption of the Shamir shares a client sends to a neighbour through the server
 * (Bonawitz et al. 2017 §3.3 and Fig. 4 round 1): AES-256-GCM under HKDF-SHA256(X25519(c_u, c_v)),
 * with associated data binding the round, the sender and the receiver, so the server can neither read a
 * share, nor alter it, nor replay it to another receiver or into another round.
 */

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** An encrypted share as it travels: a random nonce and the ciphertext with its 16-byte tag appended. */
export interface SealedShare {
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** The AES-256-GCM key between two clients: HKDF-SHA256(X25519(own secret, peer public), salt = round context). */
export function shareEncryptionKey(own: AgreementKeyPair, peerPublicKey: Uint8Array, context: Uint8Array): Uint8Array {
  const shared = agree(own, peerPublicKey);
  try {
    return new Uint8Array(hkdfSync('sha256', shared, context, 'cipher-nexus/secagg/v1/share-encryption', 32));
  } finally {
    shared.fill(0);
  }
}

function associatedData(context: Uint8Array, sender: string, receiver: string): Uint8Array {
  return transcript('share', context, sender, receiver);
}

/** Encrypts `plaintext` from `sender` to `receiver` for the round `context`. */
export function sealShare(key: Uint8Array, plaintext: Uint8Array, context: Uint8Array, sender: string, receiver: string): SealedShare {
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(context, sender, receiver));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce, ciphertext: new Uint8Array(body) };
}

/** Decrypts a share sent by `sender` to `receiver` in round `context`; a forged, altered or misrouted one is refused. */
export function openShare(key: Uint8Array, sealed: SealedShare, context: Uint8Array, sender: string, receiver: string): Uint8Array {
  if (sealed.nonce.length !== NONCE_BYTES || sealed.ciphertext.length < TAG_BYTES) {
    throw new SecAggMessageRejectedError('SECAGG_DECRYPTION_FAILED', `the share from '${sender}' is truncated`, { sender });
  }
  const body = sealed.ciphertext.subarray(0, sealed.ciphertext.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce);
  decipher.setAAD(associatedData(context, sender, receiver));
  decipher.setAuthTag(sealed.ciphertext.subarray(sealed.ciphertext.length - TAG_BYTES));
  try {
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch {
    throw new SecAggMessageRejectedError(
      'SECAGG_DECRYPTION_FAILED',
      `the share from '${sender}' to '${receiver}' does not authenticate: it was altered, forged or sent for another round or receiver`,
      { sender, receiver },
    );
  }
}
