import { createHash, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, generateCurveKeyPair } from '../core/index.js';
import { AuthError } from './errors.js';
import { MessageVerifier, signEnvelope, signedBytes, type MessageSigner, type SignedEnvelope } from './signed-message.js';

function participant(id: string): { signer: MessageSigner; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateCurveKeyPair('ed25519');
  return { signer: { participantId: id, signingKey: privateKey }, publicKey };
}

const alice = participant('alice');
const mallory = participant('alice');
const revoked = participant('eve');
const keys = new Map([
  ['alice', alice.publicKey],
  ['eve', revoked.publicKey],
]);
const directory = { signingKeyOf: (id: string) => keys.get(id), isRevoked: (id: string) => id === 'eve' };

const T = 1_767_225_600_000;
const unsigned = (changes: Partial<SignedEnvelope> = {}): Omit<SignedEnvelope, 'signature'> => ({
  transport: 'frame',
  sender: 'alice',
  kind: 'update',
  nonce: new Uint8Array(16).fill(7),
  timestamp: T,
  payload: new TextEncoder().encode('weights'),
  ...changes,
});
const signed = (signer: MessageSigner, changes: Partial<SignedEnvelope> = {}): SignedEnvelope => {
  const envelope = unsigned(changes);
  return { ...envelope, signature: signEnvelope(signer, envelope) };
};

function refusal(verifier: MessageVerifier, envelope: SignedEnvelope, now = T): AuthError {
  try {
    verifier.verify(envelope, now);
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return error as AuthError;
  }
  throw new Error('accepted');
}

describe('signedBytes', () => {
  it('lays out context, transport, length-prefixed sender and kind, nonce, timestamp, head length and the digests of head and body', () => {
    const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();
    const prefix = Buffer.concat([
      Buffer.from('cipher-nexus/signed-message/v2\0'),
      Buffer.from([1, 5]),
      Buffer.from('alice'),
      Buffer.from([0, 6]),
      Buffer.from('update'),
      Buffer.alloc(16, 7),
      Buffer.from('0000019b76daa800', 'hex'), // 2026-01-01T00:00:00Z in ms
    ]);
    // Without a body offset the payload is all head and the body empty.
    const whole = Buffer.concat([prefix, Buffer.from([0, 0, 0, 7]), sha256('weights'), sha256('')]);
    expect(Buffer.from(signedBytes(unsigned())).toString('hex')).toBe(whole.toString('hex'));
    const split = Buffer.concat([prefix, Buffer.from([0, 0, 0, 3]), sha256('wei'), sha256('ghts')]);
    expect(Buffer.from(signedBytes(unsigned({ bodyAt: 3 }))).toString('hex')).toBe(split.toString('hex'));
  });

  it('signs the same bytes whether the signer passes the body digest or it is computed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), (payload, cut) => {
        const envelope = unsigned({ payload, bodyAt: cut % (payload.length + 1) });
        const digest = createHash('sha256').update(payload.subarray(envelope.bodyAt)).digest();
        expect(Buffer.from(signedBytes(envelope, digest)).equals(Buffer.from(signedBytes(envelope)))).toBe(true);
      }),
    );
  });

  it('differs whenever a field differs, including where sender and kind meet and between transports', () => {
    const base = Buffer.from(signedBytes(unsigned())).toString('hex');
    const variants = [
      unsigned({ transport: 'request' }),
      unsigned({ sender: 'alicu', kind: 'pdate' }),
      unsigned({ kind: 'updatf' }),
      unsigned({ nonce: new Uint8Array(16).fill(8) }),
      unsigned({ timestamp: T + 1 }),
      unsigned({ payload: new TextEncoder().encode('weightz') }),
      // The same payload cut elsewhere: what is head and what is body is signed too.
      unsigned({ bodyAt: 0 }),
      unsigned({ bodyAt: 3 }),
    ].map((e) => Buffer.from(signedBytes(e)).toString('hex'));
    expect(new Set([base, ...variants]).size).toBe(9);
    expect(Buffer.from(signedBytes(unsigned({ sender: 'ab', kind: 'c' }))).equals(Buffer.from(signedBytes(unsigned({ sender: 'a', kind: 'bc' }))))).toBe(false);
  });
});

