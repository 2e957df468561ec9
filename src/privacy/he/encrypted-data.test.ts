import { describe, expect, it } from 'vitest';
import { decodeEncryptedData, encodeEncryptedData, encodedSize, type EncryptedData } from './encrypted-data.js';
import { HeCiphertextError } from './errors.js';

const sample: EncryptedData = {
  paramsHash: 'ab'.repeat(32),
  keyId: 'cd'.repeat(16),
  length: 5000,
  ciphertexts: [Uint8Array.from([1, 2, 3]), new Uint8Array(100).fill(7)],
};

describe('encrypted data wire form', () => {
  it('round-trips and reports its size', () => {
    const bytes = encodeEncryptedData(sample);
    expect(bytes.length).toBe(encodedSize(sample));
    expect(decodeEncryptedData(bytes)).toEqual(sample);
  });

  it('refuses any flipped byte, truncation or extension with HE_CIPHERTEXT_CORRUPT', () => {
    const bytes = encodeEncryptedData(sample);
    for (let at = 0; at < bytes.length; at += 7) {
      const bad = bytes.slice();
      bad[at] ^= 0x10;
      expect(() => decodeEncryptedData(bad)).toThrow(HeCiphertextError);
    }
    for (const bad of [bytes.subarray(0, 10), bytes.subarray(0, bytes.length - 1), Uint8Array.from([...bytes, 0])]) {
      expect(() => decodeEncryptedData(bad)).toThrow(expect.objectContaining({ code: 'HE_CIPHERTEXT_CORRUPT' }));
    }
  });

  it('refuses malformed tags when encoding', () => {
    expect(() => encodeEncryptedData({ ...sample, keyId: 'xyz' })).toThrow(HeCiphertextError);
  });
});
