import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWithSchema } from '../core/index.js';
import { JobConfigSchema, demoConfig, loadJobConfig } from './job-config.js';

const dir = mkdtempSync(join(tmpdir(), 'cn-jobcfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('job config', () => {
  it('fills defaults for everything but the data', () => {
    const config = parseWithSchema({ data: { train: 'a.csv', test: 'b.csv', labelColumn: 'y' } }, JobConfigSchema, 'config');
    expect(config).toMatchObject({
      clients: 10,
      partition: { kind: 'dirichlet', alpha: 0.5 },
      strategy: { name: 'fedavg' },
      execution: { mode: 'workers' },
      data: { header: 'auto', scale: { kind: 'minmax' } },
    });
  });

  it('weighs updates by declared counts without a cap and flags a fall of more than 10 points by default; refuses shares and margins outside their range', () => {
    const config = parseWithSchema({ data: { train: 'a.csv', test: 'b.csv', labelColumn: 'y' } }, JobConfigSchema, 'config');
    expect(config.aggregation).toEqual({ maxWeightShare: 1, robustAt: 'coordinator' });
    expect(config.validation).toEqual({ maxAccuracyDrop: 0.1 });
    const data = { train: 'a.csv', test: 'b.csv', labelColumn: 'y' };
    expect(() => parseWithSchema({ data, aggregation: { maxWeightShare: 0 } }, JobConfigSchema, 'config')).toThrow(/aggregation\.maxWeightShare/);
    expect(() => parseWithSchema({ data, validation: { maxAccuracyDrop: 2 } }, JobConfigSchema, 'config')).toThrow(/validation\.maxAccuracyDrop/);
    expect(parseWithSchema({ data, aggregation: { maxWeightShare: 0.3 }, validation: { maxAccuracyDrop: 0 } }, JobConfigSchema, 'config')).toMatchObject({ aggregation: { maxWeightShare: 0.3 }, validation: { maxAccuracyDrop: 0 } });
  });

  it('accepts the demo config and lets flags override it', () => {
    const config = parseWithSchema(demoConfig({ clients: 4, rounds: 3, seed: 9 }), JobConfigSchema, 'config');
    expect(config).toMatchObject({ clients: 4, rounds: 3, seed: 9, model: { type: 'mlp' } });
  });

  it('runs the poisoning detector by default and reads a simulated attack', () => {
    const config = parseWithSchema({ ...demoConfig(), adversaries: { clients: 3, kind: 'scale' } }, JobConfigSchema, 'config');
    expect(config.detection).toEqual({ enabled: true, minCosine: 0, maxZ: 3.5 });
    expect(config.adversaries).toEqual({ clients: 3, kind: 'scale' });
    const bad = (patch: object) => () => parseWithSchema({ ...demoConfig(), ...patch }, JobConfigSchema, 'config');
    expect(bad({ adversaries: { clients: 2, kind: 'label-flip', factor: 3 } })).toThrow(/adversaries\.factor/);
    expect(bad({ adversaries: { clients: [], kind: 'noise' } })).toThrow(/adversaries\.clients/);
    expect(bad({ detection: { minCosine: 2 } })).toThrow(/detection\.minCosine/);
  });

  it('names the field that is wrong', () => {
    const bad = (patch: object) => () => parseWithSchema({ ...demoConfig(), ...patch }, JobConfigSchema, 'config');
    expect(bad({ rounds: 0 })).toThrow(/rounds/);
    expect(bad({ partition: { kind: 'dirichlet', alpha: -1 } })).toThrow(/partition\.alpha/);
    expect(bad({ strategy: { name: 'fedmagic' } })).toThrow(/strategy/);
    expect(bad({ unknownField: 1 })).toThrow(/unknownField/);
  });

  it('reads a margin over the majority-class baseline and refuses one outside 0..1', () => {
    const config = parseWithSchema({ ...demoConfig(), validation: { minAccuracy: 0.9, minOverBaseline: 0.05 } }, JobConfigSchema, 'config');
    expect(config.validation).toEqual({ minAccuracy: 0.9, minOverBaseline: 0.05, maxAccuracyDrop: 0.1 });
    const bad = (validation: object) => () => parseWithSchema({ ...demoConfig(), validation }, JobConfigSchema, 'config');
    expect(bad({ minOverBaseline: 5 })).toThrow(/validation\.minOverBaseline/);
    expect(bad({ minOverBaseline: -0.1 })).toThrow(/validation\.minOverBaseline/);
    expect(bad({ minOverbaseline: 0.1 })).toThrow(/minOverbaseline/);
  });

  it('resolves data paths against the config file and leaves absolute ones alone', () => {
    const path = join(dir, 'job.yaml');
    writeFileSync(path, 'data:\n  train: sub/train.csv\n  test: /abs/test.csv\n  labelColumn: 0\n');
    const raw = loadJobConfig(path) as { data: { train: string; test: string } };
    expect(raw.data.train).toBe(join(dir, 'sub', 'train.csv'));
    expect(raw.data.test).toBe('/abs/test.csv');
  });

  it('reads JSON too and reports a missing file by path', () => {
    const path = join(dir, 'job.json');
    writeFileSync(path, JSON.stringify({ rounds: 2 }));
    expect(loadJobConfig(path)).toEqual({ rounds: 2 });
    expect(() => loadJobConfig(join(dir, 'absent.yaml'))).toThrow(/absent\.yaml/);
  });

  it('runs an enclave round only on the simulated backend here, alone among the protections, with robust rules allowed', () => {
    const data = { train: 'a.csv', test: 'b.csv', labelColumn: 'y' };
    const parse = (extra: object) => parseWithSchema({ data, ...extra }, JobConfigSchema, 'config');
    expect(parse({ privacy: { tee: 'simulated' }, strategy: { name: 'krum', f: 0, m: 2 } }).privacy).toMatchObject({ tee: 'simulated', teeMemoryMb: 512 });
    for (const kind of ['nitro', 'sgx', 'snp']) expect(() => parse({ privacy: { tee: kind } })).toThrow(new RegExp(`privacy\\.tee.*'${kind}' needs .*this machine does not have`));
    expect(() => parse({ privacy: { tee: 'simulated', secagg: true } })).toThrow(/choose one of privacy\.tee and privacy\.secagg/);
    expect(() => parse({ privacy: { tee: 'simulated' }, compression: { kind: 'q8' } })).toThrow(/cannot be combined with privacy\.tee/);
  });

  it('takes privacy.anonymous with DP or CKKS, and refuses it with SecAgg+, naming the field', () => {
    const data = { train: 'a.csv', test: 'b.csv', labelColumn: 'y' };
    const parse = (extra: object) => parseWithSchema({ data, ...extra }, JobConfigSchema, 'config');
    expect(parse({}).privacy.anonymous).toBe(false);
    expect(parse({ privacy: { anonymous: true, he: 'ckks' } }).privacy).toMatchObject({ anonymous: true, he: 'ckks' });
    expect(parse({ privacy: { anonymous: true, dp: { mode: 'local', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, budget: { epsilon: 10 } } } }).privacy.anonymous).toBe(true);
    expect(() => parse({ privacy: { anonymous: true, secagg: true } })).toThrow(/privacy\.anonymous.*cannot be combined with privacy\.secagg/);
  });
});
