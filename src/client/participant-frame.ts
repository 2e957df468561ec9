import { encodeSignedFrame, signedFramePayloadOffset, type MessageSigner } from '../identity/index.js';
import { encodeMessageParts, type ClientHeader, type ClientKind } from '../protocol/index.js';

/** One message as a participant sends it: signed, in one frame, its body 4-byte aligned where the coordinator reads it, and copied once (into the frame). */
export function participantFrame<K extends ClientKind>(signer: MessageSigner, kind: K, header: ClientHeader<K>, body?: Uint8Array): Uint8Array {
  return encodeSignedFrame(signer, kind, encodeMessageParts(kind, header, body, signedFramePayloadOffset(signer.participantId, kind)));
}
