import { describe, expect, it } from 'vitest';
import { conclude, type EvidenceClaims } from './evidence.js';
import { applyPolicy } from './policy.js';

const claims = (over: Partial<EvidenceClaims> = {}): EvidenceClaims => ({
  kind: 'snp',
  measurement: 'ab'.repeat(48),
  measurements: {},
  reportData: 'cd'.repeat(64),
  nonce: null,
  publicKey: null,
  debug: false,
  tcb: { status: 'up-to-date', detail: '' },
  issuedAt: null,
  ...over,
});
const verified = (over: Partial<EvidenceClaims> = {}) => conclude('snp', [{ name: 'signature', ok: true, detail: '' }], claims(over));

describe('applyPolicy', () => {
  it('accepts allowed, non-debug, up-to-date evidence that binds the expected report data', () => {
    const result = applyPolicy(verified(), { allowedMeasurements: ['0x' + 'AB'.repeat(48)], reportData: 'cd'.repeat(32) });
    expect(result.ok).toBe(true);
    expect(result.checks.map((check) => check.name)).toEqual(['signature', 'policy-measurement', 'policy-debug', 'policy-tcb', 'policy-report-data']);
  });

  it.each([
    ['policy-measurement', verified(), { allowedMeasurements: ['ef'.repeat(48)] }],
    ['policy-debug', verified({ debug: true }), { allowedMeasurements: ['ab'.repeat(48)] }],
    ['policy-tcb', verified({ tcb: { status: 'unknown', detail: '' } }), { allowedMeasurements: ['ab'.repeat(48)] }],
    ['policy-nonce', verified({ nonce: '01' }), { allowedMeasurements: ['ab'.repeat(48)], nonce: '02' }],
    ['policy-report-data', verified(), { allowedMeasurements: ['ab'.repeat(48)], reportData: 'ce' }],
  ] as const)('refuses with %s named', (name, verification, policy) => {
    const result = applyPolicy(verification, policy);
    expect(result.ok).toBe(false);
    expect(result.failed).toBe(name);
  });

  it('leaves a cryptographic refusal as it was', () => {
    const refused = conclude('snp', [{ name: 'signature', ok: false, detail: 'bad' }], claims());
    expect(applyPolicy(refused, { allowedMeasurements: [] })).toBe(refused);
  });
});
