import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from 'cbor2';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { forgeChain, forgeDocument } from '../../test/support/nitro-document.js';
import { sgxCollateralFromQvl, type SgxCollateral } from '../tee/index.js';
import { registerAttestCommands } from './attest-command.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './output.js';
import { runCliToEnd } from '../../test/support/cli-run.js';
import { runInProcess, type CliOutcome } from '../../test/support/cli-in-process.js';

const VECTORS = new URL('../../test/vectors/tee/', import.meta.url);
const vector = (path: string): Buffer => readFileSync(new URL(path, VECTORS));
const text = (path: string): string => vector(path).toString('utf8');

// Made at load time: the tables below write their files while the tests are collected.
const dir = mkdtempSync(join(tmpdir(), 'cn-attest-cli-'));
let written = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes bytes, text or a JSON value to a fresh file in the temporary folder and returns its path. */
function file(content: Uint8Array | string | object): string {
  const path = join(dir, `f${written++}`);
  writeFileSync(path, content instanceof Uint8Array || typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** Runs `attest verify` as the CLI would: its stdout, stderr and exit code. */
function cli(args: string[]): Promise<CliOutcome> {
  const program = new Command('cipher-nexus').exitOverride();
  registerAttestCommands(program);
  return runInProcess(program, ['attest', 'verify', ...args]);
}

/** The `--json` verification of evidence at a file, with the exit code beside it. */
async function verifyJson(args: string[]): Promise<{ code: number; ok: boolean; failed: string | null; claims: Record<string, unknown> | null; checks: { name: string }[]; stderr: string }> {
  const run = await cli([...args, '--json']);
  return { code: run.code, stderr: run.stderr, ...JSON.parse(run.stdout) };
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** SGX collateral as the JSON file `--collateral` reads: the verifier's fields, DER CRLs in hex. */
function sgxCollateralJson(collateral: SgxCollateral): object {
  return {
    ...collateral,
    rootCaCrl: collateral.rootCaCrl && hex(collateral.rootCaCrl),
    pckCrl: collateral.pckCrl && hex(collateral.pckCrl),
  };
}

const phala = sgxCollateralFromQvl(text('sgx-dcap/phala_sgx_quote_collateral.json'));
const setB = {
  tcbInfo: text('sgx-dcap/mobilecoin-attestation_fmspc_00906ED50000_2023_07_12.json'),
  qeIdentity: text('sgx-dcap/mobilecoin-attestation_qe_identity.json'),
  tcbSigningChain: text('sgx-dcap/mobilecoin-attestation_tcb_signer.pem'),
  rootCaCrl: new Uint8Array(vector('sgx-dcap/root_crl.der')),
};
const crls = { rootCaCrl: new Uint8Array(vector('sgx-dcap/root_crl.der')), pckCrl: new Uint8Array(vector('sgx-dcap/processor_crl.der')) };
const automata = {
  tcbInfo: text('sgx-dcap/automata_0825_sgx_tcbinfov3_00606a000000.json'),
  qeIdentity: text('sgx-dcap/automata_0825_sgx_qeidentity_v4.json'),
  tcbSigningChain: phala.tcbSigningChain,
  rootCaCrl: phala.rootCaCrl,
  pckCrl: new Uint8Array(vector('sgx-dcap/automata_0825_platform_crl.der')),
};
const snp = (vcek: string, chain: string) => ({ vcek: vcek.endsWith('.pem') ? text(`snp/${vcek}`) : hex(vector(`snp/${vcek}`)), chain: text(`snp/${chain}`) });

/** Every real sample, at the time and with the collateral its README names, and the conclusion the README states. */
const SAMPLES: { evidence: string; at: string; collateral?: () => object; kind: string; failed?: string; debug?: boolean; tcb?: string }[] = [
  { evidence: 'nitro/nitro_attestation.b64', at: '2024-09-07T14:37:39.545Z', kind: 'nitro', debug: false },
  { evidence: 'nitro/nitro_attestation_debug.b64', at: '2024-09-07T14:38:06.508Z', kind: 'nitro', debug: true },
  { evidence: 'nitro/evervault_valid-attestation-doc-bytes', at: '2022-10-13T08:58:02.136Z', kind: 'nitro', debug: false },
  { evidence: 'nitro/evervault_debug-mode-attestation-doc-bytes', at: '2022-10-12T13:50:06.081Z', kind: 'nitro', debug: true },
  { evidence: 'nitro/evervault_valid-attestation-doc-base64', at: '2023-09-18T15:03:30.860Z', kind: 'nitro', debug: true },
  { evidence: 'nitro/blocky_selfsigned_attestation.b64', at: '2024-04-17T18:51:46Z', kind: 'nitro', failed: 'parse' },
  { evidence: 'sgx-dcap/hw_quote.dat', at: '2023-05-01T00:00:00Z', kind: 'sgx', debug: true, tcb: 'unknown' },
  { evidence: 'sgx-dcap/hw_quote.dat', at: '2023-05-01T00:00:00Z', collateral: () => sgxCollateralJson(crls), kind: 'sgx', debug: true, tcb: 'unknown' },
  { evidence: 'sgx-dcap/hw_quote.dat', at: '2023-07-12T20:48:25Z', collateral: () => sgxCollateralJson(setB), kind: 'sgx', debug: true, tcb: 'out-of-date' },
  // dcap-qvl's own collateral file, as the user has it.
  { evidence: 'sgx-dcap/phala_sgx_quote', at: '2025-07-19T10:01:18Z', collateral: () => JSON.parse(text('sgx-dcap/phala_sgx_quote_collateral.json')), kind: 'sgx', debug: false, tcb: 'configuration-and-sw-hardening-needed' },
  { evidence: 'sgx-dcap/mobilecoin-attestation_hw_quote.dat', at: '2023-07-12T20:48:25Z', collateral: () => sgxCollateralJson(setB), kind: 'sgx', debug: false, tcb: 'sw-hardening-needed' },
  { evidence: 'sgx-dcap/mobilecoin-attestation_hw_quote.dat', at: '2023-07-12T20:48:25Z', collateral: () => sgxCollateralJson({ ...setB, pckCrl: crls.pckCrl }), kind: 'sgx', failed: 'crl' },
  { evidence: 'sgx-dcap/automata_quotev3.hex', at: '2025-08-15T05:41:26Z', collateral: () => sgxCollateralJson(automata), kind: 'sgx', debug: false, tcb: 'sw-hardening-needed' },
  { evidence: 'snp/attestation.bin', at: '2024-01-01T00:00:00Z', collateral: () => snp('vcek.der', 'ask_ark_milan.pem'), kind: 'snp', debug: true, tcb: 'unknown' },
  { evidence: 'snp/trustee_test-report.bin', at: '2024-01-01T00:00:00Z', collateral: () => snp('trustee_test-vcek.der', 'ask_ark_milan.pem'), kind: 'snp', debug: false, tcb: 'unknown' },
  { evidence: 'snp/trustee_test-vlek-report.bin', at: '2025-06-01T00:00:00Z', collateral: () => snp('trustee_test-vlek.der', 'ask_ark_milan_vlek.pem'), kind: 'snp', debug: false },
  { evidence: 'snp/trustee_test-vlek-report.bin', at: '2025-06-01T00:00:00Z', collateral: () => snp('trustee_test-vlek.der', 'ask_ark_genoa_vlek.pem'), kind: 'snp', failed: 'chain' },
  { evidence: 'snp/derived_az-genoa-snp-report.bin', at: '2025-06-01T00:00:00Z', collateral: () => snp('trustee_az-vcek-genoa.pem', 'ask_ark_genoa.pem'), kind: 'snp', debug: false },
  { evidence: 'snp/derived_az-genoa-snp-report.bin', at: '2025-06-01T00:00:00Z', collateral: () => snp('trustee_az-vcek-genoa.pem', 'ask_ark_milan.pem'), kind: 'snp', failed: 'chain' },
  { evidence: 'snp/virtee_report_milan.hex', at: '2024-01-01T00:00:00Z', collateral: () => snp('virtee_vcek_milan.der', 'ask_ark_milan.pem'), kind: 'snp', debug: false },
  { evidence: 'snp/trustee_test-report.bin', at: '2024-01-01T00:00:00Z', collateral: () => snp('trustee_test-vcek-invalid-legacy.der', 'ask_ark_milan.pem'), kind: 'snp', failed: 'chain' },
  { evidence: 'snp/trustee_test-report.bin', at: '2024-01-01T00:00:00Z', collateral: () => snp('trustee_test-vcek-invalid-new.der', 'ask_ark_milan.pem'), kind: 'snp', failed: 'chain' },
];

/** The first sample of an evidence file (the one its README's main row names). */
const byFile = (evidence: string): (typeof SAMPLES)[number] => SAMPLES.find((sample) => sample.evidence === evidence) as (typeof SAMPLES)[number];

const argsOf = (sample: (typeof SAMPLES)[number]): string[] => [
  file(vector(sample.evidence)),
  '--at',
  sample.at,
  ...(sample.collateral ? ['--collateral', file(sample.collateral())] : []),
];

describe('attest verify on the real samples', () => {
  it.each(SAMPLES.map((sample) => [`${sample.evidence}${sample.collateral ? ' with collateral' : ''} at ${sample.at}`, sample] as const))('%s', async (_label, sample) => {
    const result = await verifyJson(argsOf(sample));
    expect(result.checks.length).toBeGreaterThan(0);
    if (sample.failed !== undefined) {
      expect(result).toMatchObject({ code: EXIT_FAILURE, ok: false, failed: sample.failed, claims: null });
      expect(result.stderr).toMatch(new RegExp(`^error \\[TEE_EVIDENCE_REFUSED\\]: ${sample.kind} evidence refused at ${sample.failed}: .+\\n$`));
      return;
    }
    expect(result).toMatchObject({ code: EXIT_OK, ok: true, failed: null, stderr: '' });
    expect(result.claims).toMatchObject({ kind: sample.kind, debug: sample.debug, tcb: { status: sample.tcb ?? 'unknown' } });
  });

  it('prints every check, the claims and a one-line conclusion when accepted', async () => {
    const run = await cli(argsOf(byFile('sgx-dcap/phala_sgx_quote')));
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 11).map((line) => line.split(/\s+/).slice(0, 2).join(' '))).toEqual(
      ['parse', 'chain', 'root', 'validity', 'crl', 'qe-report', 'qe-report-data', 'signature', 'tcb-info', 'qe-identity', 'tcb'].map((name) => `ok ${name}`),
    );
    expect(run.stdout).toMatch(/\n {2}measurement +33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb\n/);
    expect(lines.at(-1)).toBe('sgx evidence accepted: all 11 checks passed at 2025-07-19T10:01:18.000Z');
  });

  it("refuses them at today's date as expired or stale", async () => {
    for (const sample of SAMPLES.filter((s) => s.kind === 'nitro' && s.failed === undefined)) {
      const run = await cli(argsOf(sample).slice(0, 1));
      expect(run.code).toBe(EXIT_FAILURE);
      expect(run.stdout).toMatch(/^FAIL {2}validity +at the check time .* expired at/m);
      expect(run.stderr).toMatch(/^error \[TEE_EVIDENCE_REFUSED\]: nitro evidence refused at validity: /);
    }
    const vlek = byFile('snp/trustee_test-vlek-report.bin');
    expect(await verifyJson([...argsOf(vlek).filter((arg) => arg !== vlek.at && arg !== '--at')])).toMatchObject({ code: EXIT_FAILURE, failed: 'validity' });
    for (const sample of [byFile('sgx-dcap/phala_sgx_quote'), byFile('sgx-dcap/automata_quotev3.hex')]) {
      const today = argsOf(sample).filter((arg) => arg !== sample.at && arg !== '--at');
      expect(await verifyJson(today)).toMatchObject({ code: EXIT_FAILURE, failed: 'crl' });
    }
  });

  it('refuses stale TCB info (collateral without CRLs) after its next update', async () => {
    const collateral = file(sgxCollateralJson({ ...phala, rootCaCrl: undefined, pckCrl: undefined }));
    const run = await cli([file(vector('sgx-dcap/phala_sgx_quote')), '--collateral', collateral, '--at', '2025-07-20T00:00:00Z']);
    expect(run.code).toBe(EXIT_FAILURE);
    expect(run.stderr).toMatch(/refused at tcb-info: TCB info: stale: its next update was due 2025-07-19T10:56:11Z/);
  });
});

function flipped(bytes: Uint8Array, offset: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[offset < 0 ? copy.length + offset : offset] ^= 0x01;
  return copy;
}

/** Where `part` lies in `whole`. */
const offsetOf = (whole: Uint8Array, part: Uint8Array): number => Buffer.from(whole).indexOf(Buffer.from(part));

/** A PEM text with one byte of its `index`th certificate's DER flipped (negative offsets from the end), its lines kept. */
function pemWithByteFlipped(pem: string, index: number, derOffset: number): string {
  const block = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)][index];
  const body = block[1];
  const base64 = Buffer.from(flipped(Buffer.from(body.replace(/\s/g, ''), 'base64'), derOffset)).toString('base64');
  let cursor = 0;
  const rebuilt = [...body].map((char) => (/\s/.test(char) ? char : base64[cursor++])).join('');
  const start = (block.index ?? 0) + '-----BEGIN CERTIFICATE-----'.length;
  return pem.slice(0, start) + rebuilt + pem.slice(start + body.length);
}

