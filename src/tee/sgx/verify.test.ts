import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { sgxVector, sgxVectorText } from '../../../test/vectors/tee/sgx-dcap/vectors.js';
import { sgxCollateralFromQvl, type SgxCollateral } from './collateral.js';
import { verifySgxQuote } from './verify.js';
import { generateEcdsaCryptoKeyPair } from '../../core/index.js';

const TODAY = new Date('2026-12-04T00:00:00Z');
const HW_TIME = new Date('2023-05-01T00:00:00Z');
const PHALA_TIME = new Date('2025-07-19T10:01:18Z');
const MOBILECOIN_TIME = new Date('2023-07-12T20:48:25Z');
const AUTOMATA_TIME = new Date('2025-08-15T05:41:26Z');

const hwQuote = sgxVector('hw_quote.dat');
const phalaQuote = sgxVector('phala_sgx_quote');
const mobilecoinQuote = sgxVector('mobilecoin-attestation_hw_quote.dat');
const automataQuote = sgxVector('automata_quotev3.hex');
const crls = { rootCaCrl: sgxVector('root_crl.der'), pckCrl: sgxVector('processor_crl.der') };
const phala = sgxCollateralFromQvl(sgxVectorText('phala_sgx_quote_collateral.json'));
const mobilecoin: SgxCollateral = {
  tcbInfo: sgxVectorText('mobilecoin-attestation_fmspc_00906ED50000_2023_07_12.json'),
  qeIdentity: sgxVectorText('mobilecoin-attestation_qe_identity.json'),
  tcbSigningChain: sgxVectorText('mobilecoin-attestation_tcb_signer.pem'),
  rootCaCrl: crls.rootCaCrl,
};
const automata: SgxCollateral = {
  tcbInfo: sgxVectorText('automata_0825_sgx_tcbinfov3_00606a000000.json'),
  qeIdentity: sgxVectorText('automata_0825_sgx_qeidentity_v4.json'),
  tcbSigningChain: phala.tcbSigningChain,
  rootCaCrl: phala.rootCaCrl,
  pckCrl: sgxVector('automata_0825_platform_crl.der'),
};

/** Offsets in a v3 quote (Intel DCAP quote format, appendix A.4). */
const BODY = 48;
const SIGNATURE_DATA = 436;
const QE_REPORT = SIGNATURE_DATA + 128;

function flipped(bytes: Uint8Array, offset: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[offset] ^= 0x01;
  return copy;
}

/** The quote with one byte of its `index`th PEM certificate's DER flipped (negative offsets count from the end), keeping every length. */
function withCertificateByteFlipped(quote: Uint8Array, index: number, derOffset: number): Uint8Array {
  const text = Buffer.from(quote).toString('latin1');
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  const block = blocks[index];
  const body = block[1];
  const der = Buffer.from(body.replace(/\s/g, ''), 'base64');
  der[derOffset < 0 ? der.length + derOffset : derOffset] ^= 0x01;
  const base64 = der.toString('base64');
  // Put the line breaks back where they were, so the quote keeps its length.
  let cursor = 0;
  const rebuilt = [...body].map((char) => (/\s/.test(char) ? char : base64[cursor++])).join('');
  const start = (block.index ?? 0) + '-----BEGIN CERTIFICATE-----'.length;
  return Uint8Array.from(Buffer.from(text.slice(0, start) + rebuilt + text.slice(start + body.length), 'latin1'));
}

/** The quote with its certification data replaced by `pem`, lengths adjusted. */
function withCertificationData(quote: Uint8Array, pem: string): Uint8Array {
  const view = Buffer.from(quote);
  const authLength = view.readUInt16LE(SIGNATURE_DATA + 576);
  const certStart = SIGNATURE_DATA + 578 + authLength + 6;
  const data = Buffer.from(pem, 'latin1');
  const result = Buffer.concat([view.subarray(0, certStart), data]);
  result.writeUInt32LE(result.length - SIGNATURE_DATA, 432);
  result.writeUInt32LE(data.length, certStart - 4);
  return new Uint8Array(result);
}

