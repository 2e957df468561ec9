import { describe, expect, it } from 'vitest';
import { decodeMaskedInput, decodeMessage, encodeConsistencyProof, encodeMaskedInput, encodeMessage, encodeSignatureEntry } from './messages.js';

const round = 'ab'.repeat(32);
const signature = (fill: number): Uint8Array => new Uint8Array(64).fill(fill);
const bad = expect.objectContaining({ code: 'SECAGG_BAD_MESSAGE' });

describe('binary wire format', () => {
  it('round-trips every field and refuses a message of another kind', () => {
    const message = { round, sender: 'c-1.a:b_2', signature: signature(7) };
    const bytes = encodeMessage('consistencySignature', message);
    expect(decodeMessage('consistencySignature', bytes)).toEqual(message);
    expect(() => decodeMessage('advertiseKeys', bytes)).toThrow(bad);
    const survivors = { round, survivors: ['c0', 'c1', 'c2'] };
    expect(decodeMessage('survivors', encodeMessage('survivors', survivors))).toEqual(survivors);
  });

  it('round-trips the share confirmation messages and refuses an unknown blame reason', () => {
    const confirmation = { round, sender: 'c3', blames: [{ owner: 'c7', reason: 1 as const, signature: signature(9) }] };
    const bytes = encodeMessage('shareConfirmation', confirmation);
    expect(decodeMessage('shareConfirmation', bytes)).toEqual(confirmation);
    const partners = { round, live: ['c1', 'c7'], blames: [{ blamer: 'c7', reason: 2 as const, signature: signature(4) }] };
    expect(decodeMessage('confirmedPartners', encodeMessage('confirmedPartners', partners))).toEqual(partners);
    // The reason is the uint32 after the 32-byte round, the sender id (1 + 2 bytes) and the list count (2 bytes).
    const unknown = bytes.slice();
    new DataView(unknown.buffer).setUint32(8 + 32 + 3 + 2 + 3, 3, true);
    expect(() => decodeMessage('shareConfirmation', unknown)).toThrow(/from 1 to 2, got 3/);
  });

  it('a consistency proof from pre-laid entries is byte for byte the encoded message', () => {
    const signatures = [
      { id: 'c0', signature: signature(1) },
      { id: 'c12', signature: signature(2) },
    ];
    const direct = encodeMessage('consistencyProof', { round, signatures });
    expect(encodeConsistencyProof(round, signatures.map((s) => encodeSignatureEntry(s.id, s.signature)))).toEqual(direct);
  });

  it('refuses truncation, trailing bytes, bad ids, oversized counts and non-zero padding', () => {
    const bytes = encodeMessage('consistencySignature', { round, sender: 'c0', signature: signature(3) });
    expect(() => decodeMessage('consistencySignature', bytes.subarray(0, bytes.length - 4))).toThrow(bad);
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expect(() => decodeMessage('consistencySignature', longer)).toThrow(bad);
    // The id's first byte (after the 8-byte envelope and 32-byte round) becomes a space.
    const badId = bytes.slice();
    badId[8 + 32 + 1] = 0x20;
    expect(() => decodeMessage('consistencySignature', badId)).toThrow(/letters, digits/);
    const zeroId = bytes.slice();
    zeroId[8 + 32] = 0;
    expect(() => decodeMessage('consistencySignature', zeroId)).toThrow(bad);
    // A list announcing more entries than the body holds.
    const proof = encodeMessage('consistencyProof', { round, signatures: [{ id: 'c0', signature: signature(1) }] });
    const inflated = proof.slice();
    new DataView(inflated.buffer).setUint16(8 + 32, 65535, true);
    expect(() => decodeMessage('consistencyProof', inflated)).toThrow(bad);
    // Body of 32 + 1 + 2 + 64 = 99 bytes: one padding byte that must be zero.
    const padded = bytes.slice();
    padded[padded.length - 1] = 1;
    expect(() => decodeMessage('consistencySignature', padded)).toThrow(/padding/);
    expect(() => encodeMessage('consistencySignature', { round, sender: 'c 0', signature: signature(3) })).toThrow(bad);
    expect(() => encodeMessage('consistencySignature', { round, sender: 'c0', signature: new Uint8Array(63) })).toThrow(bad);
  });

  it('checks the announced length of a masked input against the words that follow', () => {
    const vector = Uint32Array.from([1, 2, 3, 0xffffffff]);
    const bytes = encodeMaskedInput({ round, sender: 'c0', length: 4 }, vector);
    expect(decodeMaskedInput(bytes).vector).toEqual(vector);
    expect(() => decodeMaskedInput(bytes.subarray(0, bytes.length - 4))).toThrow(/announces 4 words/);
    const zero = bytes.slice();
    new DataView(zero.buffer).setUint32(8 + 32 + 3, 0, true);
    expect(() => decodeMaskedInput(zero)).toThrow(bad);
  });
});
