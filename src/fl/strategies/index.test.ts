import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { createStrategy, FedAdam, FedAvg, FedProx, FedYogi, StrategyConfigSchema } from './index.js';

describe('createStrategy', () => {
  it('builds each named strategy', () => {
    expect(createStrategy({ name: 'fedavg' })).toBeInstanceOf(FedAvg);
    const prox = createStrategy({ name: 'fedprox', mu: 0.1 });
    expect(prox).toBeInstanceOf(FedProx);
    expect(prox.configureFit(1).proximalMu).toBe(0.1);
    const adam = createStrategy({ name: 'fedadam', eta: 0.01 });
    expect(adam).toBeInstanceOf(FedAdam);
    expect((adam as FedAdam).options).toEqual({ eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    const yogi = createStrategy({ name: 'fedyogi', eta: 0.01, beta2: 0.9, tau: 1e-2 });
    expect(yogi).toBeInstanceOf(FedYogi);
    expect((yogi as FedYogi).options.beta2).toBe(0.9);
  });

  it('parses a job config read from JSON', () => {
    const config = StrategyConfigSchema.parse(JSON.parse('{"name":"fedprox","mu":0.5}'));
    expect(createStrategy(config).name).toBe('fedprox');
  });

  it('refuses an unknown name, a missing option and an unknown option', () => {
    for (const bad of [{ name: 'krum' }, { name: 'fedprox' }, { name: 'fedadam' }, { name: 'fedavg', mu: 1 }]) {
      expect(() => createStrategy(bad as never)).toThrow(InvalidInputError);
    }
    expect(() => createStrategy({ name: 'fedadam', eta: -1 })).toThrow(expect.objectContaining({ code: 'STRATEGY_CONFIG_INVALID' }));
  });
});
