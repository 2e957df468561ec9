import { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';
import { checkUpdates, type ClientUpdate } from './strategies/index.js';

/** Options of {@link detectPoisoning}. */
export const PoisoningDetectorOptionsSchema = z
  .object({
    /** A client's median cosine similarity to the other clients' deltas must be below this to be flagged. */
    minCosine: z.number().min(-1).max(1).default(0),
    /** Modified z-score beyond which a statistic is an outlier (Iglewicz & Hoaglin 1993 suggest 3.5). */
    maxZ: z.number().positive().default(3.5),
  })
  .strict();
export type PoisoningDetectorOptions = z.input<typeof PoisoningDetectorOptionsSchema>;

/** A client whose update looks poisoned, why, and the statistic that crossed the threshold. */
export interface FlaggedClient {
  clientId: string;
  /** 'cosine': its direction disagrees with the others; 'norm': its update is unusually large. */
  reason: 'cosine' | 'norm';
  /** The client's median cosine similarity to the others, or its norm's modified z-score. */
  score: number;
}

/**
 * Flags clients whose model delta Δ_k = w_k − w_global is an outlier against the other updates of the
 * round, with robust statistics so that a minority of attackers cannot hide by shifting them:
 * 'cosine' when c_k, the median over j ≠ k of cos(Δ_k, Δ_j) (the pairwise-cosine view of FoolsGold,
 * Fung et al. 2020, and FLAME, Nguyen et al. 2022), is below `minCosine` and a low outlier among the
 * round's c (modified z-score below −maxZ); 'norm' when ||Δ_k|| has a modified z-score above `maxZ`
 * (Iglewicz & Hoaglin 1993). Needs three updates to compare; returns [] for fewer. Flags only: what a
 * flag costs the client (exclusion, slashing) is the caller's decision.
 */
export function detectPoisoning(global: Float32Array, updates: readonly ClientUpdate[], options: PoisoningDetectorOptions = {}): FlaggedClient[] {
  const parsed = PoisoningDetectorOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new InvalidInputError('DETECTOR_OPTIONS_INVALID', `poisoning detector options are invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const { minCosine, maxZ } = parsed.data;
  checkUpdates(global, updates);
  const n = updates.length;
  if (n < 3) return [];
  const ordered = [...updates].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  const deltas = ordered.map((u) => {
    const d = new Float64Array(global.length);
    for (let k = 0; k < d.length; k++) d[k] = u.weights[k] - global[k];
    return d;
  });
  const norms = deltas.map((d) => Math.sqrt(dot(d, d)));
  const cos = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const c = norms[i] > 0 && norms[j] > 0 ? dot(deltas[i], deltas[j]) / (norms[i] * norms[j]) : 0;
      cos[i * n + j] = c;
      cos[j * n + i] = c;
    }
  }
  const cosines = ordered.map((_, i) => median(Array.from(cos.subarray(i * n, (i + 1) * n)).filter((_, j) => j !== i)));
  // When the values agree closely the MAD is tiny and the z-score flags harmless differences (or
  // divides by zero). Floors: 10% of the median norm, so a norm must exceed the median by more than
  // half (3.5 · 0.1 / 0.6745 ≈ 0.52 at the default threshold); 0.01 for cosines, so noise-dominated
  // updates (local DP), whose cosines all sit near 0, are not flagged for tiny differences.
  const normZ = modifiedZ(norms, 0.1 * median(norms));
  const cosineZ = modifiedZ(cosines, 0.01);
  const flagged: FlaggedClient[] = [];
  ordered.forEach((u, i) => {
    if (cosines[i] < minCosine && cosineZ[i] < -maxZ) flagged.push({ clientId: u.clientId, reason: 'cosine', score: cosines[i] });
    if (normZ[i] > maxZ) flagged.push({ clientId: u.clientId, reason: 'norm', score: normZ[i] });
  });
  return flagged;
}

/** 0.6745 (x − median) / MAD for each value (Iglewicz & Hoaglin 1993), the MAD floored at `madFloor`. */
function modifiedZ(values: readonly number[], madFloor: number): number[] {
  const m = median(values);
  const mad = Math.max(median(values.map((x) => Math.abs(x - m))), madFloor, Number.MIN_VALUE);
  return values.map((x) => (0.6745 * (x - m)) / mad);
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
