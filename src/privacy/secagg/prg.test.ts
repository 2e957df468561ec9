import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PRG_BLOCK_WORDS, applyMask, deriveMaskKey, expandMask } from './prg.js';

describe('mask PRG (AES-128-CTR keystream as uint32 words)', () => {
  it('matches the AES-128-CTR keystream of the key over a zero IV, across block boundaries', () => {
    const key = randomBytes(16);
    const length = PRG_BLOCK_WORDS * 2 + 7;
    const reference = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length * 4));
    const mask = expandMask(key, length);
    expect(Buffer.from(mask.buffer).equals(reference)).toBe(true);
  });

  it('adding then subtracting the same mask restores the vector mod 2^32', () => {
    const key = randomBytes(16);
    const vector = new Uint32Array(1000).map((_, i) => (i * 2654435761) >>> 0);
    const copy = vector.slice();
    applyMask(vector, key, 1);
    expect(vector).not.toEqual(copy);
    applyMask(vector, key, -1);
    expect(vector).toEqual(copy);
  });

  it('derives different keys per purpose and per round context', () => {
    const seed = randomBytes(32);
    const a = deriveMaskKey(seed, new Uint8Array([1]), 'self-mask');
    expect(a).toHaveLength(16);
    expect(deriveMaskKey(seed, new Uint8Array([1]), 'pairwise-mask')).not.toEqual(a);
    expect(deriveMaskKey(seed, new Uint8Array([2]), 'self-mask')).not.toEqual(a);
    expect(deriveMaskKey(seed, new Uint8Array([1]), 'self-mask')).toEqual(a);
  });
});
