import { z } from 'zod';
import { InvalidInputError, parseWithSchema } from '../../core/index.js';
import { logAdd, logErfc, logSub } from './log-math.js';

/**
 * Rényi DP accountant (Mironov 2017) for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar
 * & Zhang 2019), the plain Gaussian and the Laplace mechanism, with conversion to (epsilon, delta).
 */

/** How an RDP curve becomes an (epsilon, delta) guarantee: Mironov 2017 Prop. 3, or Balle et al. 2020 Thm 21. */
export type Conversion = 'classic' | 'improved';

/** The conversion used when none is named: Balle et al. 2020, never looser than the classic one. */
export const DEFAULT_CONVERSION: Conversion = 'improved';

/**
 * Orders of TensorFlow Privacy's `compute_dp_sgd_privacy`: [1.25 .. 4.5] + range(5, 64) + [128, 256, 512]
 * (so 5..63 inclusive); the fractional ones below 5 matter for large epsilon.
 */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5,
  ...Array.from({ length: 59 }, (_, i) => i + 5),
  128, 256, 512,
]);

/** `steps` rounds of the Gaussian mechanism on a Poisson sample of rate `samplingRate`, noise std = noiseMultiplier x L2 sensitivity. */
export interface SampledGaussianEvent {
  kind: 'sampled-gaussian';
  samplingRate: number;
  noiseMultiplier: number;
  steps: number;
}

/** `steps` rounds of the Gaussian mechanism on the full data set (sampling rate 1). */
export interface GaussianEvent {
  kind: 'gaussian';
  noiseMultiplier: number;
  steps: number;
}

/** `steps` rounds of the Laplace mechanism; `scale` is the Laplace scale b divided by the L1 sensitivity (1/epsilon for pure DP). */
export interface LaplaceEvent {
  kind: 'laplace';
  scale: number;
  steps: number;
}

/**
 * `steps` rounds of the discrete Gaussian mechanism on a fixed-point grid (Canonne, Kamath & Steinke
 * 2020) on a Poisson sample of rate `samplingRate`; noiseMultiplier is sigma over the L2 sensitivity
 * in grid steps. Charged with Zhu & Wang's bound for any Poisson-subsampled mechanism, which needs
 * only the base mechanism's RDP (at most alpha / (2 sigma^2), as the continuous Gaussian's).
 */
export interface SampledDiscreteGaussianEvent {
  kind: 'sampled-discrete-gaussian';
  samplingRate: number;
  noiseMultiplier: number;
  steps: number;
}

/** `steps` rounds of the discrete Laplace mechanism; `scale` is the noise scale over the L1 sensitivity in grid steps (1/epsilon of its pure DP). */
export interface DiscreteLaplaceEvent {
  kind: 'discrete-laplace';
  scale: number;
  steps: number;
}

/** One privacy-relevant operation the accountant can compose. */
export type PrivacyEvent = SampledGaussianEvent | GaussianEvent | LaplaceEvent | SampledDiscreteGaussianEvent | DiscreteLaplaceEvent;

/** An (epsilon, delta) guarantee and the RDP order that gave it. */
export interface EpsilonResult {
  epsilon: number;
  /** The order alpha at which the conversion was tightest (the first order when every order gives infinity); fractional when the search found one. */
  order: number;
}

/** Options of `getEpsilon`. */
export interface EpsilonOptions {
  /** Defaults to 'improved' (Balle et al. 2020). */
  conversion?: Conversion;
}

const samplingRate = z.number().min(0).max(1);
const noiseMultiplier = z.number().min(0).finite();
const steps = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const delta = z.number().gt(0).lt(1);
const conversion = z.enum(['classic', 'improved']);

const EventSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sampled-gaussian'), samplingRate, noiseMultiplier, steps }).strict(),
  z.object({ kind: z.literal('gaussian'), noiseMultiplier, steps }).strict(),
  z.object({ kind: z.literal('laplace'), scale: z.number().min(0).finite(), steps }).strict(),
  z.object({ kind: z.literal('sampled-discrete-gaussian'), samplingRate, noiseMultiplier, steps }).strict(),
  z.object({ kind: z.literal('discrete-laplace'), scale: z.number().min(0).finite(), steps }).strict(),
]);

