/**
 * Exact samplers of the discrete Laplace and discrete Gaussian distributions on the integers
 * (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential Privacy", §5,
 * Algorithms 1-3). Every decision is a comparison of a uniform real, revealed 16 or 32 bits at a
 * time, with an exact number (a fraction, or exp(-fraction) between exact series bounds): the
 * output distribution is exactly the stated one, with no floating-point rounding for an observer
 * to exploit (Mironov 2012). Floating point only ever decides a comparison when a proven error
 * bound puts the answer beyond doubt; otherwise the comparison is finished in BigInt arithmetic.
 */

/** A stream of independent uniform 32-bit words. */
export interface RandomWords {
  /** The next uniform integer in [0, 2^32). */
  next(): number;
}

const TWO_32 = 2 ** 32;
const TWO_16 = 2 ** 16;
// With den <= 2^21, num * 2^32 and w * den stay below 2^53; with den < 2^37, 16-bit digits do.
const DEN_32 = 2 ** 21;
const DEN_16 = 2 ** 37;
const UNIT_ROUNDOFF = 2 ** -53;

/** Largest sigma the sampler accepts: t = floor(sigma) + 1 must fit a 32-bit uniform and t x V an exact double. */
export const MAX_DISCRETE_SIGMA = 2 ** 30;

/**
 * Bernoulli(num / den) for integers 0 <= num <= den: true when a uniform real V in [0, 1) is below
 * num / den. V's digits are drawn one at a time; after digit w the question is either settled or
 * becomes the same question about the rest of V against (num * base - w * den) / den.
 */
export function bernoulliRatio(bits: RandomWords, num: number, den: number): boolean {
  if (num >= den) return true;
  if (num <= 0) return false;
  if (den <= DEN_32) {
    for (;;) {
      const a = bits.next() * den;
      const b = num * TWO_32;
      if (a + den <= b) return true;
      if (a >= b) return false;
      num = b - a;
    }
  }
  if (den < DEN_16) {
    for (;;) {
      const a = (bits.next() >>> 16) * den;
      const b = num * TWO_16;
      if (a + den <= b) return true;
      if (a >= b) return false;
      num = b - a;
    }
  }
  return bernoulliBig(bits, BigInt(num), BigInt(den));
}

/** Bernoulli(num / den) for BigInt 0 <= num <= den, 32 bits of V at a time. */
function bernoulliBig(bits: RandomWords, num: bigint, den: bigint): boolean {
  for (;;) {
    const a = BigInt(bits.next()) * den;
    const b = num << 32n;
    if (a + den <= b) return true;
    if (a >= b) return false;
    num = b - a;
  }
}

/** A uniform integer in [0, n) for 1 <= n <= 2^32, by rejection so that every value is equally likely. */
export function uniformBelow(bits: RandomWords, n: number): number {
  return uniformBelowWithLimit(bits, n, TWO_32 - (TWO_32 % n));
}

/** `uniformBelow` with its rejection limit, the largest multiple of n up to 2^32, computed once. */
function uniformBelowWithLimit(bits: RandomWords, n: number, limit: number): number {
  for (;;) {
    const w = bits.next();
    if (w < limit) return w % n;
  }
}

/** Bernoulli(exp(-num/den)) for integers 0 <= num <= den (CKS 2020 Algorithm 1, gamma in [0, 1]): the parity of the first K with Bernoulli(gamma / K) false. */
export function bernoulliExpRatio(bits: RandomWords, num: number, den: number): boolean {
  let k = 1;
  while (bernoulliRatio(bits, num, den * k)) k++;
  return k % 2 === 1;
}

/** The discrete Laplace on Z with P(x) proportional to exp(-|x| / t), for an integer t >= 1 (CKS 2020 Algorithm 2 with s = 1). */
export function sampleDiscreteLaplace(bits: RandomWords, t: number): number {
  for (;;) {
    const u = uniformBelow(bits, t);
    if (!bernoulliExpRatio(bits, u, t)) continue;
    // V is geometric: the number of consecutive Bernoulli(exp(-1)) successes.
    let v = 0;
    while (bernoulliExpRatio(bits, 1, 1)) v++;
    const x = u + t * v;
    const negative = (bits.next() & 1) === 1;
    // Zero would otherwise be counted twice, once per sign.
    if (negative && x === 0) continue;
    return negative ? -x : x;
  }
}

/** A double as an exact fraction mantissa / 2^shift with an integer mantissa. */
function exactDyadic(x: number): { mantissa: bigint; shift: bigint } {
  let shift = 0n;
  while (!Number.isInteger(x)) {
    x *= 2;
    shift += 1n;
  }
  return { mantissa: BigInt(x), shift };
}

