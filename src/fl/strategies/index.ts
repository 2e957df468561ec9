import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.js';
import { FedAvg } from './fedavg.js';
import { FedAdam, FedOptOptionsSchema, FedYogi } from './fedopt.js';
import { FedProx, FedProxOptionsSchema } from './fedprox.js';
import { Krum, KrumOptionsSchema } from './krum.js';
import { Median } from './median.js';
import { NormBounding, NormBoundingOptionsSchema } from './norm-bounding.js';
import type { Strategy } from './strategy.js';
import { TrimmedMean, TrimmedMeanOptionsSchema } from './trimmed-mean.js';

export { AggregationError, checkUpdates } from './strategy.js';
export type { AggregationErrorCode, ClientUpdate, FitInstructions, Strategy } from './strategy.js';
export { FedAvg, weightedAverage } from './fedavg.js';
export { FedProx, FedProxOptionsSchema } from './fedprox.js';
export type { FedProxOptions } from './fedprox.js';
export { FedAdam, FedOpt, FedOptOptionsSchema, FedYogi } from './fedopt.js';
export type { FedOptOptions } from './fedopt.js';
export { DpFixedClipping, type DpFixedClippingOptions } from './dp-fixed-clipping.js';
export { Krum, KrumOptionsSchema, krumSelect, type KrumOptions } from './krum.js';
export { Median, coordinateMedian } from './median.js';
export { TrimmedMean, TrimmedMeanOptionsSchema, trimmedMean, type TrimmedMeanOptions } from './trimmed-mean.js';
export { NormBounding, NormBoundingOptionsSchema, boundUpdate, type NormBoundingOptions } from './norm-bounding.js';

/** The aggregation rules a wrapper such as norm bounding can wrap, discriminated on `name`. */
export const BaseStrategyConfigSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('fedavg') }).strict(),
  FedProxOptionsSchema.extend({ name: z.literal('fedprox') }).strict(),
  FedOptOptionsSchema.extend({ name: z.literal('fedadam') }).strict(),
  FedOptOptionsSchema.extend({ name: z.literal('fedyogi') }).strict(),
  KrumOptionsSchema.extend({ name: z.literal('krum') }).strict(),
  z.object({ name: z.literal('median') }).strict(),
  TrimmedMeanOptionsSchema.extend({ name: z.literal('trimmed-mean') }).strict(),
]);

/** A job configuration's choice of aggregation strategy, discriminated on `name`. */
export const StrategyConfigSchema = z.discriminatedUnion('name', [
  ...BaseStrategyConfigSchema.options,
  NormBoundingOptionsSchema.extend({ name: z.literal('norm-bounding'), inner: BaseStrategyConfigSchema.default({ name: 'fedavg' }) }).strict(),
]);
export type StrategyConfig = z.input<typeof StrategyConfigSchema>;

/** Builds the strategy a job configuration names; throws InvalidInputError 'STRATEGY_CONFIG_INVALID' on a bad config. */
export function createStrategy(config: StrategyConfig): Strategy {
  const parsed = StrategyConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new InvalidInputError(
      'STRATEGY_CONFIG_INVALID',
      `strategy config is invalid (${parsed.error.issues.map((i) => `${i.path.join('.') || 'name'}: ${i.message}`).join('; ')}); name one of fedavg, fedprox {mu}, fedadam {eta}, fedyogi {eta}, krum {f, m?}, median, trimmed-mean {beta}, norm-bounding {maxNorm, inner?}`,
      parsed.error.issues,
    );
  }
  const c = parsed.data;
  switch (c.name) {
    case 'fedavg':
      return new FedAvg();
    case 'fedprox':
      return new FedProx({ mu: c.mu });
    case 'fedadam':
      return new FedAdam({ eta: c.eta, beta1: c.beta1, beta2: c.beta2, tau: c.tau });
    case 'fedyogi':
      return new FedYogi({ eta: c.eta, beta1: c.beta1, beta2: c.beta2, tau: c.tau });
    case 'krum':
      return new Krum({ f: c.f, m: c.m });
    case 'median':
      return new Median();
    case 'trimmed-mean':
      return new TrimmedMean({ beta: c.beta });
    case 'norm-bounding':
      return new NormBounding(createStrategy(c.inner), { maxNorm: c.maxNorm });
  }
}
