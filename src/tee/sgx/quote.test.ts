import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sgxVector } from '../../../test/vectors/tee/sgx-dcap/vectors.js';
import { isDebug, parseSgxQuote, quoteBytesOf } from './quote.js';
import { verifySgxQuote } from './verify.js';

const phalaQuote = sgxVector('phala_sgx_quote');
const at = new Date('2025-07-19T10:01:18Z');

describe('parseSgxQuote', () => {
  it('reads the fields of a real v3 quote', () => {
    const quote = parseSgxQuote(sgxVector('hw_quote.dat'));
    if ('error' in quote) throw new Error(quote.error);
    expect(quote).toMatchObject({ version: 3, qeSvn: 7, pceSvn: 12 });
    expect(quote.report.isvProdId).toBe(0);
    expect(isDebug(quote.report)).toBe(true);
    expect(quote.qeAuthData.length).toBe(32);
    expect(quote.pckChainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
  });

  it('decodes hex text, as automata ships its quote', () => {
    const bytes = quoteBytesOf(sgxVector('automata_quotev3.hex'));
    expect(bytes.length).toBe(4734);
    expect('error' in parseSgxQuote(bytes)).toBe(false);
  });

  it('says why a structure is refused', () => {
    const wrongKey = Uint8Array.from(phalaQuote);
    wrongKey[2] = 3;
    expect(parseSgxQuote(wrongKey)).toEqual({ error: 'attestation key type 3 is not 2 (ECDSA P-256)' });
    const longer = new Uint8Array([...phalaQuote, 0]);
    expect(parseSgxQuote(longer)).toMatchObject({ error: expect.stringMatching(/does not fill/) });
  });
});

describe('verifySgxQuote on hostile input (property)', () => {
  it('random bytes never throw and always fail at parse', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6000 }), (bytes) => {
        const result = verifySgxQuote(bytes, { at });
        expect(result.ok).toBe(false);
        expect(result.failed).toBe('parse');
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes behind a valid v3 header never throw and always fail', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 500, maxLength: 6000 }), (tail) => {
        const bytes = new Uint8Array([3, 0, 2, 0, ...tail]);
        const result = verifySgxQuote(bytes, { at });
        expect(result.ok).toBe(false);
        expect(result.checks.at(-1)?.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('mutations of a valid quote never throw, and none that still passes changes a claim', () => {
    const original = verifySgxQuote(phalaQuote, { at }).claims;
    const mutation = fc.record({
      edits: fc.array(fc.record({ index: fc.nat({ max: phalaQuote.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
      keep: fc.integer({ min: 0, max: phalaQuote.length }),
    });
    fc.assert(
      fc.property(mutation, ({ edits, keep }) => {
        const bytes = Uint8Array.from(phalaQuote.subarray(0, keep === 0 ? phalaQuote.length : keep));
        for (const { index, value } of edits) if (index < bytes.length) bytes[index] = value;
        const result = verifySgxQuote(bytes, { at });
        if (result.ok) expect(result.claims).toEqual(original);
        else expect(result.checks.find((check) => !check.ok)?.name).toBe(result.failed);
      }),
      { numRuns: 400 },
    );
  });
});