/** Prepared parameters of the discrete Gaussian N_Z(0, sigma^2): sigma^2 as an exact double and Algorithm 3's t. */
export interface DiscreteGaussianParameters {
  /** sigma^2, exactly the double stored here; the distribution sampled is N_Z(0, sigma2). */
  sigma2: number;
  /** floor(sigma) + 1: the scale of the discrete Laplace proposal. */
  t: number;
  /** The largest multiple of t up to 2^32: uniform words at or above it are redrawn. */
  limit: number;
  /** sigma2 as an exact dyadic fraction, for the rare comparisons floating point cannot settle. */
  exact: { mantissa: bigint; shift: bigint };
}

/** Parameters for N_Z(0, sigma2); sigma2 is taken exactly as given. */
export function discreteGaussianParameters(sigma2: number): DiscreteGaussianParameters {
  if (!(sigma2 > 0) || !(Math.sqrt(sigma2) <= MAX_DISCRETE_SIGMA)) {
    throw new RangeError(`discrete Gaussian needs 0 < sigma <= 2^30, got sigma^2 = ${sigma2}`);
  }
  // Any t > 0 gives the exact distribution; floor(sigma) + 1 is CKS's choice for a good acceptance rate.
  const t = Math.floor(Math.sqrt(sigma2)) + 1;
  return { sigma2, t, limit: TWO_32 - (TWO_32 % t), exact: exactDyadic(sigma2) };
}

/** Algorithm 3's acceptance exponent gamma = (|y| - sigma^2/t)^2 / (2 sigma^2) as an exact fraction: (|y| t 2^e - m)^2 / (2^(e+1) m t^2) for sigma^2 = m / 2^e. */
export function gaussianAcceptanceExponent(y: number, p: DiscreteGaussianParameters): { num: bigint; den: bigint } {
  const { mantissa: m, shift: e } = p.exact;
  const t = BigInt(p.t);
  const diff = BigInt(Math.abs(y)) * t * (1n << e) - m;
  return { num: diff * diff, den: (1n << (e + 1n)) * m * t * t };
}

/** An exact positive fraction. */
interface Fraction {
  num: bigint;
  den: bigint;
}

/**
 * Bounds lo <= exp(-num/den) <= hi from the alternating Taylor series: for x in [0, 1] the terms
 * x^i / i! decrease, so a partial sum ending on a subtracted term is below the limit and one ending
 * on an added term above it; exp(-x) = exp(-1)^floor(x) exp(-frac(x)) multiplies the bounds.
 */
export function expNegBounds(num: bigint, den: bigint, terms: number): { lo: Fraction; hi: Fraction } {
  const whole = num / den;
  const unit = seriesBounds(1n, 1n, terms);
  const frac = seriesBounds(num % den, den, terms);
  return {
    lo: { num: unit.lo.num ** whole * frac.lo.num, den: unit.lo.den ** whole * frac.lo.den },
    hi: { num: unit.hi.num ** whole * frac.hi.num, den: unit.hi.den ** whole * frac.hi.den },
  };
}

/** exp(-x) for x = fn/fd in [0, 1] between its partial sums ending on term m (odd: below) and m - 1 (even: above). */
function seriesBounds(fn: bigint, fd: bigint, terms: number): { lo: Fraction; hi: Fraction } {
  const m = terms % 2 === 1 ? terms : terms + 1;
  // Common denominator fd^m m!: term i is fn^i fd^(m-i) m!/i! over it, an exact integer.
  let den = 1n;
  for (let i = 1; i <= m; i++) den *= fd * BigInt(i);
  let sum = 0n;
  let term = den;
  let last = 0n;
  for (let i = 0; i <= m; i++) {
    if (i > 0) term = (term * fn) / (fd * BigInt(i));
    last = i % 2 === 0 ? term : -term;
    sum += last;
  }
  return { lo: { num: sum, den }, hi: { num: sum - last, den } };
}

/**
 * Whether V < p for a uniform V whose bits drawn so far are `words` and a number p known through
 * exact bounds `exact(terms)` that tighten as `terms` grows: further bits of V are drawn, 32 at a
 * time, until V's interval lies on one side of the bounds.
 */
function belowExact(bits: RandomWords, words: number[], exact: (terms: number) => { lo: Fraction; hi: Fraction }): boolean {
  for (let terms = 25; ; terms += 16) {
    const { lo, hi } = exact(terms);
    let v = 0n;
    for (const word of words) v = (v << 32n) | BigInt(word);
    const scale = 32n * BigInt(words.length);
    // V lies in [v / 2^scale, (v + 1) / 2^scale).
    if ((v + 1n) * lo.den <= lo.num << scale) return true;
    if (v * hi.den >= hi.num << scale) return false;
    words.push(bits.next());
  }
}

