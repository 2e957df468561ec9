import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { snpVector, snpVectorText } from '../../../test/vectors/tee/snp/vectors.js';
import { decomposeTcb, parseSnpReport, SNP_REPORT_SIZE } from './report.js';
import { verifySnpReport } from './verify.js';

const sample = () => new Uint8Array(snpVector('trustee_test-report.bin'));
const collateral = { vcek: snpVector('trustee_test-vcek.der'), chain: snpVectorText('ask_ark_milan.pem') };
const at = new Date('2024-01-01T00:00:00Z');

function reason(input: Uint8Array | string): string {
  const parsed = parseSnpReport(input);
  return parsed.ok ? 'parsed' : parsed.reason;
}

describe('parseSnpReport', () => {
  it('reads the fields at the offsets of ABI Table 22', () => {
    const parsed = parseSnpReport(snpVector('trustee_test-vlek-report.bin'));
    if (!parsed.ok) throw new Error(parsed.reason);
    const { report } = parsed;
    expect(report).toMatchObject({ version: 3, guestSvn: 0, policy: 0x30000n, vmpl: 1, signatureAlgorithm: 1, signingKey: 'vlek', chipIdMasked: false, cpuidProduct: 'Milan', cpuid: { family: 0x19, model: 0x01, stepping: 0x01 } });
    expect(Buffer.from(report.reportedTcb).toString('hex')).toBe('04000000000018d9');
    expect(Buffer.from(report.reportData.subarray(0, 4)).toString('hex')).toBe('819770b7');
    expect(report.signed).toHaveLength(0x2a0);
    const genoa = parseSnpReport(snpVector('derived_az-genoa-snp-report.bin'));
    expect(genoa.ok && genoa.report.cpuidProduct).toBe('Genoa');
    const v2 = parseSnpReport(sample());
    expect(v2.ok && v2.report.cpuid).toBeNull();
  });

  it('takes the report as raw bytes, hex text or base64 text', () => {
    const raw = sample();
    expect(reason(snpVectorText('virtee_report_milan.hex'))).toBe('parsed');
    expect(reason(snpVector('virtee_report_milan.hex'))).toBe('parsed');
    expect(reason(Buffer.from(raw).toString('base64'))).toBe('parsed');
    expect(reason(Buffer.from(raw).toString('hex').toUpperCase())).toBe('parsed');
    expect(reason(raw.subarray(1))).toMatch(/not a 1184-byte report/);
    expect(reason('zz')).toMatch(/not a 1184-byte report/);
  });

  it('refuses versions, algorithms, key selectors and policies it does not know, and bytes after the signature', () => {
    const patched = (offset: number, value: number) => {
      const bytes = sample();
      bytes[offset] = value;
      return bytes;
    };
    expect(reason(patched(0x00, 5))).toMatch(/version 5/);
    expect(reason(patched(0x34, 2))).toMatch(/signature algorithm 2/);
    expect(reason(patched(0x48, 0b11100))).toMatch(/signing key selector 7/);
    expect(reason(patched(0x0a, 0x01))).toMatch(/reserved bit 17/);
    expect(reason(patched(SNP_REPORT_SIZE - 1, 1))).toMatch(/after the signature/);
  });

  it('splits a TCB by the layout of its product', () => {
    const tcb = Uint8Array.from([1, 2, 3, 4, 0, 0, 7, 8]);
    expect(decomposeTcb(tcb, 'Milan')).toEqual({ bootloader: 1, tee: 2, snp: 7, microcode: 8 });
    expect(decomposeTcb(tcb, 'Turin')).toEqual({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 8 });
  });

  it('never throws on random bytes or text, and refuses them at parse', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2 * SNP_REPORT_SIZE }), fc.uint8Array({ minLength: SNP_REPORT_SIZE, maxLength: SNP_REPORT_SIZE }), fc.string()), (input) => {
        const result = verifySnpReport(input, { at, collateral });
        expect(result.ok).toBe(false);
        expect(result.failed).not.toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on a mutated sample, and always refuses it at a named check', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(SNP_REPORT_SIZE - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (mutations) => {
        const bytes = sample();
        const seen = new Set<number>();
        for (const [index, mask] of mutations) {
          // A second mutation of the same byte could undo the first.
          if (seen.has(index)) continue;
          seen.add(index);
          bytes[index] ^= mask;
        }
        const result = verifySnpReport(bytes, { at, collateral });
        expect(result.ok).toBe(false);
        expect(result.checks.find((check) => !check.ok)?.name).toBe(result.failed);
      }),
      { numRuns: 300 },
    );
  });
});

describe('verifySnpReport on mutated collateral', () => {
  it('never throws on a mutated VCEK or chain, and refuses it at a named check', () => {
    const vcek = new Uint8Array(collateral.vcek);
    const chain = collateral.chain;
    fc.assert(
      fc.property(fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), (inVcek, position, mask) => {
        let mutated = { vcek: vcek as Uint8Array | string, chain };
        if (inVcek) {
          const bytes = new Uint8Array(vcek);
          bytes[position % bytes.length] ^= mask;
          mutated = { vcek: bytes, chain };
        } else {
          const der = Buffer.from(chain.split('-----BEGIN CERTIFICATE-----')[1]?.split('-----END')[0] ?? '', 'base64');
          der[position % der.length] ^= mask;
          mutated = { vcek, chain: `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n` };
        }
        const result = verifySnpReport(sample(), { at, collateral: mutated });
        // A flip inside an unsigned outer field (e.g. the outer signature algorithm copy) may still verify; it must never throw.
        if (!result.ok) expect(result.checks.find((check) => !check.ok)?.name).toBe(result.failed);
      }),
      { numRuns: 400 },
    );
  });
});
