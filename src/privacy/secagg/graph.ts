import { createCipheriv, hkdfSync } from 'node:crypto';
import { SecAggError } from './errors.js';

/**
 * The masking graph of SecAgg+ (Bell et al. 2020 §3): each client masks with, and shares its secrets
 * among, only its neighbours in a random graph of degree k = O(log n) instead of all n - 1 other
 * clients (Bonawitz et al. 2017 is the complete graph). The graph here is the Harary graph H(k, n) — a
 * ring where each client links to the ceil(k/2) clients on either side — over a permutation of the
 * clients drawn from a public seed fixed in the round configuration, so every client computes the
 * same graph and the server cannot pick anyone's neighbours.
 */

/** The degree a requested `degree` gives among `n` clients: rounded up to even, at most n - 1 (complete). */
export function effectiveDegree(n: number, degree: number): number {
  return Math.min(n - 1, 2 * Math.ceil(degree / 2));
}

/** A default degree of order log n for n clients, 2 ceil(log2 n) (capped at n - 1). */
export function defaultDegree(n: number): number {
  return effectiveDegree(n, 2 * Math.ceil(Math.log2(Math.max(2, n))));
}

/** A stream of uniform integers from AES-128-CTR keyed by HKDF(seed). */
function seededIntegers(seed: Uint8Array): (bound: number) => number {
  const key = new Uint8Array(hkdfSync('sha256', seed, new Uint8Array(0), 'cipher-nexus/secagg/v1/graph', 16));
  const cipher = createCipheriv('aes-128-ctr', key, new Uint8Array(16));
  key.fill(0);
  let words = new Uint32Array(0);
  let next = 0;
  const word = (): number => {
    if (next === words.length) {
      const bytes = cipher.update(new Uint8Array(4096));
      words = new Uint32Array(new Uint8Array(bytes).buffer);
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

/** Neighbour lists (0-based participant indices, ascending) of the masking graph of `n` clients. */
export function maskingGraph(n: number, degree: number, seed: Uint8Array): number[][] {
  if (!Number.isInteger(n) || n < 2) throw new SecAggError('SECAGG_CONFIG_INVALID', `a masking graph needs at least 2 clients, got ${n}`);
  if (!Number.isInteger(degree) || degree < 1) throw new SecAggError('SECAGG_CONFIG_INVALID', `degree must be a positive integer, got ${degree}`);
  const k = effectiveDegree(n, degree);
  if (k === n - 1) return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => j).filter((j) => j !== i));
  // Fisher-Yates shuffle: position p of the ring holds participant order[p].
  const random = seededIntegers(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const half = k / 2;
  const neighbours: number[][] = Array.from({ length: n }, () => []);
  for (let p = 0; p < n; p++) {
    for (let offset = 1; offset <= half; offset++) {
      neighbours[order[p]].push(order[(p + offset) % n], order[(p - offset + n) % n]);
    }
  }
  for (const list of neighbours) list.sort((a, b) => a - b);
  return neighbours;
}