/** True when the first 32 bits w of V put it surely below estimate - margin, false when surely above estimate + margin, undefined otherwise. */
function settled(w: number, estimate: number, margin: number): boolean | undefined {
  if ((w + 1) / TWO_32 <= estimate - margin) return true;
  if (w / TWO_32 >= estimate + margin) return false;
  return undefined;
}

// Math.exp is within one ulp in V8 (fdlibm); this margin is 2^13 ulps.
const EXP_RELATIVE_ERROR = 2 ** -40;
const EXP_NEG: readonly number[] = Array.from({ length: 64 }, (_, k) => Math.exp(-k));

/**
 * One proposal of CKS 2020 Algorithm 3 with its Algorithm 2 proposal inlined: U uniform below t kept
 * with probability exp(-U/t), V geometric with P(V >= k) = e^-k, a random sign (a negative zero is
 * rejected), and Y = +-(U + t V) accepted with probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)).
 * Every rejection restarts from a fresh U, as both algorithms' loops do, so repeating until
 * acceptance gives their output. Each comparison of a uniform with exp(-x) is decided by its first
 * 32 bits against a floating-point estimate with a proven error margin, or, about once in 2^32,
 * exactly from further bits and series bounds (Algorithm 1's role).
 */
function proposeAndAccept(bits: RandomWords, p: DiscreteGaussianParameters): number | undefined {
  const { sigma2: s, t } = p;
  const u = uniformBelowWithLimit(bits, t, p.limit);
  // Algorithm 2's own test, Bernoulli(exp(-U/t)), first: a rejection here needs no V, sign or Gaussian test.
  const unitEstimate = Math.exp(-u / t);
  const unitWord = bits.next();
  let keep = settled(unitWord, unitEstimate, unitEstimate * (EXP_RELATIVE_ERROR + 4 * UNIT_ROUNDOFF));
  keep ??= belowExact(bits, [unitWord], (terms) => expNegBounds(BigInt(u), BigInt(t), terms));
  if (!keep) return undefined;
  // One uniform W decides V: V >= k exactly when W < e^-k. Bits drawn beyond the first are kept for the next k.
  const w = bits.next();
  let words: number[] | undefined;
  let v = 0;
  for (;;) {
    const k = v + 1;
    const threshold = k < EXP_NEG.length ? EXP_NEG[k] : Math.exp(-k);
    let below = settled(w, threshold, threshold * EXP_RELATIVE_ERROR);
    if (below === undefined) {
      words ??= [w];
      below = belowExact(bits, words, (terms) => expNegBounds(BigInt(k), 1n, terms));
    }
    if (!below) break;
    v = k;
  }
  const negative = (bits.next() & 1) === 1;
  const ay = u + t * v;
  if (negative && ay === 0) return undefined;
  // r = (|y| - s/t)^2 / (2s); each operation errs by at most one unit roundoff relative, and
  // |y| - s/t by at most 2u (|y| + s/t) absolutely. Doubling the bound covers its own rounding.
  const ratio = s / t;
  const a = ay - ratio;
  const g = (a * a) / (2 * s);
  const ea = 2 * UNIT_ROUNDOFF * (ay + ratio);
  const err = 2 * ((ea * (2 * (ay + ratio) + ea)) / (2 * s) + 6 * UNIT_ROUNDOFF * g);
  const estimate = Math.exp(-g);
  // |exp(-r) - exp(-g)| <= exp(-g) (e^err - 1) for |r - g| <= err.
  // e^err - 1 <= 1.01 err for err <= 0.01, which spares the transcendental in all but absurd cases.
  const margin = estimate * ((err <= 0.01 ? err : Math.expm1(err)) * 1.01 + EXP_RELATIVE_ERROR) + Number.MIN_VALUE;
  const first = bits.next();
  let accept = settled(first, estimate, margin);
  if (accept === undefined) {
    const { num, den } = gaussianAcceptanceExponent(ay, p);
    accept = belowExact(bits, [first], (terms) => expNegBounds(num, den, terms));
  }
  if (!accept) return undefined;
  return negative ? -ay : ay;
}

/** One draw of the discrete Gaussian N_Z(0, sigma^2): P(x) proportional to exp(-x^2 / (2 sigma^2)) on the integers (CKS 2020 Algorithm 3). */
export function sampleDiscreteGaussian(bits: RandomWords, p: DiscreteGaussianParameters): number {
  for (;;) {
    const y = proposeAndAccept(bits, p);
    if (y !== undefined) return y;
  }
}
