import type { EvidenceCheck, EvidenceVerification, TcbStatus } from './evidence.js';

/**
 * What a relying party accepts, decided apart from the cryptographic checks: a verifier says what
 * the evidence proves, a policy says whether that is good enough for this federation.
 */
export interface AttestationPolicy {
  /** Code measurements allowed, hex (Nitro PCR0, SGX MRENCLAVE, SNP MEASUREMENT, a simulated bundle hash). */
  allowedMeasurements: readonly string[];
  /** Debug enclaves let the host read their memory; refused unless set. */
  allowDebug?: boolean;
  /** TCB standings accepted; `['up-to-date']` when not given, so an unknown TCB is refused by default. */
  acceptedTcb?: readonly TcbStatus[];
  /** The nonce the relying party sent, hex; the evidence must carry exactly it. */
  nonce?: string;
  /** The report data the enclave must have bound in, hex (e.g. the hash of its I/O key); compared on its length. */
  reportData?: string;
}

const normalise = (hex: string): string => hex.toLowerCase().replace(/^0x/, '');

/** Applies a policy to a verification: the policy's checks are appended, and the first failed one is named. */
export function applyPolicy(verification: EvidenceVerification, policy: AttestationPolicy): EvidenceVerification {
  const claims = verification.claims;
  if (!verification.ok || claims === null) return verification;
  const checks: EvidenceCheck[] = [];
  const allowed = policy.allowedMeasurements.map(normalise);
  const measurement = normalise(claims.measurement);
  checks.push({
    name: 'policy-measurement',
    ok: allowed.includes(measurement),
    detail: allowed.includes(measurement) ? `measurement ${measurement} is on the allow-list` : `measurement ${measurement} is not on the allow-list of ${allowed.length}`,
  });
  checks.push({
    name: 'policy-debug',
    ok: !claims.debug || policy.allowDebug === true,
    detail: claims.debug ? (policy.allowDebug === true ? 'debug mode, allowed by the policy' : 'the enclave runs in debug mode, which lets its host read its memory') : 'not in debug mode',
  });
  const acceptedTcb = policy.acceptedTcb ?? ['up-to-date'];
  checks.push({
    name: 'policy-tcb',
    ok: acceptedTcb.includes(claims.tcb.status),
    detail: `TCB ${claims.tcb.status}; the policy accepts ${acceptedTcb.join(', ')}`,
  });
  if (policy.nonce !== undefined) {
    const expected = normalise(policy.nonce);
    const ok = claims.nonce !== null && normalise(claims.nonce) === expected;
    checks.push({ name: 'policy-nonce', ok, detail: ok ? 'the evidence carries the nonce sent' : `the evidence carries nonce ${claims.nonce ?? 'none'}, not ${expected}` });
  }
  if (policy.reportData !== undefined) {
    const expected = normalise(policy.reportData);
    const bound = claims.reportData === null ? null : normalise(claims.reportData).slice(0, expected.length);
    const ok = bound === expected;
    checks.push({ name: 'policy-report-data', ok, detail: ok ? 'the report data binds what was expected' : `the report data begins ${bound ?? 'with nothing'}, not ${expected}` });
  }
  const all = [...verification.checks, ...checks];
  const failed = all.find((check) => !check.ok)?.name ?? null;
  return { ...verification, ok: failed === null, checks: all, failed };
}
