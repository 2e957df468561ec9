import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectEvidenceKind, evidenceBytes } from './evidence-file.js';

const vector = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../test/vectors/tee/${path}`, import.meta.url)));

describe('evidenceBytes', () => {
  it('gives back raw, hex and base64 evidence as the same bytes', () => {
    // Long enough that base64 made only of hex digits (and so read as hex) is beyond reach.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 24, maxLength: 600 }), (bytes) => {
        const raw = Uint8Array.from([0x00, ...bytes]);
        expect(evidenceBytes(raw)).toEqual(raw);
        const forms = [Buffer.from(raw).toString('hex'), `0x${Buffer.from(raw).toString('hex').toUpperCase()}`, Buffer.from(raw).toString('base64'), Buffer.from(raw).toString('base64url')];
        for (const form of forms) expect(evidenceBytes(new TextEncoder().encode(form.replace(/(.{64})/g, '$1\n')))).toEqual(raw);
      }),
    );
  });

  it('throws a coded error on empty input and on text in neither form, never on bytes', () => {
    expect(() => evidenceBytes(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'TEE_EVIDENCE_UNREADABLE' }));
    expect(() => evidenceBytes(new TextEncoder().encode('not evidence!'))).toThrow(expect.objectContaining({ code: 'TEE_EVIDENCE_UNREADABLE' }));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        try {
          evidenceBytes(bytes);
        } catch (error) {
          expect(error).toMatchObject({ code: 'TEE_EVIDENCE_UNREADABLE' });
        }
      }),
    );
  });
});

describe('detectEvidenceKind', () => {
  it.each([
    ['nitro/nitro_attestation.b64', 'nitro'],
    ['nitro/evervault_valid-attestation-doc-bytes', 'nitro'],
    ['sgx-dcap/hw_quote.dat', 'sgx'],
    ['sgx-dcap/automata_quotev3.hex', 'sgx'],
    ['snp/attestation.bin', 'snp'],
    ['snp/trustee_test-vlek-report.bin', 'snp'],
    ['snp/virtee_report_milan.hex', 'snp'],
  ])('tells %s is %s evidence', (path, kind) => {
    expect(detectEvidenceKind(evidenceBytes(vector(path)))).toBe(kind);
  });

  it('tells none from an SNP report one byte short, a quote of another version, or a certificate', () => {
    expect(detectEvidenceKind(vector('snp/attestation.bin').subarray(1))).toBeNull();
    const quote = vector('sgx-dcap/hw_quote.dat');
    quote[0] = 4;
    expect(detectEvidenceKind(quote)).toBeNull();
    expect(detectEvidenceKind(vector('snp/vcek.der'))).toBeNull();
  });
});
