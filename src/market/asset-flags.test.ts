import { describe, expect, it } from 'vitest';
import { CONSENT_PURPOSES, REGIONS, consentFlags, consentNames, regionFlags, regionNames } from './asset-flags.js';

describe('asset flags', () => {
  it('map names to the bits the token holds and back', () => {
    expect(consentFlags(['research'])).toBe(1);
    expect(consentFlags(['research', 'healthcare'])).toBe(0b101);
    expect(regionFlags(['eu', 'uk'])).toBe(0b110);
    expect(consentNames(consentFlags([...CONSENT_PURPOSES]))).toEqual([...CONSENT_PURPOSES]);
    expect(regionNames(regionFlags([...REGIONS]))).toEqual([...REGIONS]);
    expect(regionNames(0x8000_0001)).toEqual(['global']);
  });

  it('refuse an unknown or missing name with its code', () => {
    expect(() => consentFlags(['gossip'])).toThrow(expect.objectContaining({ code: 'MARKET_UNKNOWN_CONSENT' }));
    expect(() => regionFlags(['mars'])).toThrow(expect.objectContaining({ code: 'MARKET_UNKNOWN_REGION' }));
    expect(() => regionFlags([])).toThrow(expect.objectContaining({ code: 'MARKET_UNKNOWN_REGION' }));
  });
});