const OrdersSchema = z.array(z.number().gt(1).finite()).min(1);

/**
 * log(A_alpha) for integer alpha by the exact binomial expansion (Mironov, Talwar & Zhang 2019 §3.3, Eq. for integer alpha):
 * A_alpha = sum_{i=0}^{alpha} C(alpha, i) (1-q)^(alpha-i) q^i exp((i^2 - i) / (2 sigma^2)).
 */
function logAInt(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let logBinom = 0;
  let logA = -Infinity;
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i);
    logA = logAdd(logA, logBinom + i * logQ + (alpha - i) * log1mQ + (i * i - i) / (2 * sigma * sigma));
  }
  return logA;
}

// The fractional series stops once both new terms are below e^-30 of the unit scale, as dp-accounting does.
const FRACTIONAL_CUTOFF = -30;
const FRACTIONAL_MAX_TERMS = 100_000;

/**
 * log(A_alpha) for fractional alpha (Mironov, Talwar & Zhang 2019 §3.3): the integral is split at
 * z0 = sigma^2 log(1/q - 1) + 1/2 and each half expanded as a binomial series in the generalised
 * coefficient C(alpha, i), whose sign alternates once i > alpha; each term carries a Gaussian tail erfc.
 */
function logAFrac(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  let logAbsBinom = 0;
  let positive = true;
  for (let i = 0; i < FRACTIONAL_MAX_TERMS; i++) {
    if (i > 0) {
      // C(alpha, i) = C(alpha, i-1) (alpha - i + 1) / i, tracked as sign and log magnitude.
      const factor = (alpha - i + 1) / i;
      if (factor < 0) positive = !positive;
      logAbsBinom += Math.log(Math.abs(factor));
    }
    const j = alpha - i;
    const logT0 = logAbsBinom + i * logQ + j * log1mQ;
    const logT1 = logAbsBinom + j * logQ + i * log1mQ;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / sqrt2Sigma);
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / sqrt2Sigma);
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (positive) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < FRACTIONAL_CUTOFF) break;
  }
  return logAdd(logA0, logA1);
}

/** RDP of one step of the Poisson-subsampled Gaussian mechanism at one order (Mironov, Talwar & Zhang 2019 §3). */
function sampledGaussianRdp(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (sigma === 0) return Infinity;
  // Without sampling this is the Gaussian mechanism: alpha / (2 sigma^2) (Mironov 2017 Table II).
  if (q === 1) return alpha / (2 * sigma * sigma);
  const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
  return logA / (alpha - 1);
}

/**
 * RDP of one step of the Laplace mechanism with scale b / sensitivity = `scale` (Mironov 2017 Table II, alpha > 1):
 * 1/(alpha-1) log( alpha/(2alpha-1) e^((alpha-1)/b) + (alpha-1)/(2alpha-1) e^(-alpha/b) ).
 */
function laplaceRdp(scale: number, alpha: number): number {
  if (scale === 0) return Infinity;
  const a = Math.log(alpha / (2 * alpha - 1)) + (alpha - 1) / scale;
  const b = Math.log((alpha - 1) / (2 * alpha - 1)) - alpha / scale;
  return logAdd(a, b) / (alpha - 1);
}

// One step's RDP depends only on the mechanism and the order, and a ledger re-searches the same
// mechanisms every round: remembering them makes every search after the first cost microseconds.
const STEP_RDP_CACHE = new Map<string, number>();
const STEP_RDP_CACHE_LIMIT = 200_000;

function eventRdp(event: PrivacyEvent, alpha: number): number {
  const key =
    event.kind === 'laplace' || event.kind === 'discrete-laplace'
      ? `${event.kind}|${event.scale}|${alpha}`
      : `${event.kind}|${event.kind === 'gaussian' ? 1 : event.samplingRate}|${event.noiseMultiplier}|${alpha}`;
  let rdp = STEP_RDP_CACHE.get(key);
  if (rdp === undefined) {
    rdp = stepRdp(event, alpha);
    if (STEP_RDP_CACHE.size >= STEP_RDP_CACHE_LIMIT) STEP_RDP_CACHE.clear();
    STEP_RDP_CACHE.set(key, rdp);
  }
  return rdp;
}

