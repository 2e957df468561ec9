import { diffieHellman, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { curveKeyPair, generateCurveKeyPair } from './curve-keys.js';

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const rawPublic = (key: ReturnType<typeof curveKeyPair>['publicKey']): string => Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url').toString('hex');

describe('curve key pairs', () => {
  it('gives the RFC 8032 test 1 public key and signature for its Ed25519 seed', () => {
    const { privateKey, publicKey } = curveKeyPair('ed25519', hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(rawPublic(publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(sign(null, new Uint8Array(0), privateKey).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('gives the RFC 7748 section 6.1 public keys and shared secret for its X25519 scalars', () => {
    const alice = curveKeyPair('x25519', hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const bob = curveKeyPair('x25519', hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
    expect(rawPublic(alice.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(rawPublic(bob.publicKey)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(diffieHellman({ privateKey: alice.privateKey, publicKey: bob.publicKey }).toString('hex')).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });

  it('makes a new working pair each time and refuses a secret of the wrong length', () => {
    const [a, b] = [generateCurveKeyPair('ed25519'), generateCurveKeyPair('ed25519')];
    expect(rawPublic(a.publicKey)).not.toBe(rawPublic(b.publicKey));
    const signature = sign(null, Buffer.from('round 1'), a.privateKey);
    expect(verify(null, Buffer.from('round 1'), a.publicKey, signature)).toBe(true);
    expect(verify(null, Buffer.from('round 1'), b.publicKey, signature)).toBe(false);
    expect(() => curveKeyPair('x25519', new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'KEY_SECRET_INVALID' }));
  });
});
