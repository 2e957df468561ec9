import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateSigningKeyPair, isSigningPublicKeyText, signingPublicKey } from './signing-key.js';

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('isSigningPublicKeyText', () => {
  it('accepts the base64url of any 32 bytes, and each imports as an Ed25519 key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64url');
        expect(isSigningPublicKeyText(text)).toBe(true);
        const key = signingPublicKey(text);
        expect(key?.asymmetricKeyType).toBe('ed25519');
        expect(key?.export({ format: 'jwk' }).x).toBe(text);
      }),
    );
  });

  it('accepts exactly the texts that are the canonical spelling of 32 bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...BASE64URL), { minLength: 41, maxLength: 45 }), (chars) => {
        const text = chars.join('');
        const canonical = text.length === 43 && Buffer.from(text, 'base64url').toString('base64url') === text;
        expect(isSigningPublicKeyText(text)).toBe(canonical);
        expect(signingPublicKey(text) !== undefined).toBe(canonical);
      }),
    );
  });

  it('refuses padding, the base64 alphabet and whitespace', () => {
    const { publicKey } = generateSigningKeyPair();
    const standard = Buffer.from(publicKey, 'base64url').toString('base64');
    for (const text of [`${publicKey}=`, standard.replace(/[A-Za-z0-9]/, '+'), ` ${publicKey.slice(1)}`, `${publicKey.slice(0, 42)}\n`]) {
      expect(isSigningPublicKeyText(text)).toBe(false);
    }
    expect(isSigningPublicKeyText(publicKey)).toBe(true);
  });
});
