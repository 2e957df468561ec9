import { InvalidInputError } from '../core/index.js';

/**
 * The names behind a DataAsset token's `consentFlags` and `regionFlags` (uint32 bitmasks): bit i
 * stands for the i-th name below. The bits live on chain, so these lists only ever grow at the
 * end; a name never changes its bit. The catalogue keeps the names, the token the bits.
 */

/** Uses data subjects may consent to, bit 0 first. */
export const CONSENT_PURPOSES = ['research', 'commercial', 'healthcare', 'education', 'public-interest', 'product-improvement', 'advertising', 'resale'] as const;

/** Regions where buyers may use a data set, bit 0 first; `global` covers every region. */
export const REGIONS = ['global', 'eu', 'uk', 'us', 'ca', 'ch', 'jp', 'kr', 'au', 'nz', 'sg', 'in', 'br', 'cn', 'za'] as const;

function flagsOf(names: readonly string[], known: readonly string[], what: string, code: string): number {
  if (names.length === 0) throw new InvalidInputError(code, `name at least one ${what}: one of ${known.join(', ')}`);
  let flags = 0;
  for (const name of names) {
    const bit = known.indexOf(name);
    if (bit === -1) throw new InvalidInputError(code, `'${name}' is not a known ${what}; use one of ${known.join(', ')}`, { name });
    flags |= 1 << bit;
  }
  // `1 << 31` is negative in JavaScript; the token's field is unsigned.
  return flags >>> 0;
}

function namesOf(flags: number, known: readonly string[]): string[] {
  return known.filter((_, bit) => (flags >>> bit) & 1);
}

/** The `consentFlags` bitmask of the named purposes; `MARKET_UNKNOWN_CONSENT` for a name not in {@link CONSENT_PURPOSES}. */
export function consentFlags(purposes: readonly string[]): number {
  return flagsOf(purposes, CONSENT_PURPOSES, 'consent purpose', 'MARKET_UNKNOWN_CONSENT');
}

/** The `regionFlags` bitmask of the named regions; `MARKET_UNKNOWN_REGION` for a name not in {@link REGIONS}. */
export function regionFlags(regions: readonly string[]): number {
  return flagsOf(regions, REGIONS, 'region', 'MARKET_UNKNOWN_REGION');
}

/** The purposes a `consentFlags` bitmask names (unassigned bits are ignored). */
export function consentNames(flags: number): string[] {
  return namesOf(flags, CONSENT_PURPOSES);
}

/** The regions a `regionFlags` bitmask names (unassigned bits are ignored). */
export function regionNames(flags: number): string[] {
  return namesOf(flags, REGIONS);
}
