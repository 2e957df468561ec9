/**
 * TCB status from Intel's collateral: the platform's TCB level from TCB info v3 matched against
 * the PCK certificate's SVNs, the QE's level from the QE identity matched against the QE report,
 * and the two converged the way Intel's Quote Verification Library does (DCAP
 * `QuoteVerification/QVL/Src/AttestationLibrary/src/Verifiers/QuoteVerifier.cpp`, `convergeTcbStatus`).
 */
import { z } from 'zod';
import type { TcbStatus } from '../evidence.js';
import type { PckTcb } from './pck-extension.js';
import type { SgxReportBody } from './quote.js';

const IntelTcbStatusSchema = z.enum([
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
]);

/** A TCB status as Intel's collateral spells it. */
export type IntelTcbStatus = z.infer<typeof IntelTcbStatusSchema>;

const isoDate = z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'an ISO 8601 date');
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`));

const levelFields = {
  tcbDate: isoDate,
  tcbStatus: IntelTcbStatusSchema,
  advisoryIDs: z.array(z.string()).default([]),
};

/** SGX TCB info, version 3 (Intel PCS API v4 "Get TCB Info", SGX). */
export const TcbInfoSchema = z.object({
  id: z.literal('SGX'),
  version: z.literal(3),
  issueDate: isoDate,
  nextUpdate: isoDate,
  fmspc: hex(6),
  pceId: hex(2),
  tcbLevels: z.array(
    z.object({
      tcb: z.object({ sgxtcbcomponents: z.array(z.object({ svn: z.number().int().min(0) })).length(16), pcesvn: z.number().int().min(0) }),
      ...levelFields,
    }),
  ),
});
/** SGX TCB info, version 3. */
export type TcbInfo = z.infer<typeof TcbInfoSchema>;

/** QE identity, version 2 (Intel PCS API v4 "Get Quoting Enclave Identity"). */
export const QeIdentitySchema = z.object({
  id: z.literal('QE'),
  version: z.literal(2),
  issueDate: isoDate,
  nextUpdate: isoDate,
  miscselect: hex(4),
  miscselectMask: hex(4),
  attributes: hex(16),
  attributesMask: hex(16),
  mrsigner: hex(32),
  isvprodid: z.number().int().min(0),
  tcbLevels: z.array(z.object({ tcb: z.object({ isvsvn: z.number().int().min(0) }), ...levelFields })),
});
/** QE identity, version 2. */
export type QeIdentity = z.infer<typeof QeIdentitySchema>;

/** One matched TCB level. */
export interface MatchedTcbLevel {
  status: IntelTcbStatus;
  tcbDate: string;
  advisoryIds: string[];
}

/** The TCB evaluation of a quote: platform, QE and their convergence. */
export interface SgxTcbEvaluation {
  status: TcbStatus;
  platform: MatchedTcbLevel;
  qe: MatchedTcbLevel;
  /** Both levels' advisories, each once, sorted. */
  advisoryIds: string[];
}

/** The first TCB level (Intel lists them newest first) whose every component SVN and PCESVN the platform meets, or null. */
export function platformTcbLevel(info: TcbInfo, pck: PckTcb): MatchedTcbLevel | null {
  const level = info.tcbLevels.find(
    (candidate) => candidate.tcb.sgxtcbcomponents.every((component, index) => pck.components[index] >= component.svn) && pck.pceSvn >= candidate.tcb.pcesvn,
  );
  return level ? { status: level.tcbStatus, tcbDate: level.tcbDate, advisoryIds: level.advisoryIDs } : null;
}

/** Whether the QE report is the enclave the QE identity describes; the reason when it is not. */
export function qeIdentityMismatch(identity: QeIdentity, qeReport: SgxReportBody): string | null {
  if (Buffer.from(qeReport.mrSigner).toString('hex') !== identity.mrsigner.toLowerCase()) return 'the QE report MRSIGNER is not the QE identity MRSIGNER';
  if (qeReport.isvProdId !== identity.isvprodid) return `the QE report ISVPRODID ${qeReport.isvProdId} is not ${identity.isvprodid}`;
  const miscMask = Number.parseInt(identity.miscselectMask, 16);
  // MISCSELECT is little-endian in the report, big-endian hex in the identity.
  if (((qeReport.miscSelect & miscMask) >>> 0) !== ((Number.parseInt(identity.miscselect, 16) & miscMask) >>> 0)) return 'the QE report MISCSELECT does not match the QE identity';
  const attributes = Buffer.from(identity.attributes, 'hex');
  const mask = Buffer.from(identity.attributesMask, 'hex');
  if (qeReport.attributes.some((byte, index) => (byte & mask[index]) !== (attributes[index] & mask[index]))) return 'the QE report attributes do not match the QE identity';
  return null;
}

/** The first QE TCB level whose ISVSVN the QE report meets, or null. */
export function qeTcbLevel(identity: QeIdentity, qeReport: SgxReportBody): MatchedTcbLevel | null {
  const level = identity.tcbLevels.find((candidate) => qeReport.isvSvn >= candidate.tcb.isvsvn);
  return level ? { status: level.tcbStatus, tcbDate: level.tcbDate, advisoryIds: level.advisoryIDs } : null;
}

/** Converges the platform and QE levels: an out-of-date or revoked QE drags the platform down with it. */
export function convergeTcb(platform: MatchedTcbLevel, qe: MatchedTcbLevel): SgxTcbEvaluation {
  let status: IntelTcbStatus = platform.status;
  if (qe.status === 'Revoked') status = 'Revoked';
  else if (qe.status === 'OutOfDate') {
    if (platform.status === 'UpToDate' || platform.status === 'SWHardeningNeeded') status = 'OutOfDate';
    else if (platform.status === 'ConfigurationNeeded' || platform.status === 'ConfigurationAndSWHardeningNeeded') status = 'OutOfDateConfigurationNeeded';
  }
  const advisoryIds = [...new Set([...platform.advisoryIds, ...qe.advisoryIds])].sort();
  return { status: TCB_STATUS[status], platform, qe, advisoryIds };
}

/** Intel's status names in the project's vocabulary. */
export const TCB_STATUS: Record<IntelTcbStatus, TcbStatus> = {
  UpToDate: 'up-to-date',
  SWHardeningNeeded: 'sw-hardening-needed',
  ConfigurationNeeded: 'configuration-needed',
  ConfigurationAndSWHardeningNeeded: 'configuration-and-sw-hardening-needed',
  OutOfDate: 'out-of-date',
  OutOfDateConfigurationNeeded: 'out-of-date-configuration-needed',
  Revoked: 'revoked',
};
