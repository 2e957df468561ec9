import type { RoundConfig } from './config.js';
import { SecAggConfigRefusedError } from './errors.js';
import { DEFAULT_GAMMA, checkParameters } from './params.js';

/**
 * What a client requires of a round before it sends anything. Across machines the round
 * configuration comes from the coordinator, the party secure aggregation protects against, so a
 * client never takes the config's word for its own safety: it checks the degree and threshold
 * against the collusion it assumes, not the one the coordinator declares.
 */
export interface ClientPolicy {
  /**
   * The largest fraction of participants this client assumes may collude with the coordinator. The
   * config must protect against it: 2t > (k + 1)(1 + gamma), 2t > k + 1 + A(k) and a connected graph
   * of honest survivors at 2^-40 (params.ts), computed with max(this, config.gamma).
   */
  gamma: number;
  /** Fewest share holders k (degree) this client accepts; capped at the other participants. */
  minDegree: number;
  /** Fewest inputs a released sum may hold (e.g. the count its DP noise share is calibrated to). */
  minSummands: number;
}

/** The policy of a client that was given none: the default threat model, any degree and sum size the rules allow. */
export const DEFAULT_CLIENT_POLICY: Readonly<ClientPolicy> = Object.freeze({ gamma: DEFAULT_GAMMA, minDegree: 1, minSummands: 1 });

/** Throws SecAggConfigRefusedError (SECAGG_CONFIG_REFUSED, naming the field) when `config` is below `policy`. */
export function enforceClientPolicy(config: RoundConfig, policy: Readonly<ClientPolicy>): void {
  const n = config.participants.length;
  const minDegree = Math.min(policy.minDegree, n - 1);
  if (config.degree < minDegree) {
    throw new SecAggConfigRefusedError('degree', `k >= ${minDegree}`, `this client requires at least ${minDegree} share holders, the config gives ${config.degree}`);
  }
  if (config.minSummands < policy.minSummands) {
    throw new SecAggConfigRefusedError(
      'minSummands',
      `minSummands >= ${policy.minSummands}`,
      `this client releases its input only in sums of at least ${policy.minSummands} inputs, the config allows ${config.minSummands}`,
    );
  }
  const gamma = Math.max(policy.gamma, config.gamma);
  const violation = checkParameters({ n, gamma, delta: config.delta, degree: config.degree, threshold: config.threshold });
  if (violation) {
    throw new SecAggConfigRefusedError(
      violation.field,
      violation.bound,
      `this client assumes gamma = ${gamma} (the config says ${config.gamma}): ${violation.message}`,
    );
  }
}
