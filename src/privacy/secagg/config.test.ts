import { describe, expect, it } from 'vitest';
import { ClientSecAgg } from './client.js';
import { createRoundConfig, parseRoundConfig, type RoundConfig } from './config.js';
import { generateIdentity } from './keys.js';
import { DEFAULT_DELTA, DEFAULT_GAMMA, chooseParameters } from './params.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `c${i}`);
const invalid = (field: string) => expect.objectContaining({ code: 'SECAGG_CONFIG_INVALID', message: expect.stringContaining(`'${field}'`) });

describe('createRoundConfig: parameters from the threat model', () => {
  it('chooses the least degree and threshold with 2^-40 guarantees for the default gamma and delta', () => {
    const config = createRoundConfig({ participants: ids(100), vectorLength: 4, clip: 1 });
    const chosen = chooseParameters({ n: 100, gamma: DEFAULT_GAMMA, delta: DEFAULT_DELTA });
    expect(config).toMatchObject({ gamma: DEFAULT_GAMMA, delta: DEFAULT_DELTA, degree: chosen.degree, threshold: chosen.threshold, minSummands: chosen.threshold });
    expect(2 * config.threshold).toBeGreaterThan((config.degree + 1) * (1 + config.gamma));
  });

  it('gives a chosen degree the least secure threshold, and follows gamma and delta', () => {
    const config = createRoundConfig({ participants: ids(15), vectorLength: 4, clip: 1, gamma: 2 / 15, delta: 0, degree: 14 });
    expect(config.threshold).toBe(9);
    const bigger = createRoundConfig({ participants: ids(100), vectorLength: 4, clip: 1, gamma: 0.2, delta: 0.2 });
    const smaller = createRoundConfig({ participants: ids(100), vectorLength: 4, clip: 1, gamma: 0.05, delta: 0.05 });
    expect(bigger.degree).toBeGreaterThan(smaller.degree);
  });

  it('refuses parameters that give no guarantee, naming the field and the bound', () => {
    const base = { participants: ids(15), vectorLength: 4, clip: 1, delta: 0 };
    // The review's attack: 15 holders, t = 8, one colluder reaches t with two survivor views.
    expect(() => createRoundConfig({ ...base, gamma: 2 / 15, degree: 14, threshold: 8 })).toThrow(invalid('threshold'));
    expect(() => createRoundConfig({ ...base, gamma: 2 / 15, degree: 14, threshold: 8 })).toThrow(/2t > \(k \+ 1\)\(1 \+ gamma\) = 17/);
    expect(() => createRoundConfig({ ...base, gamma: 1, degree: 14, threshold: 15 })).toThrow(invalid('gamma'));
    expect(() => createRoundConfig({ ...base, gamma: 0, degree: 15, threshold: 8 })).toThrow(invalid('degree'));
    expect(() => createRoundConfig({ participants: ids(200), vectorLength: 4, clip: 1, gamma: 0.45, delta: 0, degree: 3, threshold: 4 })).toThrow(invalid('degree'));
    // No degree at all serves half the participants colluding.
    expect(() => createRoundConfig({ participants: ids(100), vectorLength: 4, clip: 1, gamma: 0.5, delta: 0.25 })).toThrow(/no degree and threshold give 2\^-40/);
  });

  it('takes no graph seed from the coordinator: a seed is ignored when creating and refused when parsing', () => {
    const withSeed = { participants: ids(10), vectorLength: 4, clip: 1, graphSeed: new Uint8Array(32) } as Parameters<typeof createRoundConfig>[0];
    const config = createRoundConfig(withSeed);
    expect(config).not.toHaveProperty('graphSeed');
    const old = { ...config, graphSeed: Buffer.alloc(32).toString('base64') };
    expect(() => parseRoundConfig(old)).toThrow(/unknown field 'graphSeed'/);
    const identity = generateIdentity();
    expect(() => new ClientSecAgg({ id: 'c0', config: old as RoundConfig, identity: identity.privateKey, identityKeys: new Map() })).toThrow(invalid('graphSeed'));
  });
});

describe('a client enforces its own policy before sending anything', () => {
  const identity = generateIdentity();
  const client = (config: RoundConfig, policy?: ConstructorParameters<typeof ClientSecAgg>[0]['policy']) =>
    new ClientSecAgg({ id: 'c0', config, identity: identity.privateKey, identityKeys: new Map([['c0', identity.publicKey]]), policy });
  const refused = (field: string) => expect.objectContaining({ code: 'SECAGG_CONFIG_REFUSED', details: expect.objectContaining({ field }) });

  it('accepts the default config with the default policy, and a policy the config meets', () => {
    const config = createRoundConfig({ participants: ids(100), vectorLength: 4, clip: 1 });
    expect(client(config).advertiseKeys()).toBeInstanceOf(Uint8Array);
    expect(() => client(config, { gamma: 0.05, minDegree: config.degree, minSummands: config.minSummands })).not.toThrow();
  });

  it('refuses a config built for fewer colluders than it assumes (the coordinator can propose, not impose)', () => {
    // A coordinator declaring gamma = 0: a least majority of each client's holders.
    const config = createRoundConfig({ participants: ids(100), vectorLength: 4, clip: 1, gamma: 0, delta: 0.1 });
    expect(() => client(config)).toThrow(refused('threshold'));
    expect(() => client(config)).toThrow(/this client assumes gamma = 0\.1 \(the config says 0\)/);
    expect(() => client(config, { gamma: 0 })).not.toThrow();
  });

  it('refuses a degree or a sum floor below its minimums, naming the field', () => {
    const config = createRoundConfig({ participants: ids(100), vectorLength: 4, clip: 1 });
    expect(() => client(config, { minDegree: config.degree + 1 })).toThrow(refused('degree'));
    expect(() => client(config, { minSummands: config.minSummands + 1 })).toThrow(refused('minSummands'));
    expect(() => client(config, { gamma: 0.3 })).toThrow(expect.objectContaining({ code: 'SECAGG_CONFIG_REFUSED', message: expect.stringContaining('gamma = 0.3') }));
    // A degree minimum above the other participants means "everyone": the complete graph meets it.
    const complete = createRoundConfig({ participants: ids(5), vectorLength: 4, clip: 1, degree: 4 });
    expect(() => client(complete, { minDegree: 50 })).not.toThrow();
  });
});
