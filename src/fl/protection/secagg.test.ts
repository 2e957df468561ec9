import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SeededNoiseSource, defaultGridStep, gridL2Sensitivity } from '../../privacy/dp/index.js';
import { createRoundConfig, generateIdentity } from '../../privacy/secagg/index.js';
import type { SecAggTaskProtection } from '../participant-channel.js';
import { SecAggParticipant, distributedGaussianShare } from './secagg.js';

// The weight a SecAgg+ participant applies before masking is fixed by the round's task: the coordinator
// cannot see it afterwards, so the participant's own runtime holds it to what it declared.
const IDS = ['p1', 'p2', 'p3'];

describe('a SecAgg+ participant’s weight', () => {
  const identities = new Map(IDS.map((id) => [id, generateIdentity()]));
  const identityKeys = Object.fromEntries(IDS.map((id) => [id, Buffer.from(identities.get(id)?.publicKey as Uint8Array).toString('base64')]));
  const key = identities.get('p1')?.privateKey as KeyObject;
  const protection = (weight: number, totalWeight: number): SecAggTaskProtection => ({
    kind: 'secagg',
    config: { ...createRoundConfig({ participants: IDS, vectorLength: 8, clip: 1, roundId: 'round-w' }) },
    identityKeys,
    weighting: { kind: 'examples', weight, totalWeight },
  });

  it('is taken from the task when it is within the participant’s declared examples', () => {
    const participant = new SecAggParticipant('p1', protection(300, 900), key, 300, 1);
    expect(participant.advertiseKeys().byteLength).toBeGreaterThan(0);
  });

  it('is refused above the examples the participant declared, or above the round total', () => {
    expect(() => new SecAggParticipant('p1', protection(301, 900), key, 300, 1)).toThrow(expect.objectContaining({ code: 'SECAGG_WEIGHT_INVALID' }));
    expect(() => new SecAggParticipant('p1', protection(300, 200), key, 300, 1)).toThrow(/weigh its update by 300 of 200; it declared 300/);
  });
});

describe('distributedGaussianShare (Kairouz, Liu & Steinke 2021)', () => {
  it('puts 1/n of the central variance on each share, on the grid, so that n shares sum to the central noise', () => {
    const d = 20_000;
    const n = 4;
    const weighting = { clipNorm: 2, noiseMultiplier: 1.5, minSummands: n };
    const step = defaultGridStep(2, d);
    const shares = Array.from({ length: n }, (_, i) => distributedGaussianShare(new Float64Array(d), weighting, new SeededNoiseSource(i + 1)));
    for (const share of shares) expect(share.every((v) => Number.isInteger(v / step))).toBe(true);
    let sq = 0;
    for (let k = 0; k < d; k++) sq += shares.reduce((s, share) => s + share[k], 0) ** 2;
    const central = 1.5 * gridL2Sensitivity(2, step, d) * step;
    expect(Math.sqrt(sq / d) / central).toBeGreaterThan(0.97);
    expect(Math.sqrt(sq / d) / central).toBeLessThan(1.03);
  });

  it('refines the grid until each share has sigma of at least 10 steps, where the sum is the discrete Gaussian up to a vanishing term', () => {
    const weighting = { clipNorm: 1, noiseMultiplier: 0.5, minSummands: 10_000, gridStep: 0.5 };
    const share = distributedGaussianShare(new Float64Array([0.3]), weighting, new SeededNoiseSource(3));
    // With a step of 0.5 each share's sigma would be 0.5 x 3 / 100 steps; the grid is halved until it is 10.
    expect(Number.isInteger(share[0] * 2 ** 12)).toBe(true);
    expect(share[0]).not.toBe(0.5);
  });
});
