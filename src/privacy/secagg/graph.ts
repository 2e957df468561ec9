import { createCipheriv, hkdfSync } from 'node:crypto';
import { SecAggError } from './errors.js';

/**
 * The masking graph of SecAgg+ (Bell et al. 2020 §3): each client masks with, and shares its secrets
 * among, O(log n) other clients instead of all n - 1 (Bonawitz et al. 2017 is the complete graph).
 *
 * Here no one draws the graph for everyone. Each client v picks its own k share holders Out(v),
 * uniformly among the other participants, from a 32-byte seed of its own randomness that it
 * reveals in its signed round-0 key bundle; everyone recomputes Out(v) from that seed. The masking
 * graph is the union of these choices (u and w mask with each other when either chose the other).
 * So the coordinator has no seed to choose or grind: an honest client's holders are random whatever
 * the coordinator or colluding clients do, and a colluder's choices only concern its own holders.
 */

/** A stream of uniform integers from AES-128-CTR keyed by HKDF(seed). */
function seededIntegers(seed: Uint8Array): (bound: number) => number {
  const key = new Uint8Array(hkdfSync('sha256', seed, new Uint8Array(0), 'cipher-nexus/secagg/v1/holders', 16));
  const cipher = createCipheriv('aes-128-ctr', key, new Uint8Array(16));
  key.fill(0);
  let words = new Uint32Array(0);
  let next = 0;
  const word = (): number => {
    if (next === words.length) {
      words = new Uint32Array(new Uint8Array(cipher.update(new Uint8Array(1024))).buffer);
      next = 0;
    }
    return words[next++];
  };
  // Rejection sampling keeps each integer exactly uniform in [0, bound).
  return (bound) => {
    const limit = Math.floor(0x100000000 / bound) * bound;
    for (;;) {
      const w = word();
      if (w < limit) return w % bound;
    }
  };
}

/**
 * The k share holders that `seed` picks for participant `self` among the n participants: 0-based
 * indices, ascending, never `self`; all others when k = n - 1. A partial Fisher-Yates shuffle of
 * the n - 1 others, kept sparse, so it costs O(k) whatever n is.
 */
export function holdersFromSeed(seed: Uint8Array, n: number, self: number, k: number): number[] {
  if (!Number.isInteger(n) || n < 2 || !Number.isInteger(self) || self < 0 || self >= n) {
    throw new SecAggError('SECAGG_CONFIG_INVALID', `holders of participant ${self} among ${n}: expected n >= 2 and 0 <= self < n`);
  }
  if (!Number.isInteger(k) || k < 1 || k > n - 1) throw new SecAggError('SECAGG_CONFIG_INVALID', `degree must be an integer from 1 to ${n - 1}, got ${k}`);
  // Position p of the others is participant p, or p + 1 at and after `self`.
  const participant = (p: number): number => (p >= self ? p + 1 : p);
  if (k === n - 1) return Array.from({ length: n - 1 }, (_, p) => participant(p));
  const random = seededIntegers(seed);
  const swapped = new Map<number, number>();
  const picked: number[] = [];
  for (let i = 0; i < k; i++) {
    const j = i + random(n - 1 - i);
    const atJ = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    picked.push(participant(atJ));
  }
  return picked.sort((a, b) => a - b);
}
