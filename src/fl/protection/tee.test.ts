import { describe, expect, it } from 'vitest';
import { createIoKeyPair, ioKeyReportData, signSimulatedEvidence } from '../../tee/index.js';
import type { TeeTaskProtection } from '../participant-channel.js';
import { SeededNoiseSource } from '../../privacy/dp/index.js';
import { DpFixedClipping, createStrategy } from '../strategies/index.js';
import { EnclaveAggregator } from './enclave-aggregation.js';
import { admitEnclave, encryptUpdate } from './tee.js';
import { roundNonce, teeRoundContext } from './tee-enclave.js';
import { generateEcKeyPair } from '../../core/index.js';

const platform = generateEcKeyPair('P-384');
const measurement = 'e1'.repeat(48);
const round = { jobId: 'job-1', roundId: 'round-1' };

/** A task's enclave section as a coordinator would send it, with what it may have changed. */
function protection(over: { nonce?: Uint8Array; measurement?: string; key?: Uint8Array; boundKey?: Uint8Array; signer?: typeof platform } = {}): { task: TeeTaskProtection; key: Uint8Array } {
  const key = over.key ?? createIoKeyPair().publicKey;
  const evidence = signSimulatedEvidence(
    { measurement: over.measurement ?? measurement, nonce: over.nonce ?? roundNonce(round.jobId, round.roundId), reportData: Buffer.from(ioKeyReportData(over.boundKey ?? key), 'hex'), issuedAt: Date.now() },
    over.signer ?? platform,
  );
  return { task: { kind: 'tee', platform: 'simulated', evidence: Buffer.from(evidence).toString('base64'), publicKey: Buffer.from(key).toString('base64') }, key };
}
const policy = { allowedMeasurements: [measurement], platformKey: () => platform.publicKey };

describe('a participant admits an enclave only after its evidence and its own policy', () => {
  it('admits an allowed enclave and returns the key its evidence binds', () => {
    const { task, key } = protection();
    expect(admitEnclave(task, round, policy, new Date())).toEqual(key);
  });

  it.each([
    ['a measurement off its allow-list', { measurement: 'f2'.repeat(48) }, 'policy-measurement'],
    ['evidence made for another round', { nonce: roundNonce(round.jobId, 'round-0') }, 'policy-nonce'],
    ['a key the evidence does not bind (the coordinator swapped in its own)', { boundKey: createIoKeyPair().publicKey }, 'policy-report-data'],
    ['evidence signed by another platform', { signer: generateEcKeyPair('P-384') }, 'platform-key'],
  ] as const)('refuses %s, naming the check', (_what, over, check) => {
    const { task } = protection(over);
    expect(() => admitEnclave(task, round, policy, new Date())).toThrow(expect.objectContaining({ code: 'TEE_ENCLAVE_REFUSED', message: expect.stringContaining(`'${check}'`) }));
  });

  it('refuses every enclave when it allows no measurement', () => {
    expect(() => admitEnclave(protection().task, round, undefined, new Date())).toThrow(expect.objectContaining({ code: 'TEE_POLICY_MISSING', message: expect.stringMatching(/--tee-allow/) }));
  });
});

describe('the aggregation enclave program', () => {
  const global = new Float32Array(8);
  const honest = (k: number): Float32Array => Float32Array.from(global, (_, i) => 0.1 * i + 0.01 * k);
  const updates = new Map([...['a', 'b', 'c', 'd'].map((id, k) => [id, honest(k)] as const), ['e', new Float32Array(8).fill(50)]]);
  const strategy = { name: 'krum' as const, f: 1, m: 2 };

  function opened(aggregator: EnclaveAggregator): Uint8Array {
    return aggregator.handle({ op: 'open', roundContext: teeRoundContext(round.jobId, round.roundId), round: 1, global, strategy }).publicKey as Uint8Array;
  }

  it('opens each participant\'s ciphertext and runs Multi-Krum on the individual updates, as a plain coordinator would', () => {
    const aggregator = new EnclaveAggregator();
    const key = opened(aggregator);
    const contributions = [...updates].map(([id, weights]) => ({ id, numExamples: 10, envelope: encryptUpdate(key, round, id, weights) }));
    const answer = aggregator.handle({ op: 'aggregate', roundContext: teeRoundContext(round.jobId, round.roundId), contributions });
    const expected = createStrategy(strategy).aggregate(global, [...updates].map(([clientId, weights]) => ({ clientId, weights, numExamples: 10 })), 1);
    expect(answer.weights).toEqual(expected);
    // The outlier is not among the two updates Multi-Krum averaged.
    expect(Math.max(...(answer.weights as Float32Array))).toBeLessThan(1);
  });

  it('adds client-level DP noise inside, as DpFixedClipping around the job\'s rule does on a plain coordinator', () => {
    const aggregator = new EnclaveAggregator();
    const dp = { clipNorm: 0.5, noiseMultiplier: 1, noise: 'seeded-insecure' as const, seed: 9 };
    const key = aggregator.handle({ op: 'open', roundContext: teeRoundContext(round.jobId, round.roundId), round: 1, global, strategy: { name: 'fedavg' }, dp }).publicKey as Uint8Array;
    const contributions = [...updates].map(([id, weights]) => ({ id, numExamples: 10, envelope: encryptUpdate(key, round, id, weights) }));
    const answer = aggregator.handle({ op: 'aggregate', roundContext: teeRoundContext(round.jobId, round.roundId), contributions });
    const plain = new DpFixedClipping(createStrategy({ name: 'fedavg' }), { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise: new SeededNoiseSource(dp.seed ^ 0x5eed) });
    const expected = plain.aggregate(global, [...updates].map(([clientId, weights]) => ({ clientId, weights, numExamples: 10 })), 1);
    expect(answer.weights).toEqual(expected);
    // Noise was added: the result is not the clipped mean alone.
    const noiseless = new DpFixedClipping(createStrategy({ name: 'fedavg' }), { clipNorm: dp.clipNorm, noiseMultiplier: 1e-9, noise: new SeededNoiseSource(1) }).aggregate(global, [...updates].map(([clientId, weights]) => ({ clientId, weights, numExamples: 10 })), 1);
    expect(answer.weights).not.toEqual(noiseless);
  });

  it('refuses a ciphertext relabelled as another participant\'s, and a round key used twice', () => {
    const aggregator = new EnclaveAggregator();
    const key = opened(aggregator);
    const context = teeRoundContext(round.jobId, round.roundId);
    const swapped = [...updates].map(([id, weights], k, all) => ({ id: all[(k + 1) % all.length][0], numExamples: 10, envelope: encryptUpdate(key, round, id, weights) }));
    expect(() => aggregator.handle({ op: 'aggregate', roundContext: context, contributions: swapped })).toThrow(/does not open/);
    const fine = [...updates].map(([id, weights]) => ({ id, numExamples: 10, envelope: encryptUpdate(key, round, id, weights) }));
    expect(() => aggregator.handle({ op: 'aggregate', roundContext: context, contributions: fine })).toThrow(/no open round/);
  });
});
