import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { createStrategy, FedAdam, FedAvg, FedProx, FedYogi, Krum, Median, NormBounding, StrategyConfigSchema, TrimmedMean } from './index.js';

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

  it('builds the robust rules and norm bounding around any base rule', () => {
    const krum = createStrategy({ name: 'krum', f: 2 });
    expect(krum).toBeInstanceOf(Krum);
    expect((krum as Krum).options).toEqual({ f: 2, m: 1 });
    expect(createStrategy({ name: 'krum', f: 2, m: 6 }).name).toBe('multi-krum');
    expect(createStrategy({ name: 'median' })).toBeInstanceOf(Median);
    expect((createStrategy({ name: 'trimmed-mean', beta: 0.2 }) as TrimmedMean).beta).toBe(0.2);
    const bounded = createStrategy({ name: 'norm-bounding', maxNorm: 2 });
    expect(bounded).toBeInstanceOf(NormBounding);
    expect(bounded.name).toBe('norm-bounding(fedavg)');
    expect(createStrategy({ name: 'norm-bounding', maxNorm: 2, inner: { name: 'median' } }).name).toBe('norm-bounding(median)');
  });

  it('refuses bad robust-rule options and a wrapper inside a wrapper', () => {
    for (const bad of [{ name: 'krum' }, { name: 'krum', f: 1.5 }, { name: 'trimmed-mean', beta: 0.5 }, { name: 'norm-bounding' }, { name: 'median', beta: 1 }]) {
      expect(() => createStrategy(bad as never)).toThrow(expect.objectContaining({ code: 'STRATEGY_CONFIG_INVALID' }));
    }
    const nested = { name: 'norm-bounding', maxNorm: 1, inner: { name: 'norm-bounding', maxNorm: 1 } };
    expect(() => createStrategy(nested as never)).toThrow(/inner/);
  });

  it('parses a job config read from JSON', () => {
    const config = StrategyConfigSchema.parse(JSON.parse('{"name":"fedprox","mu":0.5}'));
    expect(createStrategy(config).name).toBe('fedprox');
  });

  it('refuses an unknown name, a missing option and an unknown option', () => {
    for (const bad of [{ name: 'fedmagic' }, { name: 'fedprox' }, { name: 'fedadam' }, { name: 'fedavg', mu: 1 }]) {
      expect(() => createStrategy(bad as never)).toThrow(InvalidInputError);
    }
    expect(() => createStrategy({ name: 'fedadam', eta: -1 })).toThrow(expect.objectContaining({ code: 'STRATEGY_CONFIG_INVALID' }));
  });
});
