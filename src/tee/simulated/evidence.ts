import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { conclude, type EvidenceCheck, type EvidenceClaims, type EvidenceVerification } from '../evidence.js';
import { platformKeyFingerprint } from './platform-key.js';

/**
 * Simulated attestation evidence: what a hardware report says (measurement, nonce, report data, debug,
 * time), signed with ECDSA P-384 / SHA-384 by the simulated platform key. Bytes: the magic
 * `CNSIMEV1`, a big-endian u32 body length, the body as JSON, and the 96-byte IEEE P1363 signature
 * over everything before it. Every claim it yields is marked simulated, its TCB is `unknown` (there is
 * no hardware whose firmware could be out of date), so a default policy refuses it until told otherwise.
 */

const MAGIC = Buffer.from('CNSIMEV1', 'latin1');
const SIGNATURE_BYTES = 96;
const MAX_BODY_BYTES = 4096;
/** Evidence dated this far after the check time is refused: clocks of one machine's processes agree. */
const CLOCK_SKEW_MS = 5 * 60_000;

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));

const BodySchema = z
  .object({
    platform: z.literal('simulated'),
    measurement: hex(48),
    nonce: z.string().regex(/^(?:[0-9a-f]{2}){0,64}$/),
    reportData: z.string().regex(/^(?:[0-9a-f]{2}){0,64}$/),
    debug: z.boolean(),
    issuedAt: z.number().int().nonnegative(),
    /** SHA-256 of the signing platform key's SPKI DER. */
    platformKey: hex(32),
  })
  .strict();

/** What simulated evidence states. */
export type SimulatedEvidenceBody = z.output<typeof BodySchema>;

/** What a simulated enclave asks its platform to sign. */
export interface SimulatedReport {
  measurement: string;
  nonce: Uint8Array;
  reportData: Uint8Array;
  issuedAt: number;
}

/** Signs a simulated enclave's report with the platform key: the evidence bytes. */
export function signSimulatedEvidence(report: SimulatedReport, platform: { privateKey: KeyObject; publicKey: KeyObject }): Uint8Array {
  if (report.nonce.byteLength > 64 || report.reportData.byteLength > 64) throw new RangeError('a simulated report carries at most 64 bytes of nonce and of report data');
  const body: SimulatedEvidenceBody = {
    platform: 'simulated',
    measurement: report.measurement.toLowerCase(),
    nonce: Buffer.from(report.nonce).toString('hex'),
    reportData: Buffer.from(report.reportData).toString('hex'),
    // The simulated enclave runs as an ordinary process; it claims no debug access because it offers none beyond what any process offers its owner.
    debug: false,
    issuedAt: report.issuedAt,
    platformKey: platformKeyFingerprint(platform.publicKey),
  };
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.byteLength);
  const signed = Buffer.concat([MAGIC, length, json]);
  return new Uint8Array(Buffer.concat([signed, sign('sha384', signed, { key: platform.privateKey, dsaEncoding: 'ieee-p1363' })]));
}

/** What verifying simulated evidence is given: the check time and the simulated platform's public key (never taken from the evidence). */
export interface VerifySimulatedOptions {
  at: Date;
  platformKey: KeyObject;
  /** Oldest evidence accepted, ms before `at`; default one hour. */
  maxAgeMs?: number;
}

/** Verifies simulated evidence: its format, the platform key named, the signature, its time; claims marked simulated. Never throws on bad bytes. */
export function verifySimulatedEvidence(bytes: Uint8Array, options: VerifySimulatedOptions): EvidenceVerification {
  const checks: EvidenceCheck[] = [];
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let body: SimulatedEvidenceBody | undefined;
  let signedLength = 0;
  if (data.byteLength < MAGIC.byteLength + 4 + SIGNATURE_BYTES || !data.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
    checks.push({ name: 'parse', ok: false, detail: 'simulated: not simulated evidence (bad magic or too short)' });
  } else {
    const length = data.readUInt32BE(MAGIC.byteLength);
    signedLength = MAGIC.byteLength + 4 + length;
    if (length > MAX_BODY_BYTES || signedLength + SIGNATURE_BYTES !== data.byteLength) {
      checks.push({ name: 'parse', ok: false, detail: `simulated: a body of ${length} bytes does not fit evidence of ${data.byteLength} bytes` });
    } else {
      let parsed: z.SafeParseReturnType<unknown, SimulatedEvidenceBody>;
      try {
        parsed = BodySchema.safeParse(JSON.parse(data.subarray(MAGIC.byteLength + 4, signedLength).toString('utf8')));
      } catch {
        parsed = { success: false, error: new z.ZodError([{ code: 'custom', path: [], message: 'not JSON' }]) };
      }
      if (parsed.success) body = parsed.data;
      checks.push({ name: 'parse', ok: parsed.success, detail: parsed.success ? 'simulated evidence, well formed' : `simulated: the evidence body is malformed (${parsed.error.issues[0]?.message ?? 'invalid'})` });
    }
  }
  if (body) {
    const expected = platformKeyFingerprint(options.platformKey);
    const known = body.platformKey === expected;
    checks.push({ name: 'platform-key', ok: known, detail: known ? `simulated: signed by the given platform key ${expected.slice(0, 16)}…` : `simulated: names platform key ${body.platformKey.slice(0, 16)}…, not the given ${expected.slice(0, 16)}…` });
    let signatureOk = false;
    try {
      signatureOk = verify('sha384', data.subarray(0, signedLength), { key: options.platformKey, dsaEncoding: 'ieee-p1363' }, data.subarray(signedLength));
    } catch {
      signatureOk = false;
    }
    checks.push({ name: 'signature', ok: signatureOk, detail: signatureOk ? 'simulated: the ECDSA P-384 signature of the platform key is valid' : 'simulated: the signature does not verify under the given platform key' });
    const at = options.at.getTime();
    const maxAge = options.maxAgeMs ?? 3_600_000;
    const fresh = body.issuedAt <= at + CLOCK_SKEW_MS && at - body.issuedAt <= maxAge;
    checks.push({ name: 'validity', ok: fresh, detail: `simulated: issued ${new Date(body.issuedAt).toISOString()}, checked at ${options.at.toISOString()} (${fresh ? 'within' : 'outside'} ${maxAge / 1000} s)` });
  }
  const claims: EvidenceClaims | null = body
    ? {
        kind: 'simulated',
        measurement: body.measurement,
        measurements: { platform: 'simulated', platformKey: body.platformKey },
        reportData: body.reportData,
        nonce: body.nonce,
        publicKey: null,
        debug: body.debug,
        tcb: { status: 'unknown', detail: 'simulated platform: no hardware whose TCB could be reported; accept `unknown` in the policy to admit it' },
        issuedAt: body.issuedAt,
        simulated: true,
      }
    : null;
  return conclude('simulated', checks, claims);
}
