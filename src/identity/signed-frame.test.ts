import { createHash, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, generateCurveKeyPair } from '../core/index.js';
import { AuthError } from './errors.js';
import { FrameVersionError, encodeSignedFrame, openSignedFrame, signedFramePayloadOffset } from './signed-frame.js';
import { MessageVerifier, type MessageSigner } from './signed-message.js';

function participant(id: string): { signer: MessageSigner; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateCurveKeyPair('ed25519');
  return { signer: { participantId: id, signingKey: privateKey }, publicKey };
}

const alice = participant('alice');
const bob = participant('bob');
const keys = new Map([
  ['alice', alice.publicKey],
  ['bob', bob.publicKey],
]);
const revokedIds = new Set<string>();
const verifier = (): MessageVerifier => new MessageVerifier({ signingKeyOf: (id) => keys.get(id), isRevoked: (id) => revokedIds.has(id) });
const payload = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);

/** The error a call throws; fails the test when it returns. */
function refusal(open: () => unknown): AuthError {
  try {
    open();
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return error as AuthError;
  }
  throw new Error('the frame was accepted');
}

// Offsets in a frame from 'alice' of kind 'update': magic 0-3, version 4, sender length 5, sender 6-10,
// kind length 11, kind 12-17, nonce 18-33, timestamp 34-41, payload length 42-45, body offset 46-49, payload 50-.
const KIND_AT = 12;
const TIMESTAMP_AT = 34;
const LENGTH_AT = 42;
const BODY_AT = 46;
const PAYLOAD_AT = 50;
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('signed frames', () => {
  it('round-trips sender, kind, payload, nonce and timestamp', () => {
    const before = Date.now();
    const frame = encodeSignedFrame(alice.signer, 'update', payload);
    expect(frame.length).toBe(PAYLOAD_AT + payload.length + 64);
    const opened = openSignedFrame(frame, verifier());
    expect(opened).toMatchObject({ sender: 'alice', kind: 'update', payload });
    expect(opened.nonce).toHaveLength(16);
    expect(opened.timestamp).toBeGreaterThanOrEqual(before);
    expect(opened.timestamp).toBeLessThanOrEqual(Date.now());
    expect(openSignedFrame(encodeSignedFrame(bob.signer, 'heartbeat', new Uint8Array(0)), verifier())).toMatchObject({ sender: 'bob', kind: 'heartbeat', payload: new Uint8Array(0) });
    expect(Buffer.from(encodeSignedFrame(alice.signer, 'update', payload).subarray(18, 34)).equals(Buffer.from(frame.subarray(18, 34)))).toBe(false);
  });

  it('signs a payload given in parts as the payload they make together', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 }), (parts) => {
        const frame = encodeSignedFrame(alice.signer, 'update', parts);
        const whole = Buffer.concat(parts);
        expect(frame.length).toBe(PAYLOAD_AT + whole.length + 64);
        const opened = openSignedFrame(frame, verifier());
        expect(Buffer.from(opened.payload).equals(whole)).toBe(true);
        // The last part is the body; its digest is what the receiver gets back.
        const body = parts.length > 0 ? parts[parts.length - 1] : new Uint8Array(0);
        expect(opened.bodyAt).toBe(whole.length - body.length);
        expect(opened.bodySha256).toBe(sha256(body));
      }),
    );
  });

  it('signs with a body digest the signer passes, and a wrong one does not verify', () => {
    const head = new Uint8Array([1, 2, 3]);
    const body = new Uint8Array([4, 5, 6, 7]);
    const given = encodeSignedFrame(alice.signer, 'update', [head, body], createHash('sha256').update(body).digest());
    expect(openSignedFrame(given, verifier())).toMatchObject({ bodyAt: 3, bodySha256: sha256(body) });
    const wrong = encodeSignedFrame(alice.signer, 'update', [head, body], createHash('sha256').update(head).digest());
    expect(refusal(() => openSignedFrame(wrong, verifier())).code).toBe('AUTH_BAD_SIGNATURE');
  });

  it('refuses a frame of another version, naming both', () => {
    const old = encodeSignedFrame(alice.signer, 'update', payload).slice();
    old[4] = 1;
    const error = refusal(() => openSignedFrame(old, verifier()));
    expect(error).toBeInstanceOf(FrameVersionError);
    expect(error).toMatchObject({ code: 'MESSAGE_MALFORMED', peer: 1, own: 2, message: expect.stringMatching(/signed frame of version 1; this side reads version 2/) });
  });

  it('says where a frame carries its payload, for any sender and kind', () => {
    expect(signedFramePayloadOffset('alice', 'update')).toBe(PAYLOAD_AT);
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,40}$/), fc.stringMatching(/^[a-z][a-z0-9._/-]{0,60}$/), fc.uint8Array({ maxLength: 64 }), (id, kind, bytes) => {
        const frame = encodeSignedFrame({ participantId: id, signingKey: alice.signer.signingKey }, kind, bytes);
        const at = signedFramePayloadOffset(id, kind);
        expect(Buffer.from(frame.subarray(at, at + bytes.length)).equals(Buffer.from(bytes))).toBe(true);
        expect(frame.length - 64).toBe(at + bytes.length);
      }),
    );
  });

  it('refuses a replayed frame, and a stale one', () => {
    const v = verifier();
    const frame = encodeSignedFrame(alice.signer, 'update', payload);
    openSignedFrame(frame, v);
    expect(refusal(() => openSignedFrame(frame, v)).code).toBe('AUTH_REPLAY');
    const later = encodeSignedFrame(alice.signer, 'update', payload);
    expect(refusal(() => openSignedFrame(later, v, Date.now() + 61_000))).toMatchObject({ code: 'AUTH_STALE', httpStatus: 401 });
    expect(refusal(() => openSignedFrame(later, v, Date.now() - 61_000)).code).toBe('AUTH_STALE');
  });

  it('refuses a frame signed with the wrong key, a tampered payload, timestamp or kind', () => {
    const forged = encodeSignedFrame({ ...bob.signer, participantId: 'alice' }, 'update', payload);
    expect(refusal(() => openSignedFrame(forged, verifier()))).toMatchObject({ code: 'AUTH_BAD_SIGNATURE', httpStatus: 401 });
    const tamper = (at: number, value: number): Uint8Array => {
      const copy = encodeSignedFrame(alice.signer, 'update', payload).slice();
      copy[at] = value;
      return copy;
    };
    expect(refusal(() => openSignedFrame(tamper(PAYLOAD_AT, 99), verifier())).code).toBe('AUTH_BAD_SIGNATURE');
    expect(refusal(() => openSignedFrame(tamper(TIMESTAMP_AT + 7, 0), verifier())).code).toBe('AUTH_BAD_SIGNATURE');
    // 'update' signed, 'updatf' presented: a signature for one kind is worthless for another.
    expect(refusal(() => openSignedFrame(tamper(KIND_AT + 5, 'f'.charCodeAt(0)), verifier())).code).toBe('AUTH_BAD_SIGNATURE');
  });

  it('refuses unknown and revoked senders', () => {
    expect(refusal(() => openSignedFrame(encodeSignedFrame(participant('carol').signer, 'update', payload), verifier()))).toMatchObject({ code: 'AUTH_UNKNOWN_PARTICIPANT', httpStatus: 401 });
    revokedIds.add('bob');
    try {
      expect(refusal(() => openSignedFrame(encodeSignedFrame(bob.signer, 'update', payload), verifier()))).toMatchObject({ code: 'AUTH_REVOKED', httpStatus: 403 });
    } finally {
      revokedIds.delete('bob');
    }
  });

  it('refuses oversized and undersized payload lengths without reading past the frame', () => {
    for (const length of [0xffffffff, 0x7fffffff, payload.length + 1, payload.length - 1, 0]) {
      const copy = encodeSignedFrame(alice.signer, 'update', payload).slice();
      new DataView(copy.buffer).setUint32(LENGTH_AT, length);
      const error = refusal(() => openSignedFrame(copy, verifier()));
      expect(error).toMatchObject({ code: 'MESSAGE_MALFORMED', httpStatus: 400 });
    }
    for (const bodyAt of [payload.length + 1, 0xffffffff]) {
      const copy = encodeSignedFrame(alice.signer, 'update', payload).slice();
      new DataView(copy.buffer).setUint32(BODY_AT, bodyAt);
      expect(refusal(() => openSignedFrame(copy, verifier())).message).toMatch(/body offset .* lies beyond/);
    }
    const moved = encodeSignedFrame(alice.signer, 'update', payload).slice();
    new DataView(moved.buffer).setUint32(BODY_AT, 2);
    expect(refusal(() => openSignedFrame(moved, verifier())).code).toBe('AUTH_BAD_SIGNATURE');
    const huge = encodeSignedFrame(alice.signer, 'update', payload).slice();
    new DataView(huge.buffer).setBigUint64(TIMESTAMP_AT, 2n ** 63n);
    expect(refusal(() => openSignedFrame(huge, verifier())).message).toMatch(/timestamp is out of range/);
  });

  it('refuses to encode a kind outside the frame alphabet', () => {
    for (const kind of ['', 'Update', 'up date', '1up', 'x'.repeat(129), 'é']) {
      expect(() => encodeSignedFrame(alice.signer, kind, payload)).toThrow(InvalidInputError);
    }
    expect(() => encodeSignedFrame(alice.signer, `a${'x'.repeat(127)}`, payload)).not.toThrow();
  });
});

