import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';
import type { TcbStatus } from './evidence.js';
import type { AttestationPolicy } from './policy.js';

/** A policy file that cannot be read or does not describe an `AttestationPolicy`; the CLI exits 2 on it. */
export class AttestationPolicyError extends InvalidInputError {
  constructor(message: string, details?: unknown) {
    super('TEE_POLICY_INVALID', message, details);
  }
}

const TCB_STATUSES = [
  'up-to-date',
  'sw-hardening-needed',
  'configuration-needed',
  'configuration-and-sw-hardening-needed',
  'out-of-date',
  'out-of-date-configuration-needed',
  'revoked',
  'unknown',
] as const satisfies readonly TcbStatus[];

const hex = z.string().regex(/^(?:0x)?(?:[0-9a-fA-F]{2})+$/, 'must be hex, an even number of digits');

/** An attestation policy as JSON; unknown fields are refused so a misspelt one cannot silently loosen it. */
export const AttestationPolicySchema = z
  .object({
    allowedMeasurements: z.array(hex).min(1, 'must name at least one measurement'),
    allowDebug: z.boolean().optional(),
    acceptedTcb: z.array(z.enum(TCB_STATUSES)).min(1).optional(),
    nonce: hex.optional(),
    reportData: hex.optional(),
  })
  .strict() satisfies z.ZodType<AttestationPolicy>;

/** Parses a policy from JSON text; the error names the first field that is wrong. */
export function parseAttestationPolicy(text: string, source = 'the policy'): AttestationPolicy {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AttestationPolicyError(`${source} is not JSON; give an object with allowedMeasurements and, optionally, allowDebug, acceptedTcb, nonce, reportData`);
  }
  const parsed = AttestationPolicySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || '(the whole policy)';
    throw new AttestationPolicyError(`${source}: field ${field}: ${issue.message}`, parsed.error.issues);
  }
  return parsed.data;
}

/** Reads a policy from a JSON file. */
export function readAttestationPolicyFile(path: string): AttestationPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new AttestationPolicyError(`policy file '${path}' cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); check the path`);
  }
  return parseAttestationPolicy(text, `policy '${path}'`);
}
