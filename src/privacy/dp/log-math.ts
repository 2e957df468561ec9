/**
 * Log-space arithmetic and the complementary error function the RDP accountant needs.
 * Probabilities of order e^-700 and moment sums of order e^+700 both occur there, so every sum is
 * carried as a logarithm.
 */

/** log(e^a + e^b) without overflow; -Infinity stands for log(0). */
export function logAdd(a: number, b: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

/** log(e^a - e^b) for a >= b; -Infinity when they are equal. */
export function logSub(a: number, b: number): number {
  if (a < b) throw new RangeError(`logSub needs a >= b, got a=${a}, b=${b}`);
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  return Math.log(-Math.expm1(b - a)) + a;
}

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
// Below this the series for erf is accurate to about 1e-11 relative on erfc; above it the continued
// fraction converges in a few dozen terms.
const SERIES_LIMIT = 3;

/** erf(x) for |x| <= 3 from the all-positive series erf(x) = 2/sqrt(pi) e^-x^2 sum 2^n x^(2n+1) / (2n+1)!! (Abramowitz & Stegun 7.1.6). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/**
 * log(erfc(x)) for x > 3 from the continued fraction erfc(x) = e^-x^2 / sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
 * (Abramowitz & Stegun 7.1.14), evaluated by the modified Lentz method so that e^-x^2 never underflows.
 */
function logErfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? tiny : d;
    c = x + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return -x * x - LOG_SQRT_PI - Math.log(f);
}

/** log(erfc(x)), accurate in the far tail where erfc(x) underflows a double. */
export function logErfc(x: number): number {
  if (x > SERIES_LIMIT) return logErfcContinuedFraction(x);
  if (x >= 0) return Math.log(1 - erfSeries(x));
  if (x >= -SERIES_LIMIT) return Math.log(1 + erfSeries(-x));
  // erfc(x) = 2 - erfc(-x) and erfc(-x) < 2.3e-5 here.
  return Math.log(2 - Math.exp(logErfcContinuedFraction(-x)));
}
