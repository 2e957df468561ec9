import { SecAggError } from './errors.js';

/**
 * Parameter selection of SecAgg+ (Bell, Bonawitz, Gascón, Lepoint, Raykova, CCS 2020; the same search
 * as Google's `graph_parameter_finder` for a semi-malicious server), adapted to this protocol:
 * every client v picks its k share holders Out(v) itself, uniformly among the other n - 1
 * participants, and Shamir-shares its secrets among H(v) = {v} ∪ Out(v), so k + 1 shares with
 * threshold t. Of the n participants, at most C = ⌊γn⌋ collude with the coordinator and at most
 * D = ⌊δn⌋ drop out. For a degree k the checks are, with σ = SECURITY_BITS and η = CORRECTNESS_BITS:
 *
 * 1. colluding holders: X ~ Hypergeometric(n - 1, C, k) is the number of colluders among an honest
 *    client's holders; A(k) is the least a with P[X > a] ≤ 2^-(σ+1) / n (a union bound over the n clients);
 * 2. threshold: 2t > k + 1 + A(k) and 2t > (k + 1)(1 + γ). Two sets of holders that each reach t
 *    together hold at least 2t - c shares, so with c ≤ A(k) colluders (who sign both) two survivor
 *    views cannot both reach t among k + 1 holders (`graph_parameter_finder`'s SEMI_MALICIOUS_SERVER
 *    rule, here counting the owner's own share);
 * 3. correctness (an honest coordinator; a colluder that withholds is one of the drop-outs): with the
 *    owner staying, Y ~ Hypergeometric(n - 1, n - 1 - D, k) holders stay and P[Y + 1 < t] ≤ 2^-η / n;
 *    with the owner dropping, Y ~ Hypergeometric(n - 1, n - D, k) and P[Y < t] ≤ 2^-η / n;
 * 4. connectivity: the masking graph restricted to the m = n - C - D honest survivors is connected except
 *    with probability ≤ 2^-(σ+1) (Bell et al.'s condition that the coordinator learns only the sum of all
 *    of them), bounded by Σ_{1≤s≤m/2} C(m, s) q₁(s)^s q₂(s)^(m-s), q₁(s) = C(n-1-(m-s), k)/C(n-1, k) and
 *    q₂(s) = C(n-1-s, k)/C(n-1, k): a set S of s survivors is cut off only if its members choose no
 *    survivor outside S and no survivor outside S chooses one of S.
 *
 * The least k (1 ≤ k ≤ n - 1) that passes all four gives the round's degree, and the least t of
 * rule 2 its threshold; k = n - 1 is the complete graph of Bonawitz et al. 2017.
 */

/** The protocol's security parameter: a round's privacy guarantee fails with probability below 2^-40. */
export const SECURITY_BITS = 40;
/** The correctness parameter: a round with at most the declared drop-outs aborts with probability below 2^-40. */
export const CORRECTNESS_BITS = 40;

/** Fraction of participants assumed to collude with the coordinator when a config does not say. */
export const DEFAULT_GAMMA = 0.1;
/** Fraction of participants assumed to drop out during a round when a config does not say. */
export const DEFAULT_DELTA = 0.1;

/** Who may misbehave in a round of n participants. */
export interface ThreatModel {
  /** Participants n. */
  n: number;
  /** Fraction γ of participants that may collude with the coordinator (sign anything, reveal all they hold). */
  gamma: number;
  /** Fraction δ of participants that may drop out at any stage. */
  delta: number;
}

/** A round's degree and threshold and what they were derived from. */
export interface SecAggParameters {
  /** Share holders k each client chooses besides itself. */
  degree: number;
  /** Shamir threshold t of the k + 1 shares. */
  threshold: number;
  /** A(k): colluders among an honest client's holders exceed this with probability ≤ 2^-(σ+1)/n. */
  colludingHolders: number;
  /** Most clients that may choose one client as a holder before it refuses the round (a flood). */
  maxInDegree: number;
}

/** A rule a (degree, threshold) pair breaks, naming the config field and the bound. */
export interface ParameterViolation {
  field: 'degree' | 'threshold' | 'gamma' | 'delta';
  /** The bound as a formula with its value, e.g. `2t > (k + 1)(1 + gamma) = 13.2`. */
  bound: string;
  message: string;
}

