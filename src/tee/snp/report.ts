/**
 * The SEV-SNP attestation report: 1184 bytes laid out by AMD's SEV Secure Nested Paging Firmware
 * ABI Specification (publication 56860), Table 22 "ATTESTATION_REPORT Structure" (ABI 1.55 for
 * version 2, ABI 1.57 for version 3, which adds the CPUID family, model and stepping at 0x188).
 * All integers are little-endian.
 */

import type { SnpProduct } from './roots.js';

/** The report's size in bytes, signature and trailing reserved area included. */
export const SNP_REPORT_SIZE = 0x4a0;
/** The signed bytes are 0x000–0x29F; the signature follows. */
export const SNP_SIGNED_SIZE = 0x2a0;

/** Which key signed the report, from bits 4:2 of the flags at 0x48. */
export type SnpSigningKey = 'vcek' | 'vlek';

/** A parsed report; byte fields are views into the decoded input. */
export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgorithm: number;
  currentTcb: Uint8Array;
  platformInfo: bigint;
  authorKeyEnabled: boolean;
  /** MASK_CHIP_ID: the guest asked the firmware to zero chip_id. */
  chipIdMasked: boolean;
  signingKey: SnpSigningKey;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: Uint8Array;
  /** The product the CPUID fields name (version 3 and later), or null where the report does not say. */
  cpuidProduct: SnpProduct | null;
  /** CPUID family and model as found, for messages. */
  cpuid: { family: number; model: number; stepping: number } | null;
  chipId: Uint8Array;
  committedTcb: Uint8Array;
  launchTcb: Uint8Array;
  /** The signed bytes 0x000–0x29F. */
  signed: Uint8Array;
  /** The signature's R and S, each 72 bytes little-endian as the report stores them. */
  signatureR: Uint8Array;
  signatureS: Uint8Array;
}

/** The outcome of parsing: the report, or why the bytes are not one. */
export type SnpReportParse = { ok: true; report: SnpReport } | { ok: false; reason: string };

/** The guest policy's DEBUG bit (ABI Table 9): the hypervisor may read and write guest memory. */
export const POLICY_DEBUG = 1n << 19n;
/** Bit 17 of the guest policy is reserved and must be one (ABI Table 9). */
const POLICY_RESERVED_ONE = 1n << 17n;
/** Signature algorithm 1 is ECDSA P-384 with SHA-384 (ABI Table 139). */
const ECDSA_P384_SHA384 = 1;

/**
 * Decodes raw bytes, or hex or base64 text of them, into the report's 1184 bytes; null when the
 * input is none of these. Operators paste reports in any of the three forms.
 */
export function decodeSnpReport(input: Uint8Array | string): Uint8Array | null {
  if (typeof input !== 'string' && input.length === SNP_REPORT_SIZE) return input;
  const text = (typeof input === 'string' ? input : Buffer.from(input).toString('latin1')).replace(/\s+/g, '');
  if (/^(?:[0-9a-fA-F]{2})+$/.test(text) && text.length === SNP_REPORT_SIZE * 2) return new Uint8Array(Buffer.from(text, 'hex'));
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0) {
    const bytes = new Uint8Array(Buffer.from(text, 'base64'));
    if (bytes.length === SNP_REPORT_SIZE) return bytes;
  }
  return null;
}