/**
 * (alpha - 1) x RDP at integer alpha >= 2 of a Poisson-subsampled mechanism whose own RDP is
 * l / (2 sigma^2) at every order l (Zhu & Wang 2019, "Poisson Subsampled Rényi Differential
 * Privacy", Thm 5, the general upper bound): log[(1-q)^(a-1) (a q - q + 1) + C(a,2) q^2 (1-q)^(a-2)
 * e^(eps(2)) + 3 sum_{l=3}^{a} C(a,l) q^l (1-q)^(a-l) e^((l-1) eps(l))], capped by the unsampled
 * a (a-1) / (2 sigma^2), as Google's distributed discrete Gaussian accounting does (Kairouz, Liu &
 * Steinke 2021). It holds for any base mechanism; the tight sampled-Gaussian formula rests on the
 * continuous Gaussian's rotation invariance, which the lattice lacks.
 */
function logSubsampledIntBound(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const eps = (l: number): number => l / (2 * sigma * sigma);
  let total = (alpha - 1) * log1mQ + Math.log1p((alpha - 1) * q);
  let logBinom = Math.log(alpha) + Math.log(alpha - 1) - Math.LN2;
  total = logAdd(total, logBinom + 2 * logQ + (alpha - 2) * log1mQ + eps(2));
  for (let l = 3; l <= alpha; l++) {
    logBinom += Math.log(alpha - l + 1) - Math.log(l);
    total = logAdd(total, Math.log(3) + logBinom + l * logQ + (alpha - l) * log1mQ + (l - 1) * eps(l));
  }
  return Math.min(total, (alpha - 1) * eps(alpha));
}

/**
 * RDP of one step of the subsampled discrete Gaussian. Integer orders use Zhu & Wang's bound; between
 * integers a < alpha < a + 1, (alpha - 1) RDP is convex in alpha (a log-moment), so it lies below the
 * chord of the bounds at a and a + 1 (and below the chord from 0 at alpha = 1 when alpha < 2).
 */
function sampledDiscreteGaussianRdp(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (sigma === 0) return Infinity;
  // Unsampled, the discrete Gaussian's RDP is at most the continuous one's (CKS 2020 Thm 4 per coordinate, summed).
  if (q === 1) return alpha / (2 * sigma * sigma);
  const lower = Math.max(1, Math.floor(alpha));
  const upper = Math.max(2, Math.ceil(alpha));
  const at = (a: number): number => (a === 1 ? 0 : logSubsampledIntBound(q, sigma, a));
  if (lower === upper) return at(lower) / (alpha - 1);
  const w = (alpha - lower) / (upper - lower);
  return ((1 - w) * at(lower) + w * at(upper)) / (alpha - 1);
}

function stepRdp(event: PrivacyEvent, alpha: number): number {
  switch (event.kind) {
    case 'sampled-discrete-gaussian':
      return sampledDiscreteGaussianRdp(event.samplingRate, event.noiseMultiplier, alpha);
    case 'discrete-laplace':
      // Pure (1/scale)-DP, which is (1/(2 scale^2))-zCDP (Bun & Steinke 2016 Prop. 3.3): RDP at most min(eps, alpha eps^2 / 2).
      return event.scale === 0 ? Infinity : Math.min(1 / event.scale, alpha / (2 * event.scale * event.scale));
    case 'sampled-gaussian':
      return sampledGaussianRdp(event.samplingRate, event.noiseMultiplier, alpha);
    case 'gaussian':
      return sampledGaussianRdp(1, event.noiseMultiplier, alpha);
    case 'laplace':
      return laplaceRdp(event.scale, alpha);
  }
}

function curve(event: PrivacyEvent, orders: readonly number[]): Float64Array {
  const out = new Float64Array(orders.length);
  // Zero steps spend nothing, even for a mechanism with no noise (avoids 0 x Infinity).
  if (event.steps === 0) return out;
  for (let k = 0; k < orders.length; k++) out[k] = event.steps * eventRdp(event, orders[k]);
  return out;
}

