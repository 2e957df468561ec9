import { encodeSignedFrame, signedFramePayloadOffset, type MessageSigner } from '../identity/index.js';
import { encodeMessageParts, type ClientHeader, type ClientKind } from '../protocol/index.js';

/**
 * One message as a participant sends it: signed, in one frame, its body 4-byte aligned where the coordinator reads it, and
 * copied once (into the frame). An update's header carries its body's sha256, so the signature reuses it instead of
 * hashing the body again.
 */
export function participantFrame<K extends ClientKind>(signer: MessageSigner, kind: K, header: ClientHeader<K>, body?: Uint8Array): Uint8Array {
  return deferredParticipantFrame(signer, kind, header, body)();
}

/**
 * The same message encoded now (so a header that cannot be encoded fails its sender at once) and signed when the
 * returned function is called: a frame queued behind others is signed when its turn to be written comes.
 */
export function deferredParticipantFrame<K extends ClientKind>(signer: MessageSigner, kind: K, header: ClientHeader<K>, body?: Uint8Array): () => Uint8Array {
  const parts = encodeMessageParts(kind, header, body, signedFramePayloadOffset(signer.participantId, kind));
  const digest = kind === 'update' ? Buffer.from((header as ClientHeader<'update'>).sha256, 'hex') : undefined;
  return () => encodeSignedFrame(signer, kind, parts, digest);
}
