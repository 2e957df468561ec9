import { createPrivateKey, sign, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { snpVector, snpVectorText } from '../../../test/vectors/tee/snp/vectors.js';
import { SnpVerifierError } from './errors.js';
import { verifySnpReport, type SnpCollateral } from './verify.js';
import { generateEcdsaCryptoKeyPair } from '../../core/index.js';

const TODAY = new Date('2026-12-04T00:00:00Z');
const MILAN = snpVectorText('ask_ark_milan.pem');

function check(report: Uint8Array | string, at: string | Date, collateral: SnpCollateral) {
  return verifySnpReport(report, { at: typeof at === 'string' ? new Date(at) : at, collateral });
}

/** The real samples: report, endorsement key, chain, a time inside every certificate's window, and what the report must show. */
const SAMPLES = [
  { report: 'attestation.bin', vcek: 'vcek.der', chain: 'ask_ark_milan.pem', at: '2024-01-01T00:00:00Z', product: 'Milan', debug: true, measurement: 'b07af9620f3b839b47996422ddec6058', reportData: '0102030405', expires: '2029-09-25T00:00:00Z' },
  { report: 'trustee_test-report.bin', vcek: 'trustee_test-vcek.der', chain: 'ask_ark_milan.pem', at: '2024-01-01T00:00:00Z', product: 'Milan', debug: false, measurement: 'a1f3930413247bb3', reportData: 'ec6c52d7', expires: '2030-01-25T00:00:00Z' },
  { report: 'trustee_test-vlek-report.bin', vcek: 'trustee_test-vlek.der', chain: 'ask_ark_milan_vlek.pem', at: '2025-06-01T00:00:00Z', product: 'Milan', debug: false, measurement: '', reportData: '819770b7', expires: '2025-12-11T00:00:00Z' },
  { report: 'derived_az-genoa-snp-report.bin', vcek: 'trustee_az-vcek-genoa.pem', chain: 'ask_ark_genoa.pem', at: '2025-06-01T00:00:00Z', product: 'Genoa', debug: false, measurement: '', reportData: '', expires: '2032-01-25T00:00:00Z' },
  { report: 'virtee_report_milan.hex', vcek: 'virtee_vcek_milan.der', chain: 'ask_ark_milan.pem', at: '2024-01-01T00:00:00Z', product: 'Milan', debug: false, measurement: '', reportData: '', expires: '2030-04-04T00:00:00Z' },
] as const;

describe('verifySnpReport on the real samples', () => {
  for (const sample of SAMPLES) {
    const collateral = { vcek: snpVector(sample.vcek), chain: snpVectorText(sample.chain) };

    it(`accepts ${sample.report} at its own time, with its claims`, () => {
      const result = check(snpVector(sample.report), sample.at, collateral);
      expect(result.failed).toBeNull();
      expect(result.checks.map((c) => c.name)).toEqual(['parse', 'endorsement-key', 'chain', 'root', 'validity', 'hwid', 'reported-tcb', 'signature']);
      expect(result.claims?.measurement).toMatch(new RegExp(`^${sample.measurement}[0-9a-f]*$`));
      expect(result.claims?.measurement).toHaveLength(96);
      expect(result.claims?.reportData).toMatch(new RegExp(`^${sample.reportData}`));
      expect(result.claims?.debug).toBe(sample.debug);
      expect(result.claims?.measurements.product).toBe(sample.product);
      expect(result.claims?.tcb.status).toBe('unknown');
    });

    it(`accepts ${sample.report} with AMD's signing key shipped here when no chain is given`, () => {
      expect(check(snpVector(sample.report), sample.at, { vcek: collateral.vcek }).ok).toBe(true);
    });

    it(`refuses ${sample.report} after its endorsement key expired, naming validity`, () => {
      const result = check(snpVector(sample.report), sample.expires, collateral);
      expect(result.failed).toBe('validity');
      expect(result.claims).toBeNull();
      expect(result.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['validity']);
    });
  }

  it('refuses the VLEK sample at today\'s date as expired (VLEKs live one year); VCEKs live seven and still verify', () => {
    const vlek = check(snpVector('trustee_test-vlek-report.bin'), TODAY, { vcek: snpVector('trustee_test-vlek.der'), chain: snpVectorText('ask_ark_milan_vlek.pem') });
    expect(vlek.failed).toBe('validity');
    expect(vlek.checks.find((c) => c.name === 'validity')?.detail).toContain('2025-12-10T22:14:21.000Z');
    expect(check(snpVector('trustee_test-report.bin'), TODAY, { vcek: snpVector('trustee_test-vcek.der'), chain: MILAN }).ok).toBe(true);
  });

  it('refuses every sample before its endorsement key was issued', () => {
    for (const sample of SAMPLES) {
      expect(check(snpVector(sample.report), '2020-01-01T00:00:00Z', { vcek: snpVector(sample.vcek), chain: snpVectorText(sample.chain) }).failed).toBe('validity');
    }
  });

  it('reads the report details the README states', () => {
    const trustee = check(snpVector('trustee_test-report.bin'), '2024-01-01T00:00:00Z', { vcek: snpVector('trustee_test-vcek.der'), chain: MILAN }).claims;
    expect(trustee?.measurements).toMatchObject({ guestSvn: '4', policy: '0x3001f', reportedTcb: '0300000000000873', 'reportedTcb.bootloader': '3', 'reportedTcb.snp': '8', 'reportedTcb.microcode': '115', signingKey: 'vcek' });
    expect(trustee?.measurements.idKeyDigest).not.toMatch(/^0+$/);
    expect(trustee?.reportData).toMatch(/0{64}$/);
    const vlek = check(snpVector('trustee_test-vlek-report.bin'), '2025-06-01T00:00:00Z', { vcek: snpVector('trustee_test-vlek.der'), chain: snpVectorText('ask_ark_milan_vlek.pem') });
    expect(vlek.claims?.measurements).toMatchObject({ version: '3', vmpl: '1', signingKey: 'vlek', 'reportedTcb.snp': '24', 'reportedTcb.microcode': '217' });
    expect(vlek.checks.find((c) => c.name === 'hwid')?.detail).toMatch(/not applicable/);
    const genoa = check(snpVector('derived_az-genoa-snp-report.bin'), '2025-06-01T00:00:00Z', { vcek: snpVector('trustee_az-vcek-genoa.pem'), chain: snpVectorText('ask_ark_genoa.pem') });
    expect(genoa.claims?.measurements).toMatchObject({ 'reportedTcb.bootloader': '10', 'reportedTcb.snp': '23', 'reportedTcb.microcode': '84', vmpl: '0' });
  });
});

describe('verifySnpReport refuses', () => {
  const at = '2024-01-01T00:00:00Z';
  const good = { vcek: snpVector('trustee_test-vcek.der'), chain: MILAN };
  const report = () => new Uint8Array(snpVector('trustee_test-report.bin'));
  const flipped = (bytes: Uint8Array, index: number) => {
    const copy = new Uint8Array(bytes);
    copy[index] ^= 0x01;
    return copy;
  };

  it('a flipped byte in the signature, the report data, the measurement or the reported TCB, at the signature', () => {
    for (const index of [0x2a0, 0x2e8 + 47, 0x50, 0x90, 0x04]) {
      expect(check(flipped(report(), index), at, good).failed).toBe('signature');
    }
  });

  it('R or S wider than 384 bits, at the signature', () => {
    expect(check(flipped(report(), 0x2a0 + 60), at, good).failed).toBe('signature');
  });

  it('a change to the reported TCB, at the TCB extensions first', () => {
    expect(check(flipped(report(), 0x186), at, good).failed).toBe('reported-tcb');
  });

  it('a changed chip id, at the hwID', () => {
    expect(check(flipped(report(), 0x1a0), at, good).failed).toBe('hwid');
  });

  it('a flipped byte in the VCEK, the ASK or the ARK, at the chain', () => {
    const vcek = new Uint8Array(good.vcek);
    expect(check(report(), at, { ...good, vcek: flipped(vcek, vcek.length - 1) }).failed).toBe('chain');
    const [ask, ark] = pemBlocks(MILAN);
    expect(check(report(), at, { ...good, chain: toPem(flipped(ask, ask.length - 1)) + toPem(ark) }).failed).toBe('chain');
    expect(check(report(), at, { ...good, chain: toPem(ask) + toPem(flipped(ark, ark.length - 1)) }).failed).toBe('chain');
  });

  it('the Milan VCEK, VLEK and report against the Genoa chains, and the Genoa report against the Milan chain, at the chain', () => {
    expect(check(report(), at, { ...good, chain: snpVectorText('ask_ark_genoa.pem') }).failed).toBe('chain');
    expect(check(snpVector('trustee_test-vlek-report.bin'), '2025-06-01T00:00:00Z', { vcek: snpVector('trustee_test-vlek.der'), chain: snpVectorText('ask_ark_genoa_vlek.pem') }).failed).toBe('chain');
    expect(check(snpVector('derived_az-genoa-snp-report.bin'), '2025-06-01T00:00:00Z', { vcek: snpVector('trustee_az-vcek-genoa.pem'), chain: MILAN }).failed).toBe('chain');
  });

  it('a version 3 report whose CPUID names another product than the chain, at the root', () => {
    const result = check(snpVector('derived_az-genoa-snp-report.bin'), at, { vcek: snpVector('vcek.der'), chain: MILAN });
    expect(result.failed).toBe('root');
    expect(result.checks.find((c) => c.name === 'root')?.detail).toBe("the report's CPUID names Genoa, the chain ends at the Milan root");
  });

  it("trustee's synthetic VCEKs (raw and wrapped hwID), at the chain", () => {
    for (const name of ['trustee_test-vcek-invalid-legacy.der', 'trustee_test-vcek-invalid-new.der']) {
      const result = check(report(), at, { vcek: snpVector(name), chain: MILAN });
      expect(result.failed).toBe('chain');
      expect(result.checks.find((c) => c.name === 'hwid')?.detail).toMatch(/^the VCEK's hwID 000102/);
    }
  });

  it("another chip's VCEK, at the hwID", () => {
    const result = check(snpVector('attestation.bin'), at, good);
    expect(result.failed).toBe('hwid');
    expect(result.checks.find((c) => c.name === 'signature')?.ok).toBe(false);
  });

  it('a VLEK report with a VCEK, and a VCEK report with a VLEK, at the endorsement key', () => {
    expect(check(snpVector('trustee_test-vlek-report.bin'), at, good).failed).toBe('endorsement-key');
    expect(check(report(), '2025-06-01T00:00:00Z', { vcek: snpVector('trustee_test-vlek.der') }).failed).toBe('endorsement-key');
  });

  it('missing or unreadable collateral, at the endorsement key or the chain', () => {
    expect(verifySnpReport(report(), { at: new Date(at) } as Parameters<typeof verifySnpReport>[1]).failed).toBe('endorsement-key');
    expect(check(report(), at, { vcek: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]) }).failed).toBe('endorsement-key');
    expect(check(report(), at, { ...good, chain: 'not a certificate' }).failed).toBe('chain');
    expect(check(report(), at, { ...good, chain: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }).failed).toBe('chain');
  });

  it('a chain that ends at a root AMD did not make, at the root', async () => {
    const forged = await forgeMilanChain(report());
    const result = check(forged.report, at, forged.collateral);
    expect(result.failed).toBe('root');
    expect(result.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['root']);
    expect(result.claims).toBeNull();
  });

  it('a check time that is not a date, by throwing', () => {
    expect(() => check(report(), new Date('not a date'), good)).toThrow(SnpVerifierError);
    expect(() => check(report(), new Date('not a date'), good)).toThrow(expect.objectContaining({ code: 'SNP_CHECK_TIME_INVALID' }));
  });
});