/**
 * epsilon at one order. 'classic': rdp - log(delta)/(alpha-1) (Mironov 2017 Prop. 3).
 * 'improved': rdp + log1p(-1/alpha) - (log(delta) + log(alpha))/(alpha-1) (Balle et al. 2020 Thm 21),
 * or 0 when delta already covers the total variation bound sqrt(1 - e^-rdp) >= TV that RDP at
 * alpha >= 1 implies through KL (Bretagnolle-Huber), as dp-accounting's `_compute_epsilon` does.
 */
function epsilonAtOrder(rdp: number, alpha: number, targetDelta: number, kind: Conversion): number {
  // Zero divergence means the output distributions are equal: nothing was spent under either conversion.
  if (rdp === 0) return 0;
  const logDelta = Math.log(targetDelta);
  if (kind === 'classic') return rdp - logDelta / (alpha - 1);
  if (targetDelta * targetDelta + Math.expm1(-rdp) > 0) return 0;
  return rdp + Math.log1p(-1 / alpha) - (logDelta + Math.log(alpha)) / (alpha - 1);
}

/** The smallest epsilon over all orders of an RDP curve at the given delta; 'improved' (Balle et al. 2020) unless told otherwise, floored at 0. */
export function epsilonFromRdp(orders: readonly number[], rdp: ArrayLike<number>, targetDelta: number, kind: Conversion = DEFAULT_CONVERSION): EpsilonResult {
  parseWithSchema([...orders], OrdersSchema, 'rdp orders', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(targetDelta, delta, 'delta', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(kind, conversion, 'conversion', { code: 'DP_INPUT_INVALID' });
  if (rdp.length !== orders.length) {
    throw new InvalidInputError('DP_INPUT_INVALID', `rdp has ${rdp.length} values but there are ${orders.length} orders; give one value per order`);
  }
  return bestEpsilon(orders, rdp, targetDelta, kind);
}

function bestEpsilon(orders: readonly number[], rdp: ArrayLike<number>, targetDelta: number, kind: Conversion): EpsilonResult {
  let best: EpsilonResult = { epsilon: Infinity, order: orders[0] };
  for (let k = 0; k < orders.length; k++) {
    const epsilon = epsilonAtOrder(rdp[k], orders[k], targetDelta, kind);
    if (epsilon < best.epsilon) best = { epsilon, order: orders[k] };
  }
  // A negative value only says the bound is loose; no mechanism is better than 0-DP.
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** The largest order the search over orders considers (the optimum of every DP-SGD setting in q >= 1e-4, sigma <= 10 lies below it). */
export const MAX_ORDER = 20_000;

// Above this order the search keeps to integers: the exact binomial expansion is cheaper and more
// stable there than the fractional series, and a step of 1 moves epsilon by far less than 0.1%.
const INTEGER_FROM = 256;
// Coarse grid: orders 1 + 10^(k/20) (12% apart), the only spacing the refinement needs since
// epsilon(alpha) falls then rises; TF Privacy's orders are added so the result is never above theirs.
const GRID_PER_DECADE = 20;
const SEARCH_GRID: readonly number[] = Object.freeze(
  [
    ...DEFAULT_ORDERS,
    ...Array.from({ length: Math.floor(GRID_PER_DECADE * Math.log10(MAX_ORDER - 1)) + 2 * GRID_PER_DECADE + 1 }, (_, k) => 1 + 10 ** (k / GRID_PER_DECADE - 2)),
    MAX_ORDER,
  ]
    .map(snapOrder)
    .filter((alpha, k, all) => alpha <= MAX_ORDER && all.indexOf(alpha) === k)
    .sort((a, b) => a - b),
);
const GOLDEN = (Math.sqrt(5) - 1) / 2;
// The fractional refinement stops when the bracket is this narrow relative to the order: epsilon is
// flat at its minimum, so this is far below the 1% the search promises.
const ORDER_TOLERANCE = 1e-4;

/** Orders at or above INTEGER_FROM are rounded to integers; below it they are kept to 1e-6. */
function snapOrder(alpha: number): number {
  return alpha >= INTEGER_FROM ? Math.round(alpha) : Math.round(alpha * 1e6) / 1e6;
}

/**
 * The smallest epsilon over all orders in (1, MAX_ORDER]: a coarse grid, then a golden-section search
 * (fractional orders, or integers above INTEGER_FROM) in the two grid cells around the grid's best.
 * `rdpAt` gives the total RDP at an order. With `near`, only grid orders within a factor 2 of it (in
 * alpha - 1) are tried: an upper bound on the optimum, cheap enough to sit inside a bisection.
 */
function searchOrders(rdpAt: (alpha: number) => number, targetDelta: number, kind: Conversion, near?: number): EpsilonResult {
  const seen = new Map<number, number>();
  const at = (alpha: number): number => {
    const order = snapOrder(alpha);
    let epsilon = seen.get(order);
    if (epsilon === undefined) {
      const rdp = rdpAt(order);
      // RDP is never negative; a value below 0 (or NaN) is rounding error in the series, and skipping
      // that order is sound where the conversion's zero-divergence shortcut would not be.
      epsilon = rdp >= 0 ? epsilonAtOrder(rdp, order, targetDelta, kind) : Infinity;
      seen.set(order, epsilon);
    }
    return epsilon;
  };
  const inRange = (alpha: number): boolean => near === undefined || (alpha - 1 >= (near - 1) / 2 && alpha - 1 <= 2 * (near - 1));
  let bestIndex = -1;
  for (let k = 0; k < SEARCH_GRID.length; k++) {
    if (inRange(SEARCH_GRID[k]) && (bestIndex < 0 || at(SEARCH_GRID[k]) < at(SEARCH_GRID[bestIndex]))) bestIndex = k;
  }
  if (bestIndex < 0) return searchOrders(rdpAt, targetDelta, kind);
  if (Number.isFinite(at(SEARCH_GRID[bestIndex]))) {
    let lo = SEARCH_GRID[Math.max(0, bestIndex - 1)];
    let hi = SEARCH_GRID[Math.min(SEARCH_GRID.length - 1, bestIndex + 1)];
    let x1 = hi - GOLDEN * (hi - lo);
    let x2 = lo + GOLDEN * (hi - lo);
    while (hi - lo > Math.max(ORDER_TOLERANCE * lo, lo >= INTEGER_FROM ? 2 : 0)) {
      if (at(x1) <= at(x2)) {
        hi = x2;
        x2 = x1;
        x1 = hi - GOLDEN * (hi - lo);
      } else {
        lo = x1;
        x1 = x2;
        x2 = lo + GOLDEN * (hi - lo);
      }
    }
    if (lo >= INTEGER_FROM) for (let alpha = Math.ceil(lo); alpha <= hi; alpha++) at(alpha);
  }
  let best: EpsilonResult = { epsilon: Infinity, order: SEARCH_GRID[0] };
  for (const [order, epsilon] of seen) if (epsilon < best.epsilon || (epsilon === best.epsilon && order < best.order)) best = { epsilon, order };
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** Total RDP of a list of events at one order (Mironov 2017 Prop. 1); events with zero steps cost nothing. */
function eventsRdp(events: readonly PrivacyEvent[], alpha: number): number {
  let total = 0;
  for (const event of events) if (event.steps > 0) total += event.steps * eventRdp(event, alpha);
  return total;
}

/** The smallest epsilon of composed events over every order up to MAX_ORDER, fractional ones included; 'improved' (Balle et al. 2020) unless told otherwise. */
export function epsilonOfEvents(events: readonly PrivacyEvent[], targetDelta: number, kind: Conversion = DEFAULT_CONVERSION): EpsilonResult {
  const parsed = events.map((event) => parseWithSchema(event, EventSchema, 'dp event', { code: 'DP_INPUT_INVALID' }));
  parseWithSchema(targetDelta, delta, 'delta', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(kind, conversion, 'conversion', { code: 'DP_INPUT_INVALID' });
  const distinct = merged(parsed);
  return searchOrders((alpha) => eventsRdp(distinct, alpha), targetDelta, kind);
}

/** Events that differ only in their steps become one, so that a ledger of many rounds costs one evaluation per distinct mechanism. */
function merged(events: readonly PrivacyEvent[]): PrivacyEvent[] {
  const byKey = new Map<string, PrivacyEvent>();
  for (const event of events) {
    const { steps: _, ...rest } = event;
    const key = JSON.stringify(rest);
    const seen = byKey.get(key);
    if (seen) byKey.set(key, { ...seen, steps: seen.steps + event.steps });
    else byKey.set(key, { ...event });
  }
  return [...byKey.values()];
}

/**
 * Composes heterogeneous privacy events by adding their RDP order by order (Mironov 2017 Prop. 1) and
 * converts the total to (epsilon, delta): at the best of every order up to MAX_ORDER, or only at the
 * orders it was given.
 */
export class RdpAccountant {
  /** The orders `rdp()` reports; without orders of its own the accountant searches all orders and these are TF Privacy's. */
  readonly orders: readonly number[];
  private readonly fixedOrders: boolean;
  private readonly total: Float64Array;
  private events: PrivacyEvent[] = [];

  /** An empty ledger; given orders, epsilon is the best over those orders only (as TF Privacy and Opacus do). */
  constructor(orders?: readonly number[]) {
    this.fixedOrders = orders !== undefined;
    this.orders = Object.freeze(parseWithSchema([...(orders ?? DEFAULT_ORDERS)], OrdersSchema, 'rdp orders', { code: 'DP_INPUT_INVALID' }));
    this.total = new Float64Array(this.orders.length);
  }

  /** Adds an event's RDP to the running total; returns this for chaining. */
  compose(event: PrivacyEvent): this {
    const parsed = parseWithSchema(event, EventSchema, 'dp event', { code: 'DP_INPUT_INVALID' });
    const added = curve(parsed, this.orders);
    for (let k = 0; k < added.length; k++) this.total[k] += added[k];
    this.events = merged([...this.events, parsed]);
    return this;
  }

  /** A copy of the accumulated RDP, one value per order of `orders`. */
  rdp(): Float64Array {
    return this.total.slice();
  }

  /** The accumulated spend as (epsilon, delta) at the given delta; conversion defaults to 'improved' (Balle et al. 2020 Thm 21). */
  getEpsilon(targetDelta: number, options: EpsilonOptions = {}): EpsilonResult {
    parseWithSchema(targetDelta, delta, 'delta', { code: 'DP_INPUT_INVALID' });
    const kind = parseWithSchema(options.conversion ?? DEFAULT_CONVERSION, conversion, 'conversion', { code: 'DP_INPUT_INVALID' });
    if (this.fixedOrders) return bestEpsilon(this.orders, this.total, targetDelta, kind);
    return searchOrders((alpha) => eventsRdp(this.events, alpha), targetDelta, kind);
  }
}

function checkAccountingInput(q: number, targetDelta: number, stepCount: number, kind: Conversion): void {
  parseWithSchema(q, samplingRate, 'sampling rate', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(stepCount, steps, 'steps', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(targetDelta, delta, 'delta', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(kind, conversion, 'conversion', { code: 'DP_INPUT_INVALID' });
}

/** Which noise a DP-SGD event adds: the continuous Gaussian of the literature, or the exact discrete Gaussian that jobs release. */
export type NoiseMechanism = 'gaussian' | 'discrete-gaussian';

/** epsilon of `steps` DP-SGD steps (sampling rate q, noise multiplier sigma) at delta, at the best order up to MAX_ORDER; conversion defaults to 'improved', mechanism to the continuous Gaussian. */
export function computeEpsilon(q: number, sigma: number, stepCount: number, targetDelta: number, kind: Conversion = DEFAULT_CONVERSION, mechanism: NoiseMechanism = 'gaussian'): EpsilonResult {
  checkAccountingInput(q, targetDelta, stepCount, kind);
  parseWithSchema(sigma, noiseMultiplier, 'noise multiplier', { code: 'DP_INPUT_INVALID' });
  parseWithSchema(mechanism, z.enum(['gaussian', 'discrete-gaussian']), 'noise mechanism', { code: 'DP_INPUT_INVALID' });
  return epsilonOf(sampledEvent(q, sigma, stepCount, mechanism), targetDelta, kind);
}

function sampledEvent(q: number, sigma: number, stepCount: number, mechanism: NoiseMechanism): PrivacyEvent {
  return { kind: mechanism === 'gaussian' ? 'sampled-gaussian' : 'sampled-discrete-gaussian', samplingRate: q, noiseMultiplier: sigma, steps: stepCount };
}

function epsilonOf(event: PrivacyEvent, targetDelta: number, kind: Conversion, near?: number): EpsilonResult {
  if (event.steps === 0 || (event.kind !== 'laplace' && event.kind !== 'discrete-laplace' && event.kind !== 'gaussian' && event.samplingRate === 0)) return { epsilon: 0, order: SEARCH_GRID[0] };
  return searchOrders((alpha) => event.steps * eventRdp(event, alpha), targetDelta, kind, near);
}

/** Parameters of `noiseMultiplierFor`. */
export interface NoiseMultiplierParameters {
  targetEpsilon: number;
  samplingRate: number;
  steps: number;
  delta: number;
  /** Defaults to 'improved' (Balle et al. 2020). */
  conversion?: Conversion;
  /** Defaults to the continuous Gaussian. */
  mechanism?: NoiseMechanism;
}

/** The noise multiplier found and the epsilon it achieves (never above the target). */
export interface NoiseMultiplierResult extends EpsilonResult {
  noiseMultiplier: number;
}

// Beyond this noise multiplier no order up to MAX_ORDER lowers epsilon meaningfully: the
// conversion's -log(delta)/(alpha-1) term dominates.
const MAX_NOISE_MULTIPLIER = 1e4;
const RELATIVE_TOLERANCE = 1e-7;

/** The smallest noise multiplier (to 1e-7 relative) whose epsilon after `steps` steps is at most the target, by bisection (epsilon falls as noise grows). */
export function noiseMultiplierFor(parameters: NoiseMultiplierParameters): NoiseMultiplierResult {
  const { targetEpsilon, samplingRate: q, steps: stepCount, delta: targetDelta } = parameters;
  const kind = parameters.conversion ?? DEFAULT_CONVERSION;
  checkAccountingInput(q, targetDelta, stepCount, kind);
  parseWithSchema(targetEpsilon, z.number().gt(0).finite(), 'target epsilon', { code: 'DP_INPUT_INVALID' });
  const mechanism = parseWithSchema(parameters.mechanism ?? 'gaussian', z.enum(['gaussian', 'discrete-gaussian']), 'noise mechanism', { code: 'DP_INPUT_INVALID' });
  const at = (sigma: number): EpsilonResult => epsilonOf(sampledEvent(q, sigma, stepCount, mechanism), targetDelta, kind);
  // Nothing is released: no noise is needed.
  if (q === 0 || stepCount === 0) return { noiseMultiplier: 0, ...at(0) };

  let hi = 1;
  let atHi = at(hi);
  while (atHi.epsilon > targetEpsilon) {
    if (hi >= MAX_NOISE_MULTIPLIER) {
      throw new InvalidInputError(
        'DP_TARGET_UNREACHABLE',
        `target epsilon ${targetEpsilon} cannot be reached at delta ${targetDelta} with ${kind} conversion: even noise multiplier ${MAX_NOISE_MULTIPLIER} gives epsilon ${atHi.epsilon.toPrecision(4)}; raise the target epsilon or delta`,
        { targetEpsilon, delta: targetDelta, bestEpsilon: atHi.epsilon },
      );
    }
    hi *= 2;
    atHi = at(hi);
  }
  let lo = hi === 1 ? 0 : hi / 2;
  // Inside the bisection the order search starts from the last best order: a local search can only
  // overstate epsilon (so the noise found stays sufficient), and the answer is re-measured in full.
  // An epsilon of 0 came from delta covering the whole divergence (epsilonAtOrder), whose order says
  // nothing of where less noise has its best order: from there the search is full again.
  while (hi - lo > RELATIVE_TOLERANCE * hi) {
    const mid = (lo + hi) / 2;
    const atMid = epsilonOf(sampledEvent(q, mid, stepCount, mechanism), targetDelta, kind, atHi.epsilon > 0 ? atHi.order : undefined);
    if (atMid.epsilon <= targetEpsilon) {
      hi = mid;
      atHi = atMid;
    } else {
      lo = mid;
    }
  }
  return { noiseMultiplier: hi, ...at(hi) };
}
