import { Command, InvalidArgumentError, Option } from 'commander';
import {
  EvidenceRefusedError,
  readAttestationPolicyFile,
  readCollateralFile,
  readEvidenceFile,
  verifyEvidence,
  type EvidenceClaims,
  type EvidenceKind,
  type EvidenceVerification,
} from '../tee/index.js';
import { printJson } from './output.js';

const COLLATERAL_HELP = `
Evidence: raw bytes, or hex or base64 text of them. The kind is told from the layout unless --kind
says it: Nitro a COSE_Sign1 attestation document, SGX a DCAP v3 ECDSA quote, SNP a 0x4A0-byte report.

Collateral (--collateral, JSON):
  sgx   Phala dcap-qvl's collateral file (tcb_info, tcb_info_signature, tcb_info_issuer_chain,
        qe_identity, qe_identity_signature, qe_identity_issuer_chain, root_ca_crl, pck_crl), or
        { "tcbInfo": "<Intel PCS TCB info body, exactly as served>",
          "qeIdentity": "<Intel PCS QE identity body, exactly as served>",
          "tcbSigningChain": "<PEM of the Intel SGX TCB Signing certificate>",
          "rootCaCrl": "<DER CRL in hex>", "pckCrl": "<DER CRL in hex>" }   (each optional;
        without tcbInfo and qeIdentity the TCB status is unknown)
  snp   { "vcek": "<VCEK or VLEK: PEM, or DER in hex>", "chain": "<PEM of the ASK or ASVK, then the ARK>" }
        (required; without "chain" AMD's ASK or ASVK shipped with Cipher Nexus is used)
  nitro none: the chain to the AWS Nitro Enclaves root travels in the document

Policy (--policy, JSON): { "allowedMeasurements": ["<hex>", ...], "allowDebug": false,
  "acceptedTcb": ["up-to-date", ...], "nonce": "<hex>", "reportData": "<hex prefix>" }
  acceptedTcb defaults to ["up-to-date"]; Nitro and SNP evidence has TCB "unknown".

Exit codes: 0 accepted, 1 refused (the failed check named), 2 unreadable input or bad flags.`;

function checkTime(value: string): Date {
  const at = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(at.getTime())) {
    throw new InvalidArgumentError(`--at must be an ISO 8601 time such as 2024-09-07T14:37:39Z, got '${value}'`);
  }
  return at;
}

interface AttestVerifyOptions {
  kind?: EvidenceKind;
  at?: Date;
  collateral?: string;
  policy?: string;
  json?: boolean;
}

/** Adds `attest verify`, the check of hardware attestation evidence (AWS Nitro, Intel SGX DCAP, AMD SEV-SNP), to the program. */
export function registerAttestCommands(program: Command): void {
  const attest = program.command('attest').description('trusted execution: check hardware attestation evidence');

  attest
    .command('verify')
    .description('verify AWS Nitro, Intel SGX DCAP or AMD SEV-SNP evidence against the pinned vendor roots, optionally under a policy; exits 0 when accepted, 1 when refused')
    .argument('<file>', 'the evidence: attestation document, quote or report (raw, hex or base64)')
    .addOption(new Option('--kind <kind>', 'the kind of evidence (detected when not given)').choices(['nitro', 'sgx', 'snp']))
    .option('--at <iso-time>', 'the time at which certificates, CRLs and collateral must be valid (default: now)', checkTime)
    .option('--collateral <file>', 'SGX or SNP collateral, JSON (see below)')
    .option('--policy <file>', 'an attestation policy, JSON (see below)')
    .option('--json', 'print the verification as JSON')
    .addHelpText('after', COLLATERAL_HELP)
    .action((file: string, opts: AttestVerifyOptions) => {
      // Everything is read and checked before anything is verified, so bad input exits 2 alone.
      const evidence = readEvidenceFile(file, opts.kind);
      const collateral = opts.collateral === undefined ? undefined : readCollateralFile(opts.collateral, evidence.kind);
      const policy = opts.policy === undefined ? undefined : readAttestationPolicyFile(opts.policy);
      const at = opts.at ?? new Date();
      const verification = verifyEvidence(evidence.bytes, { kind: evidence.kind, at, collateral, policy });
      if (opts.json) printJson({ file, at: at.toISOString(), policy: policy !== undefined, ...verification });
      else process.stdout.write(formatVerification(verification, at));
      // Thrown so the CLI's one error path prints the one-line conclusion and exits 1.
      if (!verification.ok) throw new EvidenceRefusedError(verification);
    });
}

/** The checks, one a line, then the claims and the conclusion when accepted. */
function formatVerification(verification: EvidenceVerification, at: Date): string {
  const width = Math.max(...verification.checks.map((check) => check.name.length));
  const lines = verification.checks.map((check) => `${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(width)}  ${check.detail}`);
  if (verification.ok && verification.claims !== null) {
    lines.push('claims', ...formatClaims(verification.claims));
    lines.push(`${verification.kind} evidence accepted: all ${verification.checks.length} checks passed at ${at.toISOString()}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatClaims(claims: EvidenceClaims): string[] {
  const rows: [string, string][] = [
    ['measurement', claims.measurement],
    ['debug', String(claims.debug)],
    ['tcb', claims.tcb.detail.startsWith(claims.tcb.status) ? claims.tcb.detail : `${claims.tcb.status} (${claims.tcb.detail})`],
    ['reportData', short(claims.reportData)],
    ['nonce', short(claims.nonce)],
    ['publicKey', short(claims.publicKey)],
    ['issuedAt', claims.issuedAt === null ? '-' : new Date(claims.issuedAt).toISOString()],
    ...Object.entries(claims.measurements).map(([name, value]): [string, string] => [name, short(value)]),
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`);
}

/** Long hex (Nitro's 1 KiB nonces) abbreviated; `--json` gives it whole. */
function short(value: string | null): string {
  if (value === null) return '-';
  if (value.length <= 128 || !/^[0-9a-f]+$/.test(value)) return value;
  return `${value.slice(0, 32)}…${value.slice(-16)} (${value.length / 2} bytes)`;
}