describe('attest verify refuses tampered evidence, naming the check', () => {
  const refusedAt = async (args: string[], failed: string): Promise<void> => {
    const run = await cli(args);
    expect(run.code, run.stderr).toBe(EXIT_FAILURE);
    expect(run.stderr).toMatch(new RegExp(`^error \\[TEE_EVIDENCE_REFUSED\\]: \\w+ evidence refused at ${failed}: `));
    expect(run.stdout).toMatch(new RegExp(`^FAIL {2}${failed} `, 'm'));
  };

  it('Nitro: the signature, the body, each certificate, another root', async () => {
    const at = ['--at', byFile('nitro/nitro_attestation.b64').at];
    const bytes = new Uint8Array(Buffer.from(text('nitro/nitro_attestation.b64'), 'base64'));
    const payload = decode((decode(bytes) as unknown[])[2] as Uint8Array) as { pcrs: Map<number, Uint8Array>; cabundle: Uint8Array[]; certificate: Uint8Array };
    await refusedAt([file(flipped(bytes, -10)), ...at], 'signature');
    await refusedAt([file(flipped(bytes, offsetOf(bytes, payload.pcrs.get(0) as Uint8Array) + 5)), ...at], 'signature');
    for (const [position, der] of [...payload.cabundle, payload.certificate].entries()) {
      await refusedAt([file(flipped(bytes, offsetOf(bytes, der) + der.length - 5)), ...at], position === 0 ? 'root' : 'chain');
    }
    const chain = await forgeChain(new Date('2025-01-01T00:00:00Z'), new Date('2025-01-02T00:00:00Z'));
    await refusedAt([file(Buffer.from(forgeDocument(chain)).toString('base64')), '--at', '2025-01-01T12:00:00Z'], 'root');
  });

  it('SGX: the ISV signature, the body, each certificate of the PCK chain', async () => {
    const sample = byFile('sgx-dcap/phala_sgx_quote');
    const collateral = ['--collateral', file(sample.collateral?.() ?? {}), '--at', sample.at];
    const quote = new Uint8Array(vector(sample.evidence));
    await refusedAt([file(flipped(quote, 436 + 5)), ...collateral], 'signature');
    await refusedAt([file(flipped(quote, 48 + 64)), ...collateral], 'signature');
    const latin1 = Buffer.from(quote).toString('latin1');
    for (const [index, failed] of [[0, 'chain'], [1, 'chain'], [2, 'root']] as const) {
      await refusedAt([file(Buffer.from(pemWithByteFlipped(latin1, index, -5), 'latin1')), ...collateral], failed);
    }
  });

  it('SNP: the signature, the body, the VCEK, the ASK and the ARK, another product\'s chain', async () => {
    const sample = byFile('snp/trustee_test-report.bin');
    const at = ['--at', sample.at];
    const report = new Uint8Array(vector(sample.evidence));
    const good = ['--collateral', file(snp('trustee_test-vcek.der', 'ask_ark_milan.pem')), ...at];
    await refusedAt([file(flipped(report, 0x2a0)), ...good], 'signature');
    await refusedAt([file(flipped(report, 0x50)), ...good], 'signature');
    const vcek = new Uint8Array(vector('snp/trustee_test-vcek.der'));
    const milan = text('snp/ask_ark_milan.pem');
    await refusedAt([file(report), '--collateral', file({ vcek: hex(flipped(vcek, -5)), chain: milan }), ...at], 'chain');
    for (const index of [0, 1]) {
      await refusedAt([file(report), '--collateral', file({ vcek: hex(vcek), chain: pemWithByteFlipped(milan, index, -5) }), ...at], 'chain');
    }
    await refusedAt([file(report), '--collateral', file(snp('trustee_test-vcek.der', 'ask_ark_genoa.pem')), ...at], 'chain');
  });
});