const LN2 = Math.LN2;
// Floating-point slack on the relation 2t > (k + 1)(1 + γ): never lets a t through that exact arithmetic would refuse.
const SLACK = 1e-9;

function counts(model: ThreatModel): { colluders: number; dropouts: number } {
  return { colluders: Math.floor(model.gamma * model.n + SLACK), dropouts: Math.floor(model.delta * model.n + SLACK) };
}

/** ln(i!) for i ≤ the largest n asked for so far (cumulative sums of ln i: exact to about 1e-10 here). */
let logFactorials = new Float64Array([0, 0]);

function lnFactorial(i: number): number {
  if (i >= logFactorials.length) {
    const grown = new Float64Array(Math.max(i + 1, 2 * logFactorials.length));
    grown.set(logFactorials);
    for (let j = logFactorials.length; j < grown.length; j++) grown[j] = grown[j - 1] + Math.log(j);
    logFactorials = grown;
  }
  return logFactorials[i];
}

/** ln C(a, b), -Infinity when b is outside [0, a]. */
function lnChoose(a: number, b: number): number {
  if (b < 0 || b > a || a < 0) return -Infinity;
  return lnFactorial(a) - lnFactorial(b) - lnFactorial(a - b);
}

/** ln of P[X = x] for X ~ Hypergeometric(population, successes, draws), x = 0 .. draws. */
function hypergeometricLogPmf(population: number, successes: number, draws: number): Float64Array {
  const out = new Float64Array(draws + 1);
  const total = lnChoose(population, draws);
  for (let x = 0; x <= draws; x++) out[x] = lnChoose(successes, x) + lnChoose(population - successes, draws - x) - total;
  return out;
}

function logSumExp(terms: Iterable<number>): number {
  let max = -Infinity;
  const list = [...terms];
  for (const v of list) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of list) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** Least a with ln P[X > a] ≤ lnBound, for a distribution given by its log pmf on 0 .. length - 1. */
function upperQuantile(logPmf: Float64Array, lnBound: number): number {
  let tail = -Infinity;
  for (let a = logPmf.length - 1; a >= 0; a--) {
    // tail is ln P[X > a]; adding P[X = a] gives ln P[X > a - 1].
    const next = logSumExp([tail, logPmf[a]]);
    if (next > lnBound) return a;
    tail = next;
  }
  return -1;
}

/** ln P[X < x] for a distribution given by its log pmf. */
function lowerTail(logPmf: Float64Array, x: number): number {
  return logSumExp(logPmf.subarray(0, Math.max(0, Math.min(x, logPmf.length))));
}

/** A(k): the colluders among an honest client's k holders exceed it with probability ≤ 2^-(σ+1)/n (rule 1). */
export function colludingHolderBound(n: number, gamma: number, degree: number): number {
  const { colluders } = counts({ n, gamma, delta: 0 });
  const lnBound = -(SECURITY_BITS + 1) * LN2 - Math.log(n);
  return Math.max(0, upperQuantile(hypergeometricLogPmf(n - 1, Math.min(colluders, n - 1), degree), lnBound));
}

/** The least t with 2t > x, erring upwards when x is within floating-point slack of an even integer. */
function leastAbove(x: number): number {
  return Math.floor(x / 2 + SLACK) + 1;
}

/** The least threshold that rule 2 allows for degree k: 2t > k + 1 + A(k) and 2t > (k + 1)(1 + γ). */
export function leastSecureThreshold(n: number, gamma: number, degree: number): number {
  return Math.max(leastAbove(degree + 1 + colludingHolderBound(n, gamma, degree)), leastAbove((degree + 1) * (1 + gamma)));
}

/** ln of the bound of rule 4 on the honest survivors' masking graph being disconnected. */
function lnDisconnected(model: ThreatModel, degree: number): number {
  const { colluders, dropouts } = counts(model);
  const others = model.n - 1;
  const m = model.n - colluders - dropouts;
  if (m <= 1 || degree >= others) return -Infinity;
  const all = lnChoose(others, degree);
  const terms: number[] = [];
  for (let s = 1; s <= Math.floor(m / 2); s++) {
    const inside = lnChoose(others - (m - s), degree) - all;
    const outside = lnChoose(others - s, degree) - all;
    if (inside === -Infinity || outside === -Infinity) continue;
    terms.push(lnChoose(m, s) + s * inside + (m - s) * outside);
  }
  return logSumExp(terms);
}