describe('MessageVerifier', () => {
  it('accepts a fresh signed message once', () => {
    const verifier = new MessageVerifier(directory);
    const envelope = signed(alice.signer, { bodyAt: 3 });
    // What it returns is the digest of the body it checked, for the receiver to file the message under.
    expect(verifier.verify(envelope, T).toString('hex')).toBe(createHash('sha256').update('ghts').digest('hex'));
    expect(refusal(verifier, envelope, T + 1)).toMatchObject({ code: 'AUTH_REPLAY', httpStatus: 401 });
  });

  it('refuses strangers, revoked senders, foreign keys and every changed field', () => {
    const verifier = new MessageVerifier(directory);
    expect(refusal(verifier, signed(participant('carol').signer, { sender: 'carol' }))).toMatchObject({ code: 'AUTH_UNKNOWN_PARTICIPANT', httpStatus: 401 });
    expect(refusal(verifier, signed(revoked.signer, { sender: 'eve' }))).toMatchObject({ code: 'AUTH_REVOKED', httpStatus: 403 });
    expect(refusal(verifier, signed(mallory.signer))).toMatchObject({ code: 'AUTH_BAD_SIGNATURE', httpStatus: 401 });
    const good = signed(alice.signer);
    for (const change of [
      { kind: 'hello' },
      { transport: 'request' as const },
      { nonce: new Uint8Array(16) },
      { timestamp: T - 1 },
      { payload: new Uint8Array(0) },
      { bodyAt: 2 },
      { signature: good.signature.slice(0, 63) },
    ]) {
      expect(refusal(verifier, { ...good, ...change }).code).toBe('AUTH_BAD_SIGNATURE');
    }
    // None of the refusals spent the nonce: the genuine message is still accepted once.
    expect(() => verifier.verify(good, T)).not.toThrow();
  });

  it('refuses envelopes whose fields cannot be laid out as signed bytes with MESSAGE_MALFORMED, and will not sign them', () => {
    const verifier = new MessageVerifier(directory);
    const good = signed(alice.signer);
    for (const change of [{ sender: 'a'.repeat(300) }, { sender: 'Alice' }, { kind: '' }, { kind: 'x'.repeat(4097) }, { kind: 'caf\u00e9' }, { nonce: new Uint8Array(15) }, { timestamp: -1 }, { timestamp: 2 ** 53 }, { timestamp: 1.5 }, { bodyAt: 8 }, { bodyAt: -1 }, { bodyAt: 0.5 }]) {
      expect(refusal(verifier, { ...good, ...change })).toMatchObject({ code: 'MESSAGE_MALFORMED', httpStatus: 400 });
      expect(() => signEnvelope(alice.signer, unsigned(change))).toThrow(expect.objectContaining({ code: 'MESSAGE_UNSIGNABLE' }));
    }
    expect(() => signEnvelope(alice.signer, unsigned({ sender: 'Alice' }))).toThrow(InvalidInputError);
  });

  it('accepts timestamps up to the skew allowance either way and refuses beyond it', () => {
    const verifier = new MessageVerifier(directory, { skewMs: 5_000 });
    expect(verifier.skewMs).toBe(5_000);
    expect(() => verifier.verify(signed(alice.signer, { nonce: new Uint8Array(16).fill(1) }), T + 5_000)).not.toThrow();
    expect(() => verifier.verify(signed(alice.signer, { nonce: new Uint8Array(16).fill(2) }), T - 5_000)).not.toThrow();
    const late = refusal(verifier, signed(alice.signer, { nonce: new Uint8Array(16).fill(3) }), T + 5_001);
    expect(late).toMatchObject({ code: 'AUTH_STALE', httpStatus: 401 });
    expect(late.message).toMatch(/synchronise the clock/);
    expect(refusal(verifier, signed(alice.signer, { nonce: new Uint8Array(16).fill(4) }), T - 5_001).code).toBe('AUTH_STALE');
    expect(new MessageVerifier(directory).skewMs).toBe(60_000);
  });

  it('refuses, after a restart, a message the earlier process accepted, and accepts messages signed since', () => {
    const before = new MessageVerifier(directory);
    const captured = signed(alice.signer);
    before.verify(captured, T);
    expect(refusal(before, captured, T + 1).code).toBe('AUTH_REPLAY');
    // The restarted process remembers no nonce; the start bound is what refuses the captured message.
    const restarted = new MessageVerifier(directory, { notBefore: T + 2_000 });
    expect(restarted.notBefore).toBe(T + 2_000);
    const replayed = refusal(restarted, captured, T + 2_500);
    expect(replayed).toMatchObject({ code: 'AUTH_STALE', httpStatus: 401 });
    expect(replayed.message).toMatch(/stamped 2000 ms before the coordinator started/);
    expect(() => restarted.verify(signed(alice.signer, { timestamp: T + 2_000, nonce: new Uint8Array(16).fill(9) }), T + 2_500)).not.toThrow();
    expect(new MessageVerifier(directory).notBefore).toBe(0);
  });

  it('cannot be made to accept a replay by waiting: once the nonce is forgotten the message is stale', () => {
    const verifier = new MessageVerifier(directory, { skewMs: 1_000 });
    const envelope = signed(alice.signer);
    verifier.verify(envelope, T);
    for (const now of [T + 1, T + 999, T + 1_000]) expect(refusal(verifier, envelope, now).code).toBe('AUTH_REPLAY');
    for (const now of [T + 1_001, T + 10_000]) expect(refusal(verifier, envelope, now).code).toBe('AUTH_STALE');
  });
});