describe('verifySgxQuote on the real samples', () => {
  it('hw_quote.dat without collateral: valid at its time, a debug enclave, TCB unknown and never up to date', () => {
    const result = verifySgxQuote(hwQuote, { at: HW_TIME });
    expect(result.ok).toBe(true);
    expect(result.checks.map((check) => check.name)).toEqual(['parse', 'chain', 'root', 'validity', 'qe-report', 'qe-report-data', 'signature', 'tcb']);
    expect(result.claims).toMatchObject({
      kind: 'sgx',
      debug: true,
      measurements: { isvProdId: '0', isvSvn: '0', attributes: '07000000000000000700000000000000' },
      reportData: '00'.repeat(64),
      tcb: { status: 'unknown' },
    });
    expect(result.claims?.measurement.startsWith('1dd0df84810e53e2')).toBe(true);
    expect(result.claims?.measurements.mrsigner.startsWith('d412a4f07ef83892')).toBe(true);
  });

  it('hw_quote.dat with the Root CA and Processor CA CRLs: valid inside their windows, stale collateral today', () => {
    const valid = verifySgxQuote(hwQuote, { at: HW_TIME, collateral: crls });
    expect(valid.ok).toBe(true);
    expect(valid.checks.find((check) => check.name === 'crl')?.ok).toBe(true);
    const today = verifySgxQuote(hwQuote, { at: TODAY, collateral: crls });
    expect(today.failed).toBe('crl');
    expect(today.checks.at(-1)?.detail).toMatch(/stale/);
    expect(today.claims).toBeNull();
  });

  it('hw_quote.dat is refused before its PCK leaf is valid and after it expires', () => {
    expect(verifySgxQuote(hwQuote, { at: new Date('2022-01-01T00:00:00Z') }).failed).toBe('validity');
    const expired = verifySgxQuote(hwQuote, { at: new Date('2029-06-14T00:00:00Z') });
    expect(expired.failed).toBe('validity');
    expect(expired.checks.at(-1)?.detail).toMatch(/Intel SGX PCK Certificate' expired 2029-06-13/);
  });

  it('hw_quote.dat against set B collateral: OutOfDate platform and QE, with the union of advisories', () => {
    const result = verifySgxQuote(hwQuote, { at: MOBILECOIN_TIME, collateral: mobilecoin });
    expect(result.ok).toBe(true);
    expect(result.claims?.tcb.status).toBe('out-of-date');
    expect(result.claims?.tcb.detail).toContain('platform OutOfDate (TCB date 2021-11-10');
    expect(result.claims?.tcb.detail).toContain('QE OutOfDate');
    expect(result.claims?.tcb.detail).toContain(
      'advisories INTEL-SA-00161, INTEL-SA-00219, INTEL-SA-00289, INTEL-SA-00334, INTEL-SA-00614, INTEL-SA-00615, INTEL-SA-00617',
    );
    expect(result.claims?.debug).toBe(true);
  });

  it('set A (Phala): ConfigurationAndSWHardeningNeeded with INTEL-SA-00289 and -00615, through the whole collateral window', () => {
    for (const at of [new Date('2025-06-19T10:56:11Z'), PHALA_TIME]) {
      const result = verifySgxQuote(phalaQuote, { at, collateral: phala });
      expect(result.ok).toBe(true);
      expect(result.checks.map((check) => check.name)).toEqual([
        'parse', 'chain', 'root', 'validity', 'crl', 'qe-report', 'qe-report-data', 'signature', 'tcb-info', 'qe-identity', 'tcb',
      ]);
      expect(result.claims?.tcb.status).toBe('configuration-and-sw-hardening-needed');
      expect(result.claims?.tcb.detail).toContain('QE UpToDate');
      expect(result.claims?.tcb.detail).toContain('advisories INTEL-SA-00289, INTEL-SA-00615');
    }
    const claims = verifySgxQuote(phalaQuote, { at: PHALA_TIME, collateral: phala }).claims;
    expect(claims?.measurement).toBe('33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb');
    expect(claims?.measurements.mrsigner).toBe('815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6');
    expect(Buffer.from(claims?.reportData ?? '', 'hex').subarray(0, 13).toString()).toBe('Hello, world!');
    expect(claims?.debug).toBe(false);
  });

  it('set A is refused as stale today: the CRLs first, the TCB info when no CRL is given', () => {
    expect(verifySgxQuote(phalaQuote, { at: TODAY, collateral: phala }).failed).toBe('crl');
    const withoutCrls = verifySgxQuote(phalaQuote, { at: TODAY, collateral: { ...phala, rootCaCrl: undefined, pckCrl: undefined } });
    expect(withoutCrls.failed).toBe('tcb-info');
    expect(withoutCrls.checks.at(-1)?.detail).toMatch(/stale: its next update was due 2025-07-19T10:56:11Z/);
    expect(verifySgxQuote(phalaQuote, { at: new Date('2025-07-19T10:01:19Z'), collateral: { ...phala, rootCaCrl: undefined, pckCrl: undefined } }).failed).toBe('qe-identity');
  });

  it('set B (mobilecoin): SWHardeningNeeded with INTEL-SA-00334 and -00615; the stale Processor CA CRL refuses it', () => {
    const result = verifySgxQuote(mobilecoinQuote, { at: MOBILECOIN_TIME, collateral: mobilecoin });
    expect(result.ok).toBe(true);
    expect(result.claims?.tcb.status).toBe('sw-hardening-needed');
    expect(result.claims?.tcb.detail).toContain('TCB date 2023-02-15');
    expect(result.claims?.tcb.detail).toContain('advisories INTEL-SA-00334, INTEL-SA-00615');
    expect(result.claims?.measurement).toBe('840d61b0585dc8b4dc90f53af293c760fda06bee75978a6a86263ffb296423f4');
    const strict = verifySgxQuote(mobilecoinQuote, { at: MOBILECOIN_TIME, collateral: { ...mobilecoin, pckCrl: crls.pckCrl } });
    expect(strict.failed).toBe('crl');
    expect(strict.checks.at(-1)?.detail).toMatch(/PCK CA CRL is stale/);
    expect(verifySgxQuote(mobilecoinQuote, { at: new Date('2023-05-20T00:00:00Z'), collateral: { ...mobilecoin, pckCrl: crls.pckCrl } }).failed).toBe('validity');
  });

  it('set C (automata, Platform CA, hex text): SWHardeningNeeded with INTEL-SA-00615; the CRL with 44 entries spares its leaf', () => {
    const result = verifySgxQuote(automataQuote, { at: AUTOMATA_TIME, collateral: automata });
    expect(result.ok).toBe(true);
    expect(result.checks.find((check) => check.name === 'chain')?.detail).toContain('Intel SGX PCK Platform CA');
    expect(result.claims?.tcb.status).toBe('sw-hardening-needed');
    expect(result.claims?.tcb.detail).toMatch(/TCB date 2024-03-13.*QE UpToDate.*advisories INTEL-SA-00615$/);
    expect(result.claims?.measurement).toBe('a4f45c39dac622cb1dd32ddb35a52ec92db41d0fa88a1c911c49e59c534f61cd');
    expect(result.claims?.measurements.mrsigner).toBe('8f2dbc0f9c5d3378d596974b2deed1f93223cc49242899f83809bcc92546132c');
    expect(verifySgxQuote(automataQuote, { at: TODAY, collateral: automata }).failed).toBe('crl');
  });

  it('takes the quote raw, hex or base64', () => {
    const raw = Buffer.from(phalaQuote);
    for (const form of [raw, Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('base64'))]) {
      expect(verifySgxQuote(new Uint8Array(form), { at: PHALA_TIME }).ok).toBe(true);
    }
  });

  it('says unknown, not up to date, when only part of the TCB collateral is given', () => {
    const result = verifySgxQuote(phalaQuote, { at: PHALA_TIME, collateral: { ...phala, qeIdentity: undefined } });
    expect(result.ok).toBe(true);
    expect(result.claims?.tcb.status).toBe('unknown');
    expect(result.checks.at(-1)?.detail).toBe('unknown: no QE identity collateral was given');
  });
});