/**
 * ln P[a needed secret has fewer than t cooperating holders] for one client (rule 3): the worse of
 * an owner that stays (its own share counts, all D drop-outs among the others) and one that drops
 * (its own share is gone, D - 1 drop-outs among the others).
 */
function lnTooFewHolders(model: ThreatModel, degree: number, threshold: number): number {
  const { dropouts } = counts(model);
  const others = model.n - 1;
  const stays = lowerTail(hypergeometricLogPmf(others, Math.max(0, others - dropouts), degree), threshold - 1);
  if (dropouts === 0) return stays;
  return Math.max(stays, lowerTail(hypergeometricLogPmf(others, others - dropouts + 1, degree), threshold));
}

const inDegrees = new Map<string, number>();

/** Most clients that may choose one client as a holder: Binomial(n - 1, k/(n - 1)) exceeds it with probability ≤ 2^-η/n. */
export function maxInDegree(n: number, degree: number): number {
  const others = n - 1;
  if (degree >= others) return others;
  const key = `${n}:${degree}`;
  const known = inDegrees.get(key);
  if (known !== undefined) return known;
  const p = degree / others;
  const logPmf = new Float64Array(others + 1);
  for (let x = 0; x <= others; x++) logPmf[x] = lnChoose(others, x) + x * Math.log(p) + (others - x) * Math.log1p(-p);
  const bound = upperQuantile(logPmf, -CORRECTNESS_BITS * LN2 - Math.log(n));
  if (inDegrees.size > 1024) inDegrees.clear();
  inDegrees.set(key, bound);
  return bound;
}

function format(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}

function checkModel(model: ThreatModel): ParameterViolation | undefined {
  const { colluders, dropouts } = counts(model);
  if (!(model.gamma >= 0 && model.gamma < 1)) return { field: 'gamma', bound: '0 <= gamma < 1', message: `gamma must be a fraction from 0 to below 1, got ${model.gamma}` };
  if (!(model.delta >= 0 && model.delta < 1)) return { field: 'delta', bound: '0 <= delta < 1', message: `delta must be a fraction from 0 to below 1, got ${model.delta}` };
  if (colluders + dropouts >= model.n) {
    return {
      field: 'delta',
      bound: `floor(gamma n) + floor(delta n) < n = ${model.n}`,
      message: `with ${colluders} colluding and ${dropouts} dropping of ${model.n} participants no honest client is left to protect; lower gamma or delta`,
    };
  }
  return undefined;
}

const memo = new Map<string, ParameterViolation | null>();

/**
 * The first of rules 1-4 that (degree, threshold) breaks for the threat model, or undefined when the
 * pair gives 2^-40 security and correctness. Messages name the field and the bound.
 */
export function checkParameters(model: ThreatModel & { degree: number; threshold: number }): ParameterViolation | undefined {
  const key = `${model.n}:${model.gamma}:${model.delta}:${model.degree}:${model.threshold}`;
  const known = memo.get(key);
  if (known !== undefined) return known ?? undefined;
  const violation = findViolation(model);
  if (memo.size > 4096) memo.clear();
  memo.set(key, violation ?? null);
  return violation;
}

