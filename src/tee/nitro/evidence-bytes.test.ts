import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nitroEvidenceBytes } from './evidence-bytes.js';

const VECTORS = new URL('../../../test/vectors/tee/nitro/', import.meta.url);
const raw = new Uint8Array(readFileSync(new URL('evervault_valid-attestation-doc-bytes', VECTORS)));

describe('nitroEvidenceBytes', () => {
  it('passes raw CBOR through unchanged', () => {
    expect(nitroEvidenceBytes(raw)).toBe(raw);
  });

  it('decodes base64 text, as a file or a string, with line breaks or URL-safe letters', () => {
    const base64 = Buffer.from(raw).toString('base64');
    expect(nitroEvidenceBytes(base64)).toEqual(raw);
    expect(nitroEvidenceBytes(new TextEncoder().encode(`${base64.replace(/(.{76})/g, '$1\n')}\n`))).toEqual(raw);
    expect(nitroEvidenceBytes(Buffer.from(raw).toString('base64url'))).toEqual(raw);
    const file = readFileSync(new URL('nitro_attestation.b64', VECTORS));
    expect(nitroEvidenceBytes(new Uint8Array(file))[0]).toBe(0x84);
  });

  it('decodes hex text, with or without 0x', () => {
    const hex = Buffer.from(raw).toString('hex');
    expect(nitroEvidenceBytes(hex)).toEqual(raw);
    expect(nitroEvidenceBytes(`0x${hex.toUpperCase()}\n`)).toEqual(raw);
  });

  it('gives back the bytes of anything else, for the verifier to refuse', () => {
    expect(nitroEvidenceBytes('not evidence!')).toEqual(new TextEncoder().encode('not evidence!'));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array()), (input) => {
        expect(nitroEvidenceBytes(input)).toBeInstanceOf(Uint8Array);
      }),
    );
  });
});
