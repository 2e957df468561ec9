import { InvalidInputError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

/** Splits examples uniformly at random into numClients parts whose sizes differ by at most one. */
export function partitionIid(labelsOrCount: ArrayLike<number> | number, numClients: number, rng: Rng): number[][] {
  const n = typeof labelsOrCount === 'number' ? labelsOrCount : labelsOrCount.length;
  checkClients(numClients, n, 1);
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const parts: number[][] = [];
  let at = 0;
  for (let c = 0; c < numClients; c++) {
    const size = Math.floor(n / numClients) + (c < n % numClients ? 1 : 0);
    parts.push(order.slice(at, at + size).sort((a, b) => a - b));
    at += size;
  }
  return parts;
}

export interface DirichletOptions {
  /** Every client gets at least this many examples; 10 by default. */
  minPerClient?: number;
  /** How many draws to try before giving up; 100 by default. */
  maxAttempts?: number;
}

/**
 * Label-skewed split (Hsu et al. 2019, "Measuring the effects of non-identical data distribution"):
 * for each class, the share of each client is drawn from Dir(alpha); small alpha gives each client
 * few classes, large alpha approaches IID. Draws again until every client has minPerClient examples,
 * as the Flower and FedLab Dirichlet partitioners do.
 */
export function partitionDirichlet(
  labels: ArrayLike<number>,
  numClients: number,
  alpha: number,
  rng: Rng,
  options: DirichletOptions = {},
): number[][] {
  const minPerClient = options.minPerClient ?? 10;
  const maxAttempts = options.maxAttempts ?? 100;
  if (!(alpha > 0) || !Number.isFinite(alpha)) {
    throw new InvalidInputError('PARTITION_INVALID', `Dirichlet alpha must be a positive number, got ${alpha}`, { alpha });
  }
  checkClients(numClients, labels.length, minPerClient);
  const byClass = indicesByClass(labels);
  let smallest = 0;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const parts: number[][] = Array.from({ length: numClients }, () => []);
    for (const members of byClass) {
      rng.shuffle(members);
      const shares = dirichlet(numClients, alpha, rng);
      // Cut points floor(cumsum(p) * n), as in Flower's and FedLab's implementations.
      let cumulative = 0;
      let start = 0;
      for (let c = 0; c < numClients; c++) {
        cumulative += shares[c];
        const end = c === numClients - 1 ? members.length : Math.min(members.length, Math.floor(cumulative * members.length));
        for (let k = start; k < end; k++) parts[c].push(members[k]);
        start = Math.max(start, end);
      }
    }
    smallest = Math.min(...parts.map((p) => p.length));
    if (smallest >= minPerClient) return parts.map((p) => p.sort((a, b) => a - b));
  }
  throw new InvalidInputError(
    'PARTITION_IMPOSSIBLE',
    `no Dirichlet(alpha=${alpha}) split of ${labels.length} examples over ${numClients} clients gave every client ${minPerClient} examples in ${maxAttempts} attempts (last smallest: ${smallest}); raise alpha, lower minPerClient or use fewer clients`,
    { alpha, numClients, minPerClient, smallest },
  );
}

/**
 * Pathological non-IID split (McMahan et al. 2017, "Communication-Efficient Learning of Deep
 * Networks from Decentralized Data", §3): sort examples by label, cut them into
 * numClients * shardsPerClient shards and give each client shardsPerClient random shards.
 */
export function partitionShards(labels: ArrayLike<number>, numClients: number, shardsPerClient: number, rng: Rng): number[][] {
  if (!Number.isInteger(shardsPerClient) || shardsPerClient < 1) {
    throw new InvalidInputError('PARTITION_INVALID', `shardsPerClient must be a positive integer, got ${shardsPerClient}`, { shardsPerClient });
  }
  const n = labels.length;
  checkClients(numClients, n, shardsPerClient);
  const sorted = Array.from({ length: n }, (_, i) => i).sort((a, b) => labels[a] - labels[b] || a - b);
  const numShards = numClients * shardsPerClient;
  const shardOrder = rng.shuffle(Array.from({ length: numShards }, (_, s) => s));
  const parts: number[][] = [];
  for (let c = 0; c < numClients; c++) {
    const part: number[] = [];
    for (let k = 0; k < shardsPerClient; k++) {
      const s = shardOrder[c * shardsPerClient + k];
      // Shard boundaries floor(s * n / numShards) cover every example even when n is not a multiple.
      const from = Math.floor((s * n) / numShards);
      const to = Math.floor(((s + 1) * n) / numShards);
      for (let i = from; i < to; i++) part.push(sorted[i]);
    }
    parts.push(part.sort((a, b) => a - b));
  }
  return parts;
}

function checkClients(numClients: number, numExamples: number, minEach: number): void {
  if (!Number.isInteger(numClients) || numClients < 1) {
    throw new InvalidInputError('PARTITION_INVALID', `numClients must be a positive integer, got ${numClients}`, { numClients });
  }
  if (numClients * minEach > numExamples) {
    throw new InvalidInputError(
      'PARTITION_IMPOSSIBLE',
      `${numExamples} examples cannot give ${numClients} clients ${minEach} each; use fewer clients or more data`,
      { numClients, numExamples, minEach },
    );
  }
}

function indicesByClass(labels: ArrayLike<number>): number[][] {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const members = byClass.get(labels[i]);
    if (members) members.push(i);
    else byClass.set(labels[i], [i]);
  }
  // Class order must not depend on which class appears first, so that equal label sets give equal splits.
  return [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, members]) => members);
}

/** One draw of Dir(alpha, ..., alpha) as normalised Gamma(alpha) variates. */
function dirichlet(k: number, alpha: number, rng: Rng): number[] {
  const g = Array.from({ length: k }, () => rng.gamma(alpha));
  const sum = g.reduce((a, b) => a + b, 0);
  // For tiny alpha every variate can underflow to zero; the limit of Dir(alpha) is then a point mass on one client.
  if (!(sum > 0)) {
    const p = new Array<number>(k).fill(0);
    p[rng.int(k)] = 1;
    return p;
  }
  return g.map((x) => x / sum);
}