describe('verifySgxQuote refuses tampered evidence at the check that catches it', () => {
  const at = PHALA_TIME;
  const cases: [string, Uint8Array, string][] = [
    ['a flipped byte in the report body (MRENCLAVE)', flipped(phalaQuote, BODY + 64), 'signature'],
    ['a flipped byte in the report data', flipped(phalaQuote, BODY + 320), 'signature'],
    ['a flipped byte in the header', flipped(phalaQuote, 8), 'signature'],
    ['a flipped byte in the ISV report signature', flipped(phalaQuote, SIGNATURE_DATA + 5), 'signature'],
    ['a flipped byte in the attestation key', flipped(phalaQuote, SIGNATURE_DATA + 64 + 5), 'qe-report-data'],
    ['a flipped byte in the QE report', flipped(phalaQuote, QE_REPORT + 64), 'qe-report'],
    ['a flipped byte in the QE report signature', flipped(phalaQuote, QE_REPORT + 384 + 5), 'qe-report'],
    ['a flipped byte in the QE authentication data', flipped(phalaQuote, QE_REPORT + 384 + 64 + 2 + 3), 'qe-report-data'],
    ['a flipped byte in the PCK leaf (its signature)', withCertificateByteFlipped(phalaQuote, 0, -5), 'chain'],
    ['a flipped byte in the PCK CA (its subject)', withCertificateByteFlipped(phalaQuote, 1, 200), 'chain'],
    ['a flipped byte in the root (its signature)', withCertificateByteFlipped(phalaQuote, 2, 600), 'root'],
    ['a wrong quote version', flipped(phalaQuote, 0), 'parse'],
    ['a truncated quote', phalaQuote.subarray(0, 1000), 'parse'],
    ['an empty input', new Uint8Array(0), 'parse'],
    ['text that is no quote', new TextEncoder().encode('hello, enclave'), 'parse'],
  ];
  it.each(cases)('%s', (_name, quote, failed) => {
    const result = verifySgxQuote(quote, { at });
    expect(result.ok).toBe(false);
    expect(result.failed).toBe(failed);
    expect(result.claims).toBeNull();
    expect(result.checks.at(-1)?.detail.length).toBeGreaterThan(0);
  });

  it('refuses a chain that verifies but ends at another root', async () => {
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]>;
    const keys = await Promise.all([0, 1, 2].map(() => generateEcdsaCryptoKeyPair('P-256')));
    const validity = { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2040-01-01T00:00:00Z') };
    const caExtensions = [new x509.BasicConstraintsExtension(true, undefined, true)];
    const root = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Intel SGX Root CA', keys: keys[0], signingAlgorithm: algorithm, extensions: caExtensions, ...validity }, crypto);
    const ca = await x509.X509CertificateGenerator.create({ serialNumber: '02', subject: 'CN=Intel SGX PCK Processor CA', issuer: root.subject, publicKey: keys[1].publicKey, signingKey: keys[0].privateKey, signingAlgorithm: algorithm, extensions: caExtensions, ...validity }, crypto);
    const leaf = await x509.X509CertificateGenerator.create({ serialNumber: '03', subject: 'CN=Intel SGX PCK Certificate', issuer: ca.subject, publicKey: keys[2].publicKey, signingKey: keys[1].privateKey, signingAlgorithm: algorithm, ...validity }, crypto);
    const quote = withCertificationData(phalaQuote, [leaf, ca, root].map((certificate) => certificate.toString('pem')).join('\n'));
    const result = verifySgxQuote(quote, { at });
    expect(result.checks.map((check) => check.name)).toEqual(['parse', 'chain', 'root']);
    expect(result.failed).toBe('root');
    expect(result.checks.at(-1)?.detail).toMatch(/not the pinned Intel SGX Root CA/);
  });

  it('refuses TCB info whose bytes differ from what Intel signed, even when the JSON means the same', () => {
    const body = mobilecoin.tcbInfo as string;
    const reserialised = JSON.stringify(JSON.parse(body), null, 1);
    const result = verifySgxQuote(mobilecoinQuote, { at: MOBILECOIN_TIME, collateral: { ...mobilecoin, tcbInfo: reserialised } });
    expect(result.failed).toBe('tcb-info');
    expect(result.checks.at(-1)?.detail).toMatch(/signature over 'tcbInfo' does not verify/);
    const upgraded = body.replace('"tcbStatus":"OutOfDate"', '"tcbStatus":"UpToDate"');
    expect(upgraded).not.toBe(body);
    expect(verifySgxQuote(mobilecoinQuote, { at: MOBILECOIN_TIME, collateral: { ...mobilecoin, tcbInfo: upgraded } }).failed).toBe('tcb-info');
  });

  it('refuses a QE identity with a flipped signature byte', () => {
    const body = mobilecoin.qeIdentity as string;
    const signatureAt = body.lastIndexOf('"signature":"') + '"signature":"'.length;
    const tampered = body.slice(0, signatureAt) + (body[signatureAt] === '0' ? '1' : '0') + body.slice(signatureAt + 1);
    const result = verifySgxQuote(mobilecoinQuote, { at: MOBILECOIN_TIME, collateral: { ...mobilecoin, qeIdentity: tampered } });
    expect(result.failed).toBe('qe-identity');
  });

  it("refuses TCB info for another platform's FMSPC", () => {
    const result = verifySgxQuote(mobilecoinQuote, { at: PHALA_TIME, collateral: { ...phala, rootCaCrl: undefined, pckCrl: undefined } });
    expect(result.failed).toBe('tcb-info');
    expect(result.checks.at(-1)?.detail).toMatch(/FMSPC 00A067110000.*FMSPC 00906ED50000/);
  });

  it('refuses collateral signed by anything but the Intel SGX TCB Signing certificate, or with no signer given', () => {
    const pckChain = Buffer.from(phalaQuote).toString('latin1').slice(Buffer.from(phalaQuote).toString('latin1').indexOf('-----BEGIN'));
    const wrongSigner = verifySgxQuote(phalaQuote, { at: PHALA_TIME, collateral: { ...phala, tcbSigningChain: pckChain } });
    expect(wrongSigner.failed).toBe('tcb-info');
    expect(wrongSigner.checks.at(-1)?.detail).toMatch(/not 'Intel SGX TCB Signing'/);
    expect(verifySgxQuote(phalaQuote, { at: PHALA_TIME, collateral: { ...phala, tcbSigningChain: undefined } }).failed).toBe('tcb-info');
  });

  it("refuses a PCK CA CRL of another CA (the Platform CA's CRL for a Processor CA chain)", () => {
    const result = verifySgxQuote(phalaQuote, { at: AUTOMATA_TIME, collateral: { pckCrl: automata.pckCrl } });
    expect(result.failed).toBe('crl');
    expect(result.checks.at(-1)?.detail).toMatch(/not issued by 'Intel SGX PCK Processor CA'/);
  });
});
