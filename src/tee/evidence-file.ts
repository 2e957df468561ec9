/**
 * Evidence and collateral as they arrive in files: raw bytes, or base64 or hex text of them, and the
 * kind of evidence told apart by its first bytes, so a relying party need not say which it holds.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';
import type { EvidenceKind } from './evidence.js';
import { sgxCollateralFromQvl, type SgxCollateral } from './sgx/index.js';
import { SNP_REPORT_SIZE, type SnpCollateral } from './snp/index.js';

/** The codes of evidence and collateral that cannot be read; the CLI exits 2 on them. */
export type EvidenceFileErrorCode = 'TEE_EVIDENCE_UNREADABLE' | 'TEE_EVIDENCE_KIND_UNKNOWN' | 'TEE_COLLATERAL_INVALID';

/** Evidence or collateral that cannot be read, as opposed to evidence that was read and refused. */
export class EvidenceFileError extends InvalidInputError {
  declare readonly code: EvidenceFileErrorCode;

  constructor(code: EvidenceFileErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}

const HEX = /^(?:0x)?((?:[0-9a-f]{2})+)$/i;
const BASE64 = /^[A-Za-z0-9+/\-_]+={0,2}$/;
/** Bytes text evidence may hold: printable ASCII and whitespace. */
const isTextByte = (byte: number): boolean => (byte >= 0x20 && byte <= 0x7e) || byte === 0x09 || byte === 0x0a || byte === 0x0d;

/**
 * The evidence's bytes from what a file holds: text (only printable ASCII) is read as hex, then as
 * base64; anything else is taken as the raw evidence. Empty input, or text in neither form, throws.
 */
export function evidenceBytes(input: Uint8Array): Uint8Array {
  if (input.length === 0) throw new EvidenceFileError('TEE_EVIDENCE_UNREADABLE', 'the evidence is empty; give the attestation document, quote or report (raw, base64 or hex)');
  if (!input.every(isTextByte)) return input;
  const text = Buffer.from(input).toString('latin1').replace(/\s+/g, '');
  const hex = HEX.exec(text);
  if (hex !== null) return new Uint8Array(Buffer.from(hex[1], 'hex'));
  if (BASE64.test(text) && text.replace(/=+$/, '').length % 4 !== 1) {
    return new Uint8Array(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
  }
  throw new EvidenceFileError('TEE_EVIDENCE_UNREADABLE', 'the evidence is text but neither hex nor base64; give the raw evidence or its hex or base64 encoding', { start: text.slice(0, 32) });
}

/**
 * The kind of evidence, from its layout: Nitro a COSE_Sign1 (CBOR array of 4, or tag 18 then one),
 * SGX a DCAP quote version 3 with attestation key type 2 (ECDSA P-256), SNP a report of 0x4A0 bytes.
 * Null when it is none of them.
 */
export function detectEvidenceKind(bytes: Uint8Array): EvidenceKind | null {
  if (bytes[0] === 0x84 || (bytes[0] === 0xd2 && bytes[1] === 0x84)) return 'nitro';
  // Quote header (Intel DCAP quote format, A.4): version u16 LE, attestation key type u16 LE.
  if (bytes.length >= 4 && bytes[0] === 3 && bytes[1] === 0 && bytes[2] === 2 && bytes[3] === 0) return 'sgx';
  if (bytes.length === SNP_REPORT_SIZE) return 'snp';
  return null;
}

/** Evidence read from a file: its bytes and its kind (given, or detected). */
export interface EvidenceFile {
  kind: EvidenceKind;
  bytes: Uint8Array;
}

/** Reads evidence from `path` (raw, base64 or hex) and tells its kind unless `kind` is given. */
export function readEvidenceFile(path: string, kind?: EvidenceKind): EvidenceFile {
  const bytes = evidenceBytes(readFileBytes(path, 'evidence'));
  const found = kind ?? detectEvidenceKind(bytes);
  if (found === null) {
    throw new EvidenceFileError(
      'TEE_EVIDENCE_KIND_UNKNOWN',
      `'${path}' is neither a Nitro COSE_Sign1, an SGX DCAP v3 quote nor a ${SNP_REPORT_SIZE}-byte SNP report; pass --kind nitro|sgx|snp if it is one`,
      { length: bytes.length },
    );
  }
  return { kind: found, bytes };
}

const binary = z.string().regex(/^(?:[0-9a-fA-F]{2})*$/, 'must be hex').transform((hex) => new Uint8Array(Buffer.from(hex, 'hex')));

/** SGX collateral in JSON, with the fields of `SgxCollateral`: signed PCS bodies as served, the TCB signing chain as PEM, DER CRLs as hex. */
const SgxCollateralSchema = z
  .object({
    tcbInfo: z.string().optional(),
    qeIdentity: z.string().optional(),
    tcbSigningChain: z.string().optional(),
    rootCaCrl: binary.optional(),
    pckCrl: binary.optional(),
  })
  .strict();

/** SNP collateral in JSON: the VCEK or VLEK as PEM or hex DER, and optionally the ASK (or ASVK) and ARK as PEM. */
const SnpCollateralSchema = z
  .object({
    vcek: z.string().min(1),
    chain: z.string().optional(),
  })
  .strict();

/**
 * Reads the collateral of `kind` from a JSON file. SGX: Phala dcap-qvl's collateral JSON (`tcb_info`,
 * `qe_identity`, their signatures and issuer chains, `root_ca_crl`, `pck_crl`), or an object with
 * `tcbInfo` and `qeIdentity` (Intel PCS response bodies as served), `tcbSigningChain` (PEM), and
 * `rootCaCrl`, `pckCrl` (DER as hex), each optional. SNP: `{ "vcek": PEM or hex DER, "chain": PEM }`.
 * Nitro takes none: its chain travels in the document.
 */
export function readCollateralFile(path: string, kind: EvidenceKind): SgxCollateral | SnpCollateral {
  if (kind === 'nitro') throw new EvidenceFileError('TEE_COLLATERAL_INVALID', 'Nitro evidence takes no collateral (its certificate chain is in the document); drop --collateral');
  const text = Buffer.from(readFileBytes(path, 'collateral')).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new EvidenceFileError('TEE_COLLATERAL_INVALID', `collateral '${path}' is not JSON; see \`cipher-nexus attest verify --help\` for its fields`);
  }
  if (kind === 'sgx' && typeof json === 'object' && json !== null && 'tcb_info' in json) {
    try {
      return sgxCollateralFromQvl(text);
    } catch (error) {
      throw new EvidenceFileError('TEE_COLLATERAL_INVALID', `collateral '${path}': ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const schema = kind === 'sgx' ? SgxCollateralSchema : SnpCollateralSchema;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(the whole file)');
    throw new EvidenceFileError('TEE_COLLATERAL_INVALID', `${kind.toUpperCase()} collateral '${path}': field ${field}: ${issue.message}`, parsed.error.issues);
  }
  if ('vcek' in parsed.data) {
    const { vcek, chain } = parsed.data;
    // PEM stays text for the verifier; anything else must be the DER in hex.
    if (vcek.includes('-----BEGIN')) return { vcek, chain };
    const der = binary.safeParse(vcek.replace(/\s+/g, ''));
    if (!der.success) throw new EvidenceFileError('TEE_COLLATERAL_INVALID', `SNP collateral '${path}': field vcek: must be a PEM certificate or its DER in hex`);
    return { vcek: der.data, chain };
  }
  return parsed.data;
}

function readFileBytes(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new EvidenceFileError(what === 'evidence' ? 'TEE_EVIDENCE_UNREADABLE' : 'TEE_COLLATERAL_INVALID', `${what} file '${path}' ${reason}; check the path`);
  }
}
