import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveSealingKey, sealState, unsealState } from './sealing.js';

const platformSecret = randomBytes(48);
const measurement = 'ab'.repeat(48);
const state = new Uint8Array(randomBytes(1000));

describe('sealing', () => {
  it('opens for the same measurement on the same platform', () => {
    const sealed = sealState(deriveSealingKey(platformSecret, measurement), measurement, state);
    expect(unsealState(deriveSealingKey(platformSecret, measurement), measurement, sealed)).toEqual(state);
    // Fresh IV each time: sealing twice gives different bytes.
    expect(Buffer.from(sealState(deriveSealingKey(platformSecret, measurement), measurement, state)).equals(Buffer.from(sealed))).toBe(false);
  });

  it('does not open for another measurement, another platform, or altered bytes', () => {
    const sealed = sealState(deriveSealingKey(platformSecret, measurement), measurement, state);
    const other = 'cd'.repeat(48);
    expect(() => unsealState(deriveSealingKey(platformSecret, other), other, sealed)).toThrow(expect.objectContaining({ code: 'TEE_UNSEAL_FAILED' }));
    expect(() => unsealState(deriveSealingKey(randomBytes(48), measurement), measurement, sealed)).toThrow(expect.objectContaining({ code: 'TEE_UNSEAL_FAILED' }));
    const altered = new Uint8Array(sealed);
    altered[30] ^= 1;
    expect(() => unsealState(deriveSealingKey(platformSecret, measurement), measurement, altered)).toThrow(expect.objectContaining({ code: 'TEE_UNSEAL_FAILED' }));
    expect(() => unsealState(deriveSealingKey(platformSecret, measurement), measurement, new Uint8Array(10))).toThrow(/not a Cipher Nexus sealed blob/);
  });

  it('derives different keys for different measurements', () => {
    expect(Buffer.from(deriveSealingKey(platformSecret, measurement)).equals(Buffer.from(deriveSealingKey(platformSecret, 'cd'.repeat(48))))).toBe(false);
  });
});