/** Parses a report (raw, hex or base64) into its fields, or says why it is not a version 2 or 3 report signed with ECDSA P-384. */
export function parseSnpReport(input: Uint8Array | string): SnpReportParse {
  const bytes = decodeSnpReport(input);
  if (bytes === null) return { ok: false, reason: `not a ${SNP_REPORT_SIZE}-byte report, raw or as hex or base64 text` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (offset: number): number => view.getUint32(offset, true);
  const field = (offset: number, length: number): Uint8Array => bytes.subarray(offset, offset + length);

  const version = u32(0x00);
  // Version 5 (ABI 1.58) adds mitigation vectors; no sample of it was available to test against.
  if (version !== 2 && version !== 3) return { ok: false, reason: `report version ${version}; versions 2 and 3 are understood` };
  const signatureAlgorithm = u32(0x34);
  if (signatureAlgorithm !== ECDSA_P384_SHA384) return { ok: false, reason: `signature algorithm ${signatureAlgorithm}; only 1 (ECDSA P-384 with SHA-384) is defined` };
  const policy = view.getBigUint64(0x08, true);
  if ((policy & POLICY_RESERVED_ONE) === 0n) return { ok: false, reason: `policy 0x${policy.toString(16)} has reserved bit 17 clear; the firmware always sets it` };
  const flags = u32(0x48);
  const keySelector = (flags >>> 2) & 0b111;
  if (keySelector !== 0 && keySelector !== 1) return { ok: false, reason: `signing key selector ${keySelector}; only 0 (VCEK) and 1 (VLEK) sign reports` };
  // Bytes after the signature are not signed: accepting anything there would let two different
  // byte strings pass as the same evidence.
  if (bytes.subarray(SNP_SIGNED_SIZE + 2 * 72).some((byte) => byte !== 0)) {
    return { ok: false, reason: 'the reserved bytes after the signature (0x330–0x49F) are not zero' };
  }
  const cpuid = version >= 3 ? { family: bytes[0x188] ?? 0, model: bytes[0x189] ?? 0, stepping: bytes[0x18a] ?? 0 } : null;
  return {
    ok: true,
    report: {
      version,
      guestSvn: u32(0x04),
      policy,
      familyId: field(0x10, 16),
      imageId: field(0x20, 16),
      vmpl: u32(0x30),
      signatureAlgorithm,
      currentTcb: field(0x38, 8),
      platformInfo: view.getBigUint64(0x40, true),
      authorKeyEnabled: (flags & 1) === 1,
      chipIdMasked: (flags & 2) === 2,
      signingKey: keySelector === 0 ? 'vcek' : 'vlek',
      reportData: field(0x50, 64),
      measurement: field(0x90, 48),
      hostData: field(0xc0, 32),
      idKeyDigest: field(0xe0, 48),
      authorKeyDigest: field(0x110, 48),
      reportId: field(0x140, 32),
      reportIdMa: field(0x160, 32),
      reportedTcb: field(0x180, 8),
      cpuidProduct: cpuid === null ? null : productOfCpuid(cpuid.family, cpuid.model),
      cpuid,
      chipId: field(0x1a0, 64),
      committedTcb: field(0x1e0, 8),
      launchTcb: field(0x1f0, 8),
      signed: field(0, SNP_SIGNED_SIZE),
      signatureR: field(SNP_SIGNED_SIZE, 72),
      signatureS: field(SNP_SIGNED_SIZE + 72, 72),
    },
  };
}

/** The product a CPUID family and model name: Milan is family 19h models 0xh, Genoa 19h models 1xh, Turin 1Ah models 0xh–1xh. */
function productOfCpuid(family: number, model: number): SnpProduct | null {
  if (family === 0x19 && model < 0x10) return 'Milan';
  if (family === 0x19 && model < 0x20) return 'Genoa';
  if (family === 0x1a && model < 0x20) return 'Turin';
  return null;
}

/** The security patch levels of a TCB_VERSION, by component. */
export interface SnpTcb {
  /** Turin only: the firmware measurement chain's first stage. */
  fmc?: number;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

/**
 * Splits a TCB_VERSION into its components. Milan and Genoa put the boot loader, TEE, SNP and
 * microcode levels in bytes 0, 1, 6 and 7 (ABI Table 3); Turin moves them to bytes 1, 2, 3, 7
 * and puts the FMC level in byte 0 (ABI 1.58).
 */
export function decomposeTcb(tcb: Uint8Array, product: SnpProduct): SnpTcb {
  const at = (index: number): number => tcb[index] ?? 0;
  if (product === 'Turin') return { fmc: at(0), bootloader: at(1), tee: at(2), snp: at(3), microcode: at(7) };
  return { bootloader: at(0), tee: at(1), snp: at(6), microcode: at(7) };
}