describe('attest verify --policy', () => {
  const nitro = byFile('nitro/nitro_attestation.b64');
  const nitroPcr0 = 'e72a46ca80a260fb044a125442f0c7e331813bcbaf9724d9f3857758992766f2d65710a27aa94ae3949dd54e7c9fe86a';
  const withPolicy = (sample: (typeof SAMPLES)[number], policy: object) => verifyJson([...argsOf(sample), '--policy', file(policy)]);

  it('accepts evidence the policy allows, its checks listed after the verifier\'s', async () => {
    const result = await withPolicy(nitro, { allowedMeasurements: [nitroPcr0], acceptedTcb: ['unknown'], nonce: '01'.repeat(1024), reportData: '0101' });
    expect(result).toMatchObject({ code: EXIT_OK, ok: true });
    expect(result.checks.map((check) => check.name).slice(-6)).toEqual(['timestamp', 'policy-measurement', 'policy-debug', 'policy-tcb', 'policy-nonce', 'policy-report-data']);
  });

  it.each([
    ['a measurement off the allow-list', nitro, { allowedMeasurements: ['00'.repeat(48)], acceptedTcb: ['unknown'] }, 'policy-measurement'],
    ['debug mode', byFile('nitro/nitro_attestation_debug.b64'), { allowedMeasurements: ['00'.repeat(48)], acceptedTcb: ['unknown'] }, 'policy-debug'],
    ['a TCB the policy does not accept', byFile('sgx-dcap/phala_sgx_quote'), { allowedMeasurements: ['33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb'] }, 'policy-tcb'],
    ['a nonce mismatch', nitro, { allowedMeasurements: [nitroPcr0], acceptedTcb: ['unknown'], nonce: '02'.repeat(16) }, 'policy-nonce'],
    ['a report-data mismatch', byFile('sgx-dcap/phala_sgx_quote'), { allowedMeasurements: ['33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb'], acceptedTcb: ['configuration-and-sw-hardening-needed'], reportData: Buffer.from('Goodbye').toString('hex') }, 'policy-report-data'],
  ] as const)('refuses %s', async (_label, sample, policy, failed) => {
    const result = await withPolicy(sample, policy);
    expect(result).toMatchObject({ code: EXIT_FAILURE, ok: false, failed });
    expect(result.stderr).toContain(`evidence refused at ${failed}: `);
  });

  it.each([
    [{ allowedMeasurements: ['zz'] }, 'allowedMeasurements.0'],
    [{ allowedMeasurements: [] }, 'allowedMeasurements'],
    [{ allowedMeasurements: [nitroPcr0], acceptedTcb: ['current'] }, 'acceptedTcb.0'],
    [{ allowedMeasurements: [nitroPcr0], allowDebugg: true }, 'allowDebugg'],
    [{}, 'allowedMeasurements'],
  ])('exits 2 on a bad policy %j, naming the field', async (policy, field) => {
    const run = await cli([...argsOf(nitro), '--policy', file(policy)]);
    expect(run).toMatchObject({ code: EXIT_USAGE, stdout: '' });
    expect(run.stderr).toMatch(new RegExp(`^error \\[TEE_POLICY_INVALID\\]: policy '.*': field ${field.replace('.', '\\.')}: [^\\n]+\\n$`));
  });
});

