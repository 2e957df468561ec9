import { sign, verify } from 'node:crypto';
import { z } from 'zod';
import { CipherNexusError, InvalidInputError, canonicalJson, formatZodIssue } from '../core/index.js';
import { ParticipantIdSchema, type MessageSigner, type ParticipantDirectory } from '../identity/index.js';
import { QualityReportSchema, type QualityReport } from './quality.js';

/**
 * A quality report signed by the data owner's participant key (the Ed25519 key of its kit), so a
 * buyer can check that the figures beside an asset are the owner's and unaltered. The signature
 * (RFC 8032) covers
 *
 *   "cipher-nexus/quality-report/v1" 0x00 | canonical JSON of { owner, report, signedAt }
 *
 * with sorted keys and no whitespace; the prefix keeps a report signature from passing as a signed
 * frame or request, whose bytes start with another context string.
 */

const CONTEXT = 'cipher-nexus/quality-report/v1\0';

/** Why a signed quality report was refused. */
export type QualityReportErrorCode =
  | 'QUALITY_REPORT_MALFORMED'
  | 'QUALITY_REPORT_SIGNER_UNKNOWN'
  | 'QUALITY_REPORT_SIGNER_REVOKED'
  | 'QUALITY_REPORT_SIGNATURE_INVALID'
  | 'QUALITY_REPORT_MISMATCH';

/** A signed quality report was refused; nothing was recorded. */
export class QualityReportError extends CipherNexusError {
  declare readonly code: QualityReportErrorCode;

  constructor(code: QualityReportErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}

/** A quality report with its owner's signature, as published. */
export const SignedQualityReportSchema = z
  .object({
    report: QualityReportSchema,
    /** The participant id whose signing key made `signature`. */
    owner: ParticipantIdSchema,
    /** When the owner signed, ISO 8601 UTC. */
    signedAt: z.string().datetime(),
    /** Ed25519 signature, base64url of 64 bytes. */
    signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'expected the base64url text of a 64-byte Ed25519 signature'),
  })
  .strict();

/** A quality report with its owner's signature. */
export type SignedQualityReport = z.output<typeof SignedQualityReportSchema>;

function signedBytes(owner: string, report: QualityReport, signedAt: string): Buffer {
  // Through JSON first, so an optional member set to undefined is absent, as it is after transport.
  const body: unknown = JSON.parse(JSON.stringify({ owner, report, signedAt }));
  return Buffer.from(CONTEXT + canonicalJson(body), 'utf8');
}

/** The report signed with the owner's participant key (signerFromKit of the owner's kit). */
export function signQualityReport(report: QualityReport, signer: MessageSigner, now: Date = new Date()): SignedQualityReport {
  const parsed = QualityReportSchema.safeParse(report);
  if (!parsed.success) {
    throw new InvalidInputError('QUALITY_REPORT_MALFORMED', `cannot sign the quality report: ${formatZodIssue(parsed.error.issues[0], { what: 'quality report', input: report })}; sign a report from assessQuality`);
  }
  const signedAt = now.toISOString();
  const signature = sign(null, signedBytes(signer.participantId, parsed.data, signedAt), signer.signingKey).toString('base64url');
  return { report: parsed.data, owner: signer.participantId, signedAt, signature };
}

/** What a verifier expects the report to describe, e.g. the hashes on the asset's token. */
export interface ExpectedReportSubject {
  contentHash?: string;
  schemaHash?: string;
}

/** The report, when `signed` is a well-formed report its owner signed unaltered; throws QualityReportError otherwise. */
export function verifyQualityReport(signed: unknown, directory: ParticipantDirectory, expected: ExpectedReportSubject = {}): QualityReport {
  const parsed = SignedQualityReportSchema.safeParse(signed);
  if (!parsed.success) {
    throw new QualityReportError('QUALITY_REPORT_MALFORMED', `the signed quality report is malformed: ${formatZodIssue(parsed.error.issues[0], { what: 'signed quality report', input: signed })}; ask the owner to publish it again`, {
      issues: parsed.error.issues,
    });
  }
  const { report, owner, signedAt, signature } = parsed.data;
  const key = directory.signingKeyOf(owner);
  if (!key) throw new QualityReportError('QUALITY_REPORT_SIGNER_UNKNOWN', `the quality report is signed by '${owner}', who is not a known participant; check the owner's id`, { owner });
  if (directory.isRevoked(owner)) throw new QualityReportError('QUALITY_REPORT_SIGNER_REVOKED', `the quality report is signed by '${owner}', whose key has been revoked; do not rely on it`, { owner });
  if (!verify(null, signedBytes(owner, report, signedAt), key, Buffer.from(signature, 'base64url'))) {
    throw new QualityReportError(
      'QUALITY_REPORT_SIGNATURE_INVALID',
      `the quality report's signature does not verify with the key of '${owner}': the report was altered after signing or signed by another key; do not rely on it`,
      { owner },
    );
  }
  for (const field of ['contentHash', 'schemaHash'] as const) {
    const want = expected[field];
    if (want !== undefined && report[field] !== want) {
      throw new QualityReportError('QUALITY_REPORT_MISMATCH', `the quality report describes ${field} ${report[field]}, not the asset's ${want}; it is the report of another data set or version`, {
        field,
        report: report[field],
        expected: want,
      });
    }
  }
  return report;
}
