import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryOfServerKit,
  loadParticipantKit,
  loadServerKit,
  participantKitPath,
  provisionWithLocalKeys,
  revokeParticipant,
  serverKitPath,
  signerFromKit,
  type MessageSigner,
  type ParticipantDirectory,
} from '../identity/index.js';
import { parseDataSchema } from './data-schema.js';
import { parseCsvTable } from './data-table.js';
import { assessQuality, type QualityReport } from './quality.js';
import { QualityReportError, signQualityReport, verifyQualityReport, type SignedQualityReport } from './quality-report.js';

const schema = parseDataSchema({
  columns: [
    { name: 'x', type: 'numeric' },
    { name: 'y', type: 'categorical' },
  ],
  label: 'y',
});
const report: QualityReport = assessQuality(parseCsvTable('x,y\n1,a\n2,a\n3,b\n3,b\n90,a\n', schema), schema);

let dir: string;
let owner: MessageSigner;
let other: MessageSigner;
let directory: ParticipantDirectory;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-quality-report-'));
  await provisionWithLocalKeys({ outDir: dir, participants: ['owner', 'other'], serverHost: '127.0.0.1', serverPort: 8443 });
  owner = signerFromKit(loadParticipantKit(participantKitPath(dir, 'owner')));
  other = signerFromKit(loadParticipantKit(participantKitPath(dir, 'other')));
  directory = directoryOfServerKit(loadServerKit(serverKitPath(dir)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(signed: unknown, expected = {}): QualityReportError {
  try {
    verifyQualityReport(signed, directory, expected);
  } catch (error) {
    expect(error).toBeInstanceOf(QualityReportError);
    return error as QualityReportError;
  }
  throw new Error('a bad report was accepted');
}

describe('signed quality reports', () => {
  it('verifies a report its owner signed, after a trip through JSON', () => {
    const signed = signQualityReport(report, owner, new Date('2026-12-04T12:00:00Z'));
    expect(signed).toMatchObject({ owner: 'owner', signedAt: '2026-12-04T12:00:00.000Z' });
    expect(verifyQualityReport(JSON.parse(JSON.stringify(signed)), directory, { contentHash: report.contentHash, schemaHash: report.schemaHash })).toEqual(report);
  });

  it('refuses a report altered after signing', () => {
    const signed = signQualityReport(report, owner);
    const tamperings: ((s: SignedQualityReport) => void)[] = [
      (s) => (s.report.rowCount += 1),
      (s) => (s.report.labelBalance!.classes[0].count += 1),
      (s) => (s.report.duplicateRows = 0),
      (s) => (s.report.columns[0].spread!.outliers = 0),
      (s) => (s.report.contentHash = '0'.repeat(64)),
      (s) => (s.signedAt = '2030-01-01T00:00:00.000Z'),
      (s) => (s.owner = 'other'),
    ];
    for (const tamper of tamperings) {
      const copy = structuredClone(signed);
      tamper(copy);
      const error = refusal(copy);
      expect(error.code).toBe('QUALITY_REPORT_SIGNATURE_INVALID');
      expect(error.message).toContain('altered after signing');
    }
  });

  it("refuses another participant's signature over the owner's name", () => {
    const forged = { ...signQualityReport(report, other), owner: 'owner' };
    expect(refusal(forged).code).toBe('QUALITY_REPORT_SIGNATURE_INVALID');
  });

  it('refuses an unknown signer, a malformed report and a report of another data set', () => {
    expect(refusal({ ...signQualityReport(report, owner), owner: 'stranger' }).code).toBe('QUALITY_REPORT_SIGNER_UNKNOWN');
    const signed = signQualityReport(report, owner);
    expect(refusal({ ...signed, report: { ...signed.report, rows: [['1', 'a']] } }).code).toBe('QUALITY_REPORT_MALFORMED');
    expect(refusal({ ...signed, signature: 'abc' }).code).toBe('QUALITY_REPORT_MALFORMED');
    const mismatch = refusal(signed, { contentHash: 'f'.repeat(64) });
    expect(mismatch.code).toBe('QUALITY_REPORT_MISMATCH');
    expect(mismatch.message).toContain('contentHash');
  });

  it('refuses to sign a report that is not one', () => {
    expect(() => signQualityReport({ ...report, rowCount: -1 }, owner)).toThrow(expect.objectContaining({ code: 'QUALITY_REPORT_MALFORMED' }));
  });

  it("refuses a report of a revoked owner", () => {
    const signed = signQualityReport(report, other);
    revokeParticipant(dir, 'other');
    const after = directoryOfServerKit(loadServerKit(serverKitPath(dir)));
    expect(() => verifyQualityReport(signed, after)).toThrow(expect.objectContaining({ code: 'QUALITY_REPORT_SIGNER_REVOKED' }));
  });
});
