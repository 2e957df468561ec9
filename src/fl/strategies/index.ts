import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.js';
import { FedAvg } from './fedavg.js';
import { FedAdam, FedOptOptionsSchema, FedYogi } from './fedopt.js';
import { FedProx, FedProxOptionsSchema } from './fedprox.js';
import type { Strategy } from './strategy.js';

export { AggregationError } from './strategy.js';
export type { AggregationErrorCode, ClientUpdate, FitInstructions, Strategy } from './strategy.js';
export { FedAvg, weightedAverage } from './fedavg.js';
export { FedProx, FedProxOptionsSchema } from './fedprox.js';
export type { FedProxOptions } from './fedprox.js';
export { FedAdam, FedOpt, FedOptOptionsSchema, FedYogi } from './fedopt.js';
export type { FedOptOptions } from './fedopt.js';
export { DpFixedClipping, type DpFixedClippingOptions } from './dp-fixed-clipping.js';

/** A job configuration's choice of aggregation strategy, discriminated on `name`. */
export const StrategyConfigSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('fedavg') }).strict(),
  FedProxOptionsSchema.extend({ name: z.literal('fedprox') }).strict(),
  FedOptOptionsSchema.extend({ name: z.literal('fedadam') }).strict(),
  FedOptOptionsSchema.extend({ name: z.literal('fedyogi') }).strict(),
]);
export type StrategyConfig = z.input<typeof StrategyConfigSchema>;

/** Builds the strategy a job configuration names; throws InvalidInputError 'STRATEGY_CONFIG_INVALID' on a bad config. */
export function createStrategy(config: StrategyConfig): Strategy {
  const parsed = StrategyConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new InvalidInputError(
      'STRATEGY_CONFIG_INVALID',
      `strategy config is invalid (${parsed.error.issues.map((i) => `${i.path.join('.') || 'name'}: ${i.message}`).join('; ')}); name one of fedavg, fedprox {mu}, fedadam {eta}, fedyogi {eta}`,
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
  }
}