function pemBlocks(pem: string): Uint8Array[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => new Uint8Array(new X509Certificate(block).raw));
}

function toPem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * A chain that copies AMD's names and the VCEK's extensions but hangs from a self-made ARK-Milan,
 * and the report re-signed with the forged VCEK: everything holds except the pinned root.
 */
async function forgeMilanChain(report: Uint8Array): Promise<{ report: Uint8Array; collateral: SnpCollateral }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  const [arkKeys, askKeys, vcekKeys] = await Promise.all([0, 1, 2].map(() => generateEcdsaCryptoKeyPair('P-384')));
  const amd = (cn: string) => `OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=${cn}`;
  const window = { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2040-01-01T00:00:00Z') };
  const ark = await x509.X509CertificateGenerator.createSelfSigned({ ...window, serialNumber: '01', name: amd('ARK-Milan'), keys: arkKeys, signingAlgorithm: algorithm, extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] });
  const ask = await x509.X509CertificateGenerator.create({ ...window, serialNumber: '02', subject: amd('SEV-Milan'), issuer: ark.subject, publicKey: askKeys.publicKey, signingKey: arkKeys.privateKey, signingAlgorithm: algorithm, extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] });
  const amdExtensions = new x509.X509Certificate(new Uint8Array(snpVector('trustee_test-vcek.der'))).extensions.filter((extension) => extension.type.startsWith('1.3.6.1.4.1.3704.'));
  const vcek = await x509.X509CertificateGenerator.create({ ...window, serialNumber: '03', subject: amd('SEV-VCEK'), issuer: ask.subject, publicKey: vcekKeys.publicKey, signingKey: askKeys.privateKey, signingAlgorithm: algorithm, extensions: amdExtensions });
  const signed = new Uint8Array(report);
  const privateKey = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', vcekKeys.privateKey)), format: 'der', type: 'pkcs8' });
  const signature = sign('sha384', signed.subarray(0, 0x2a0), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  signed.fill(0, 0x2a0, 0x330);
  signed.set(Buffer.from(signature.subarray(0, 48)).reverse(), 0x2a0);
  signed.set(Buffer.from(signature.subarray(48)).reverse(), 0x2e8);
  return { report: signed, collateral: { vcek: vcek.toString('pem'), chain: ask.toString('pem') + '\n' + ark.toString('pem') } };
}
