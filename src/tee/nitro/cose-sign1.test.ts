import { encode, Tag } from 'cbor2';
import { describe, expect, it } from 'vitest';
import { readCoseSign1, sigStructure } from './cose-sign1.js';

const ES384 = encode(new Map([[1, -35]]));
const payload = encode(new Map([['module_id', 'x']]));
const signature = new Uint8Array(96).fill(9);

function detail(bytes: Uint8Array): string {
  const read = readCoseSign1(bytes);
  return read.ok ? 'ok' : read.detail;
}

describe('readCoseSign1', () => {
  it('reads an untagged and a tagged (18) COSE_Sign1 alike', () => {
    const message = [ES384, new Map(), payload, signature];
    const untagged = readCoseSign1(encode(message));
    const tagged = readCoseSign1(encode(new Tag(18, message)));
    expect(untagged).toEqual(tagged);
    expect(untagged.ok && untagged.value.payload).toEqual(payload);
  });

  it('refuses other tags, shapes, header kinds and algorithms, saying which', () => {
    expect(detail(encode(new Tag(98, [ES384, new Map(), payload, signature])))).toContain('tag 98');
    expect(detail(encode([ES384, new Map(), payload]))).toContain('array of 4');
    expect(detail(encode([ES384, null, payload, signature]))).toContain('unprotected header is null');
    expect(detail(encode([ES384, new Map(), null, signature]))).toContain('payload is not a byte string');
    expect(detail(encode([encode(new Map([[1, -7]])), new Map(), payload, signature]))).toContain('-7 is not ES384');
    expect(detail(encode([encode(new Map<number, unknown>([[1, -35], [2, [1]]])), new Map(), payload, signature]))).toContain('besides alg');
    expect(detail(encode([ES384, new Map(), payload, new Uint8Array(64)]))).toContain('64 bytes, not 96');
    expect(detail(new Uint8Array([0x9f, 0xff]))).toContain('not well-formed CBOR');
    expect(detail(new Uint8Array(0))).toBe('no bytes');
  });

  it('builds the Sig_structure of RFC 9052 §4.4 with an empty external_aad', () => {
    const read = readCoseSign1(encode([ES384, new Map(), new Uint8Array([0xaa]), signature]));
    if (!read.ok) throw new Error(read.detail);
    // ["Signature1", h'a1013822', h'', h'aa']
    expect(Buffer.from(sigStructure(read.value)).toString('hex')).toBe('846a5369676e61747572653144a10138224041aa');
  });
});