describe('openSignedFrame on arbitrary bytes', () => {
  /** Opens `bytes` with a fresh verifier; true when accepted, false when refused with an AuthError, and the test fails on any other throw. */
  const accepted = (bytes: Uint8Array): boolean => {
    try {
      openSignedFrame(bytes, verifier());
      return true;
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      return false;
    }
  };
  const frameArb = fc
    .record({ kind: fc.constantFrom('update', 'hello', 'a/b.c-d_e'), payload: fc.uint8Array({ maxLength: 300 }), signer: fc.constantFrom(alice.signer, bob.signer) })
    .map(({ kind, payload: body, signer }) => encodeSignedFrame(signer, kind, body));

  it('throws only AuthError on random bytes, with or without a valid header', () => {
    const header = encodeSignedFrame(alice.signer, 'update', payload).subarray(0, 5);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (random, withHeader) => {
        const bytes = withHeader ? Buffer.concat([header, random]) : random;
        expect(accepted(bytes)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every truncation of a valid frame', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), (frame, cut) => {
        expect(accepted(frame.subarray(0, cut % frame.length))).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses a valid frame with any bit flipped, or with bytes appended', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (frame, at, bit) => {
        const copy = frame.slice();
        copy[at % copy.length] ^= 1 << bit;
        expect(accepted(copy)).toBe(false);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(frameArb, fc.uint8Array({ minLength: 1, maxLength: 100 }), (frame, extra) => {
        expect(accepted(Buffer.concat([frame, extra]))).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a valid frame whose sender, kind, payload length or body offset is overwritten with any other value', () => {
    fc.assert(
      fc.property(frameArb, fc.constantFrom('sender', 'kind', 'payload', 'body'), fc.nat({ max: 0xffffffff }), (frame, field, value) => {
        const copy = frame.slice();
        const view = new DataView(copy.buffer);
        const kindLengthAt = 6 + copy[5];
        if (field === 'payload' || field === 'body') {
          const at = kindLengthAt + 1 + copy[kindLengthAt] + 24 + (field === 'body' ? 4 : 0);
          view.setUint32(at, value === view.getUint32(at) ? value ^ 1 : value);
        } else {
          const at = field === 'sender' ? 5 : kindLengthAt;
          copy[at] = (value & 0xff) === copy[at] ? copy[at] ^ 1 : value & 0xff;
        }
        expect(accepted(copy)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every untouched frame exactly once', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (body) => {
        const v = verifier();
        const frame = encodeSignedFrame(alice.signer, 'update', body);
        expect(openSignedFrame(frame, v).payload).toEqual(body);
        expect(() => openSignedFrame(frame, v)).toThrow(expect.objectContaining({ code: 'AUTH_REPLAY' }));
      }),
      { numRuns: 200 },
    );
  });
});
