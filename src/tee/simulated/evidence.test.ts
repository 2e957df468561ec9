import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyPolicy } from '../policy.js';
import { signSimulatedEvidence, verifySimulatedEvidence } from './evidence.js';
import { generateEcKeyPair } from '../../core/index.js';

const platform = generateEcKeyPair('P-384');
const measurement = 'a1'.repeat(48);
const nonce = new Uint8Array(32).fill(7);
const reportData = new Uint8Array(32).fill(9);
const issuedAt = Date.UTC(2026, 11, 4, 12, 0, 0);
const at = new Date(issuedAt + 1000);
const evidence = signSimulatedEvidence({ measurement, nonce, reportData, issuedAt }, platform);

/** The evidence with its JSON body's `measurement` replaced, the same length, its signature kept. */
function withMeasurement(bytes: Uint8Array, replacement: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  return new Uint8Array(Buffer.from(text.replace(measurement, replacement), 'latin1'));
}

describe('simulated evidence', () => {
  it('verifies under its platform key, every claim marked simulated with an unknown TCB', () => {
    const result = verifySimulatedEvidence(evidence, { at, platformKey: platform.publicKey });
    expect(result.ok).toBe(true);
    expect(result.kind).toBe('simulated');
    expect(result.checks.map((c) => c.name)).toEqual(['parse', 'platform-key', 'signature', 'validity']);
    expect(result.checks.every((c) => c.detail.startsWith('simulated'))).toBe(true);
    expect(result.claims).toMatchObject({ kind: 'simulated', simulated: true, measurement, nonce: '07'.repeat(32), reportData: '09'.repeat(32), debug: false, issuedAt, tcb: { status: 'unknown' } });
  });

  it('refuses a body changed after signing', () => {
    const result = verifySimulatedEvidence(withMeasurement(evidence, 'b2'.repeat(48)), { at, platformKey: platform.publicKey });
    expect(result.ok).toBe(false);
    expect(result.failed).toBe('signature');
    expect(result.claims).toBeNull();
  });

  it('refuses a changed signature', () => {
    const tampered = new Uint8Array(evidence);
    tampered[tampered.length - 1] ^= 1;
    expect(verifySimulatedEvidence(tampered, { at, platformKey: platform.publicKey }).failed).toBe('signature');
  });

  it('refuses evidence of another platform key, even re-signed by it', () => {
    const other = generateEcKeyPair('P-384');
    const forged = signSimulatedEvidence({ measurement, nonce, reportData, issuedAt }, other);
    const result = verifySimulatedEvidence(forged, { at, platformKey: platform.publicKey });
    expect(result.failed).toBe('platform-key');
    expect(result.checks.find((c) => c.name === 'signature')?.ok).toBe(false);
  });

  it('refuses evidence older than the age limit or from the future', () => {
    expect(verifySimulatedEvidence(evidence, { at: new Date(issuedAt + 2 * 3_600_000), platformKey: platform.publicKey }).failed).toBe('validity');
    expect(verifySimulatedEvidence(evidence, { at: new Date(issuedAt - 3_600_000), platformKey: platform.publicKey }).failed).toBe('validity');
  });

  it('passes a policy that allows its measurement, binds nonce and report data, and accepts an unknown TCB; names the refusal otherwise', () => {
    const verified = verifySimulatedEvidence(evidence, { at, platformKey: platform.publicKey });
    const policy = { allowedMeasurements: [measurement], acceptedTcb: ['unknown'] as const, nonce: '07'.repeat(32), reportData: '09'.repeat(32) };
    expect(applyPolicy(verified, policy).ok).toBe(true);
    expect(applyPolicy(verified, { ...policy, allowedMeasurements: ['c3'.repeat(48)] }).failed).toBe('policy-measurement');
    // A default policy wants an up-to-date TCB, which simulated evidence never has.
    expect(applyPolicy(verified, { allowedMeasurements: [measurement] }).failed).toBe('policy-tcb');
    expect(applyPolicy(verified, { ...policy, nonce: '08'.repeat(32) }).failed).toBe('policy-nonce');
  });

  it('never throws on arbitrary bytes, and any one flipped byte is refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expect(verifySimulatedEvidence(bytes, { at, platformKey: platform.publicKey }).ok).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.nat(evidence.length - 1), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const flipped = new Uint8Array(evidence);
        flipped[index] ^= mask;
        expect(verifySimulatedEvidence(flipped, { at, platformKey: platform.publicKey }).ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