function findViolation(model: ThreatModel & { degree: number; threshold: number }): ParameterViolation | undefined {
  const bad = checkModel(model);
  if (bad) return bad;
  const { n, gamma, degree: k, threshold: t } = model;
  if (!Number.isInteger(k) || k < 1 || k > n - 1) {
    return { field: 'degree', bound: `1 <= k <= n - 1 = ${n - 1}`, message: `degree must be an integer from 1 to ${n - 1} (the other participants), got ${k}` };
  }
  if (!Number.isInteger(t) || t < 1 || t > k + 1) {
    return { field: 'threshold', bound: `t <= k + 1 = ${k + 1}`, message: `threshold must be an integer from 1 to the ${k + 1} shares of each client, got ${t}` };
  }
  const relation = (k + 1) * (1 + gamma);
  if (!(2 * t > relation + SLACK)) {
    return {
      field: 'threshold',
      bound: `2t > (k + 1)(1 + gamma) = ${format(relation)}`,
      message:
        `threshold ${t} of ${k + 1} shares lets a coordinator with ${format(gamma * (k + 1))} colluding holders reach t with two different survivor sets ` +
        `and rebuild both secrets of a client; use threshold >= ${leastAbove(relation)} (2t > (k + 1)(1 + gamma) = ${format(relation)})`,
    };
  }
  const colluding = colludingHolderBound(n, gamma, k);
  if (!(2 * t > k + 1 + colluding)) {
    return {
      field: 'threshold',
      bound: `2t > k + 1 + A = ${k + 1 + colluding}`,
      message:
        `threshold ${t}: with gamma = ${gamma} of ${n} colluding, a client's ${k} holders include up to ${colluding} colluders (all but 2^-${SECURITY_BITS + 1}/n), ` +
        `so two survivor views could both reach t; use threshold >= ${leastAbove(k + 1 + colluding)}`,
    };
  }
  const failure = lnTooFewHolders(model, k, t);
  if (failure > -CORRECTNESS_BITS * LN2 - Math.log(n)) {
    const bits = -(failure + Math.log(n)) / LN2;
    return {
      field: 'threshold',
      bound: `P[fewer than t cooperating holders] <= 2^-${CORRECTNESS_BITS}/n`,
      message:
        `threshold ${t} of ${k + 1}: with delta = ${model.delta} dropping and gamma = ${gamma} withholding, a client keeps fewer than t holders with probability ` +
        `2^-${bits.toFixed(1)} per round; raise the degree or lower delta`,
    };
  }
  if (lnDisconnected(model, k) > -(SECURITY_BITS + 1) * LN2) {
    const bits = -lnDisconnected(model, k) / LN2;
    return {
      field: 'degree',
      bound: `P[honest survivors' graph disconnected] <= 2^-${SECURITY_BITS + 1}`,
      message: `degree ${k}: the honest survivors' masking graph is disconnected with probability 2^-${bits.toFixed(1)}, so the coordinator could learn partial sums; raise the degree`,
    };
  }
  return undefined;
}

const chosen = new Map<string, SecAggParameters>();

/**
 * The least degree k, and for it the least threshold t, that give 2^-40 security and correctness
 * for the threat model (rules 1-4 above); the complete graph k = n - 1 if nothing smaller does.
 * Throws SECAGG_CONFIG_INVALID when not even the complete graph does.
 */
export function chooseParameters(model: ThreatModel): SecAggParameters {
  const key = `${model.n}:${model.gamma}:${model.delta}`;
  const known = chosen.get(key);
  if (known) return known;
  const bad = checkModel(model);
  if (bad) throw new SecAggError('SECAGG_CONFIG_INVALID', `secure aggregation config field '${bad.field}': ${bad.message} (${bad.bound})`, bad);
  const { n, gamma } = model;
  const pick = (k: number): SecAggParameters | undefined => {
    const threshold = leastSecureThreshold(n, gamma, k);
    if (checkParameters({ ...model, degree: k, threshold })) return undefined;
    return { degree: k, threshold, colludingHolders: colludingHolderBound(n, gamma, k), maxInDegree: maxInDegree(n, k) };
  };
  let result: SecAggParameters | undefined;
  for (let k = 1; k < n - 1 && !result; k++) {
    // Beyond a few hundred participants, a threat model that even the complete graph cannot serve has
    // honest survivors below about (1 + gamma)/2 of the others, which no smaller degree can fix either
    // (its holder counts only spread wider): skip the O(n^2) search.
    if (k === 1 && n > 256 && !pick(n - 1)) break;
    result = pick(k);
  }
  result ??= pick(n - 1);
  if (!result) {
    const violation = checkParameters({ ...model, degree: n - 1, threshold: Math.min(n, leastSecureThreshold(n, gamma, n - 1)) });
    throw new SecAggError(
      'SECAGG_CONFIG_INVALID',
      `secure aggregation config: no degree and threshold give 2^-${SECURITY_BITS} security and correctness for n = ${n}, gamma = ${gamma}, delta = ${model.delta}` +
        (violation ? ` (even the complete graph breaks '${violation.field}': ${violation.bound})` : '') +
        '; add participants or lower gamma or delta',
      { n, gamma, delta: model.delta, violation },
    );
  }
  if (chosen.size > 1024) chosen.clear();
  chosen.set(key, result);
  return result;
}
