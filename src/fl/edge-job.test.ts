import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseWithSchema } from '../core/index.js';
import { EdgeUnsupportedError, checkEdgeJob, edgeJobConfig, rootJobConfig } from './edge-job.js';
import { JobConfigSchema, type JobConfig } from './job-config.js';
import { weightedAverage } from './strategies/index.js';

const data = { train: 'a.csv', test: 'b.csv', labelColumn: 'y' };
const config = (extra: Record<string, unknown> = {}): JobConfig => parseWithSchema({ data, ...extra }, JobConfigSchema, 'config');

describe('edge job', () => {
  it.each([
    ['privacy.anonymous', { privacy: { anonymous: true } }],
    ['strategy.name', { strategy: { name: 'krum', f: 1 } }],
    ['strategy.name', { strategy: { name: 'norm-bounding', maxNorm: 1 } }],
    ['aggregation.maxWeightShare', { aggregation: { maxWeightShare: 0.5 } }],
  ])('refuses %s, naming the field', (field, extra) => {
    const refused = (() => {
      try {
        checkEdgeJob(config(extra));
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(refused).toBeInstanceOf(EdgeUnsupportedError);
    expect((refused as EdgeUnsupportedError).code).toBe('EDGE_UNSUPPORTED');
    expect((refused as Error).message).toContain(`config field '${field}'`);
  });

  it('runs the root job for its group: FedAvg weighting (FedProx keeps mu), every participant folded, no round limit or thresholds of its own', () => {
    const root = config({ strategy: { name: 'fedadam', eta: 0.03 }, selection: { fraction: 0.5, minClients: 3, maxClients: 9 }, rounds: 4, validation: { minAccuracy: 0.9 } });
    const edge = edgeJobConfig(root, 5);
    expect(edge.strategy).toEqual({ name: 'fedavg' });
    expect(edge.selection).toEqual({ fraction: 1, minClients: 5 });
    expect(edge.rounds).toBeGreaterThan(root.rounds);
    expect(edge.validation.minAccuracy).toBeUndefined();
    expect(edge.training).toEqual(root.training);
    expect(edgeJobConfig(config({ strategy: { name: 'fedprox', mu: 0.1 } }), 2).strategy).toEqual({ name: 'fedprox', mu: 0.1 });
  });

  it('runs SecAgg+ and CKKS inside each group: the edge keeps them, the root runs plain rounds of the groups\' means', () => {
    const job = config({ privacy: { secagg: { clip: 2, stageSeconds: 5 } } });
    expect(edgeJobConfig(job, 3).privacy.secagg).toEqual(job.privacy.secagg);
    const root = rootJobConfig(job);
    expect(root.privacy.secagg).toBeUndefined();
    expect({ ...root, privacy: { ...root.privacy, secagg: job.privacy.secagg } }).toEqual(job);
    const dp = config({ privacy: { secagg: true, dp: { mode: 'client', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, budget: { epsilon: 10 } } } });
    expect(edgeJobConfig(dp, 3).privacy.dp).toEqual(dp.privacy.dp);
    expect(rootJobConfig(dp).privacy.dp).toBeUndefined();
    const ckks = config({ privacy: { he: 'ckks', heCommittee: 2 } });
    expect(edgeJobConfig(ckks, 2).privacy.he).toBe('ckks');
    expect(rootJobConfig(ckks).privacy.he).toBeUndefined();
    const tee = config({ privacy: { tee: 'simulated' } });
    expect(edgeJobConfig(tee, 2).privacy.tee).toBe('simulated');
    expect(rootJobConfig(tee).privacy.tee).toBeUndefined();
    expect(() => rootJobConfig(config({ privacy: { anonymous: true } }))).toThrow(EdgeUnsupportedError);
  });

  it('runs a robust rule on each group when the config says so, and the root averages the groups', () => {
    const krum = config({ strategy: { name: 'krum', f: 1 }, aggregation: { robustAt: 'edges' } });
    expect(edgeJobConfig(krum, 5).strategy).toEqual(krum.strategy);
    expect(rootJobConfig(krum).strategy).toEqual({ name: 'fedavg' });
    const bounded = config({ strategy: { name: 'norm-bounding', maxNorm: 2, inner: { name: 'fedadam', eta: 0.03 } }, aggregation: { robustAt: 'edges' } });
    expect(edgeJobConfig(bounded, 2).strategy).toEqual({ ...bounded.strategy, inner: { name: 'fedavg' } });
    expect(rootJobConfig(bounded).strategy).toEqual((bounded.strategy as { inner: unknown }).inner);
    expect(() => checkEdgeJob(config({ strategy: { name: 'median' } }))).toThrow(/set aggregation\.robustAt: edges/);
  });

  it('FedAvg of the edges means, each weighing its examples, is the flat FedAvg of their participants', () => {
    const update = fc.record({ numExamples: fc.integer({ min: 1, max: 10_000 }), weights: fc.float32Array({ minLength: 4, maxLength: 4, noNaN: true, noDefaultInfinity: true, min: -100, max: 100 }) });
    fc.assert(
      fc.property(fc.array(fc.array(update, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 4 }), (groups) => {
        const global = new Float32Array(4);
        const named = groups.map((group, g) => group.map((u, k) => ({ clientId: `g${g}-p${k}`, ...u })));
        const edges = named.map((group, g) => ({ clientId: `edge-${g}`, weights: weightedAverage(global, group), numExamples: group.reduce((s, u) => s + u.numExamples, 0) }));
        const tiered = weightedAverage(global, edges);
        const flat = weightedAverage(global, named.flat());
        const scale = Math.max(1, ...named.flat().flatMap((u) => [...u.weights].map(Math.abs)));
        // Each level rounds its mean to float32 once.
        for (let i = 0; i < 4; i++) expect(Math.abs(tiered[i] - flat[i])).toBeLessThanOrEqual(scale * 2 ** -21);
      }),
    );
  });
});
