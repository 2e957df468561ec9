import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecAggMessageRejectedError } from './errors.js';
import { SHARE_BYTES, decodeMaskedInput, decodeMessage, encodeConsistencyProof, encodeMaskedInput, encodeMessage, encodeSignatureEntry, type Message, type MessageKind } from './messages.js';

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

type Kind = Exclude<MessageKind, 'maskedInput'>;

const roundArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const idArb = fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/);
const fixedArb = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
const listArb = <T>(record: fc.Arbitrary<T>) => fc.array(record, { maxLength: 4 });
const bundleArb = { encryptionKey: fixedArb(32), maskKey: fixedArb(32), selfMaskCommitment: fixedArb(32), holderSeed: fixedArb(32), signature: fixedArb(64) };
const sealedArb = { nonce: fixedArb(12), ciphertext: fixedArb(2 * SHARE_BYTES + 16) };
const reasonArb = fc.constantFrom(1 as const, 2 as const);

/** A valid message of every kind but the masked input, with lists short enough to keep runs quick. */
const messageArbs: { [K in Kind]: fc.Arbitrary<Message<K>> } = {
  advertiseKeys: fc.record({ round: roundArb, sender: idArb, ...bundleArb }),
  neighbourKeys: fc.record({ round: roundArb, keys: listArb(fc.record({ id: idArb, ...bundleArb })) }),
  shareKeys: fc.record({ round: roundArb, sender: idArb, shares: listArb(fc.record({ receiver: idArb, ...sealedArb })) }),
  forwardedShares: fc.record({ round: roundArb, shares: listArb(fc.record({ sender: idArb, ...sealedArb })) }),
  shareConfirmation: fc.record({ round: roundArb, sender: idArb, blames: listArb(fc.record({ owner: idArb, reason: reasonArb, signature: fixedArb(64) })) }),
  confirmedPartners: fc.record({ round: roundArb, live: listArb(idArb), blames: listArb(fc.record({ blamer: idArb, reason: reasonArb, signature: fixedArb(64) })) }),
  survivors: fc.record({ round: roundArb, survivors: listArb(idArb) }),
  consistencySignature: fc.record({ round: roundArb, sender: idArb, signature: fixedArb(64) }),
  consistencyProof: fc.record({ round: roundArb, signatures: listArb(fc.record({ id: idArb, signature: fixedArb(64) })) }),
  unmaskShares: fc.record({
    round: roundArb,
    sender: idArb,
    selfMaskShares: listArb(fc.record({ owner: idArb, share: fixedArb(SHARE_BYTES) })),
    keyShares: listArb(fc.record({ owner: idArb, share: fixedArb(SHARE_BYTES) })),
  }),
};
const kinds = Object.keys(messageArbs) as Kind[];
const encodedArb = fc.constantFrom(...kinds).chain((kind) => (messageArbs[kind] as fc.Arbitrary<Message<Kind>>).map((message) => ({ kind, message, bytes: encodeMessage(kind, message) })));

/** The outcome of decoding: the message, or the refusal's code (any other throw fails the property). */
function decodeOutcome(kind: Kind, bytes: Uint8Array): { message: Message<Kind> } | { refused: string } {
  try {
    return { message: decodeMessage(kind, bytes) };
  } catch (error) {
    if (!(error instanceof SecAggMessageRejectedError)) throw error;
    return { refused: error.code };
  }
}

describe('binary wire format, for any message', () => {
  it('decodes what it encodes, for every kind', () => {
    fc.assert(
      fc.property(encodedArb, ({ kind, message, bytes }) => {
        expect(decodeMessage(kind, bytes)).toEqual(message);
      }),
    );
  });

  it('decodes a masked input to its header and vector', () => {
    fc.assert(
      fc.property(roundArb, idArb, fc.array(fc.nat({ max: 0xffffffff }), { minLength: 1, maxLength: 40 }), (round, sender, words) => {
        const vector = Uint32Array.from(words);
        const decoded = decodeMaskedInput(encodeMaskedInput({ round, sender, length: vector.length }, vector));
        expect(decoded.header).toEqual({ round, sender, length: vector.length });
        expect([...decoded.vector]).toEqual(words);
      }),
    );
  });

  it('is canonical: bytes with one byte changed are refused, or are exactly the encoding of what they decode to', () => {
    fc.assert(
      fc.property(encodedArb, fc.nat(), fc.boolean(), fc.integer({ min: 1, max: 255 }), ({ kind, bytes }, at, nearEnd, xor) => {
        const changed = bytes.slice();
        // Anywhere, or in the last four bytes, where a body's zero padding sits.
        changed[nearEnd ? changed.length - 1 - (at % 4) : at % changed.length] ^= xor;
        const outcome = decodeOutcome(kind, changed);
        if ('refused' in outcome) expect(outcome.refused).toBe('SECAGG_BAD_MESSAGE');
        else expect(encodeMessage(kind, outcome.message)).toEqual(changed);
      }),
    );
  });

  it('refuses every truncation and every extension with SECAGG_BAD_MESSAGE', () => {
    fc.assert(
      fc.property(encodedArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 12 }), ({ kind, bytes }, cut, extra) => {
        expect(decodeOutcome(kind, bytes.subarray(0, cut % bytes.length))).toEqual({ refused: 'SECAGG_BAD_MESSAGE' });
        const longer = new Uint8Array(bytes.length + extra.length);
        longer.set(bytes);
        longer.set(extra, bytes.length);
        expect(decodeOutcome(kind, longer)).toEqual({ refused: 'SECAGG_BAD_MESSAGE' });
      }),
    );
  });

  it('answers any bytes with a message or SECAGG_BAD_MESSAGE, as any kind and as a masked input', () => {
    fc.assert(
      fc.property(encodedArb, fc.uint8Array({ maxLength: 400 }), fc.boolean(), fc.nat(), ({ kind, bytes: valid }, random, framed, cut) => {
        // Half the inputs are a well-formed envelope for the kind around a random body and its padding, so that the
        // body's fields get read too.
        let bytes = random.slice();
        if (framed && bytes.length >= 8) {
          const length = cut % (bytes.length - 7);
          bytes = bytes.subarray(0, 8 + Math.min(bytes.length - 8, Math.ceil(length / 4) * 4));
          bytes.set(valid.subarray(0, 4));
          new DataView(bytes.buffer, bytes.byteOffset).setUint32(4, length, true);
        }
        const outcome = decodeOutcome(kind, bytes);
        if ('refused' in outcome) expect(outcome.refused).toBe('SECAGG_BAD_MESSAGE');
        else expect(encodeMessage(kind, outcome.message)).toEqual(bytes);
        try {
          const { header, vector } = decodeMaskedInput(bytes);
          expect(encodeMaskedInput(header, vector)).toEqual(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(SecAggMessageRejectedError);
        }
      }),
    );
  });
});
