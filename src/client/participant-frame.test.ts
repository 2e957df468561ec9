import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MessageVerifier, openSignedFrame } from '../identity/index.js';
import { ClientMessages, decodeMessage, weightsBody } from '../protocol/index.js';
import { deferredParticipantFrame, participantFrame } from './participant-frame.js';
import { generateCurveKeyPair } from '../core/index.js';

const { privateKey, publicKey } = generateCurveKeyPair('ed25519');

describe('participantFrame', () => {
  it('carries the message signed, its body on a 4-byte boundary of the frame, for any sender', () => {
    const verifier = new MessageVerifier({ signingKeyOf: () => publicKey, isRevoked: () => false });
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,40}$/), fc.string({ maxLength: 30 }), fc.array(fc.float({ noNaN: true }), { maxLength: 20 }), (id, roundId, values) => {
        const body = weightsBody(Float32Array.from(values));
        const sha256 = createHash('sha256').update(body).digest('hex');
        const header = { roundId: `r${roundId}`, round: 2, numExamples: 3, seconds: 1, encoding: 'float32' as const, sha256 };
        const frame = participantFrame({ participantId: id, signingKey: privateKey }, 'update', header, body);
        const opened = openSignedFrame(frame, verifier);
        // The signature covers the body by the digest its header gives, which the receiver recomputes.
        expect(opened).toMatchObject({ sender: id, kind: 'update', bodySha256: sha256 });
        const message = decodeMessage(opened.payload, ClientMessages);
        expect(message.header).toEqual(header);
        expect(Buffer.from(message.body).equals(Buffer.from(body))).toBe(true);
        expect((message.body.byteOffset - frame.byteOffset) % 4).toBe(0);
        expect(message.body.byteOffset).toBe(opened.payload.byteOffset + opened.bodyAt);
      }),
    );
  });

  it("makes an update frame that does not verify when its header's digest is not its body's", () => {
    const verifier = new MessageVerifier({ signingKeyOf: () => publicKey, isRevoked: () => false });
    const body = weightsBody(Float32Array.from([1, 2, 3]));
    const header = { roundId: 'r1', round: 1, numExamples: 3, seconds: 1, encoding: 'float32' as const, sha256: 'b'.repeat(64) };
    expect(() => openSignedFrame(participantFrame({ participantId: 'alice', signingKey: privateKey }, 'update', header, body), verifier)).toThrow(expect.objectContaining({ code: 'AUTH_BAD_SIGNATURE' }));
  });

  it('deferred, is encoded at once and signed when made: a frame made two minutes after it was queued is fresh then', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const verifier = new MessageVerifier({ signingKeyOf: () => publicKey, isRevoked: () => false });
    const signer = { participantId: 'alice', signingKey: privateKey };
    const queued = Date.now();
    const early = participantFrame(signer, 'heartbeat', { resources: { cpuCores: 1, memoryMb: 1 } });
    const later = deferredParticipantFrame(signer, 'heartbeat', { resources: { cpuCores: 1, memoryMb: 1 } });
    vi.setSystemTime(queued + 120_000);
    expect(() => openSignedFrame(early, verifier)).toThrow(expect.objectContaining({ code: 'AUTH_STALE' }));
    expect(openSignedFrame(later(), verifier)).toMatchObject({ sender: 'alice', kind: 'heartbeat' });
  });
});

afterEach(() => {
  vi.useRealTimers();
});