describe('attest verify on unreadable input', () => {
  const nitro = file(vector('nitro/nitro_attestation.b64'));
  it.each([
    ['a missing file', [join(tmpdir(), 'cn-attest-missing', 'evidence.bin')], 'TEE_EVIDENCE_UNREADABLE'],
    ['an empty file', [file('')], 'TEE_EVIDENCE_UNREADABLE'],
    ['text in neither hex nor base64', [file('hello, enclave!\n')], 'TEE_EVIDENCE_UNREADABLE'],
    ['bytes of no known kind', [file(new Uint8Array([1, 2, 3, 4, 0, 255]))], 'TEE_EVIDENCE_KIND_UNKNOWN'],
    ['collateral that is not JSON', [file(vector('sgx-dcap/phala_sgx_quote')), '--collateral', file('not json')], 'TEE_COLLATERAL_INVALID'],
    ['SGX collateral with a CRL not in hex', [file(vector('sgx-dcap/phala_sgx_quote')), '--collateral', file({ rootCaCrl: 'xyz' })], 'TEE_COLLATERAL_INVALID'],
    ['SNP collateral without a VCEK', [file(vector('snp/attestation.bin')), '--collateral', file({ chain: 'x' })], 'TEE_COLLATERAL_INVALID'],
    ['collateral for Nitro', [nitro, '--collateral', file({})], 'TEE_COLLATERAL_INVALID'],
    ['a missing collateral file', [nitro, '--kind', 'sgx', '--collateral', join(dir, 'none.json')], 'TEE_COLLATERAL_INVALID'],
  ])('exits 2 on %s, in one line', async (_label, args, code) => {
    const run = await cli(args);
    expect(run).toMatchObject({ code: EXIT_USAGE, stdout: '' });
    expect(run.stderr).toMatch(new RegExp(`^error \\[${code}\\]: [^\\n]+\\n$`));
  });

  it.each([
    ['--at', 'yesterday'],
    ['--kind', 'tdx'],
  ])('exits 2 on a bad %s flag', async (flag, value) => {
    const run = await cli([nitro, flag, value]);
    expect(run).toMatchObject({ code: EXIT_USAGE, stdout: '' });
    expect(run.stderr).toMatch(new RegExp(`^error: option '${flag} [^\\n]+\\n$`));
  });

  it('takes the kind from --kind over detection, refusing evidence of another kind at parse', async () => {
    expect(await verifyJson([nitro, '--kind', 'sgx', '--at', byFile('nitro/nitro_attestation.b64').at])).toMatchObject({ code: EXIT_FAILURE, failed: 'parse' });
  });
});

describe('cipher-nexus attest verify, as a process', () => {
  it('is registered, refuses expired evidence with exit 1 and one line, and documents the collateral in its help', async () => {
    const run = (args: string[]) => runCliToEnd(['attest', 'verify', ...args]);
    const refused = await run([fileURLToPath(new URL('nitro/nitro_attestation.b64', VECTORS))]);
    expect(refused.code).toBe(EXIT_FAILURE);
    expect(refused.stderr).toMatch(/^error \[TEE_EVIDENCE_REFUSED\]: nitro evidence refused at validity: [^\n]+\n$/);
    const help = await run(['--help']);
    expect(help.code).toBe(EXIT_OK);
    expect(help.stdout).toContain('"vcek": "<VCEK or VLEK: PEM, or DER in hex>"');
  });
});
