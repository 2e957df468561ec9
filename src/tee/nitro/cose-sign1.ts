import { encode, Tag } from 'cbor2';
import { describe, fail, plainBytes, readCbor, type Read } from './cbor.js';

/** COSE algorithm ES384: ECDSA on P-384 with SHA-384 (RFC 9053 §2.1), the only one Nitro uses. */
export const COSE_ALG_ES384 = -35;

/** CBOR tag of a tagged COSE_Sign1 (RFC 9052 §2). */
const COSE_SIGN1_TAG = 18;

/** A COSE_Sign1 message (RFC 9052 §4.2) with its protected header checked to say ES384. */
export interface CoseSign1 {
  /** The protected header exactly as signed. */
  protectedHeader: Uint8Array;
  payload: Uint8Array;
  /** Raw r‖s, 96 bytes for ES384. */
  signature: Uint8Array;
}

/** Reads a COSE_Sign1, tagged or not, whose protected header is `{1: -35}`; what is wrong otherwise. */
export function readCoseSign1(bytes: Uint8Array): Read<CoseSign1> {
  const read = readCbor(bytes);
  if (!read.ok) return read;
  let message = read.value;
  if (message instanceof Tag) {
    if (Number(message.tag) !== COSE_SIGN1_TAG) return fail(`tag ${String(message.tag)} is not COSE_Sign1 (18)`);
    message = message.contents;
  }
  if (!Array.isArray(message) || message.length !== 4) return fail('not a COSE_Sign1: expected an array of 4 items');
  const [protectedHeader, unprotectedHeader, payload, signature] = message as unknown[];
  if (!(protectedHeader instanceof Uint8Array)) return fail('COSE_Sign1 protected header is not a byte string');
  // RFC 9052 §3: the unprotected header is a map; AWS sends an empty one, never null.
  if (!(unprotectedHeader instanceof Map)) return fail(`COSE_Sign1 unprotected header is ${describe(unprotectedHeader)}, not a map`);
  // A detached payload (nil) would leave nothing to attest.
  if (!(payload instanceof Uint8Array)) return fail('COSE_Sign1 payload is not a byte string');
  if (!(signature instanceof Uint8Array)) return fail('COSE_Sign1 signature is not a byte string');
  const algorithm = readAlgorithm(protectedHeader);
  if (!algorithm.ok) return algorithm;
  if (signature.length !== 96) return fail(`ES384 signature is ${signature.length} bytes, not 96 (r‖s)`);
  return { ok: true, value: { protectedHeader: plainBytes(protectedHeader), payload: plainBytes(payload), signature: plainBytes(signature) } };
}

/** The bytes an ES384 COSE_Sign1 signature covers: Sig_structure ["Signature1", protected, external_aad = h'', payload] (RFC 9052 §4.4). */
export function sigStructure(message: CoseSign1): Uint8Array {
  return encode(['Signature1', message.protectedHeader, new Uint8Array(0), message.payload]);
}

function readAlgorithm(protectedHeader: Uint8Array): Read<number> {
  const read = readCbor(protectedHeader);
  if (!read.ok) return fail(`COSE_Sign1 protected header is ${read.detail}`);
  const header = read.value;
  if (!(header instanceof Map)) return fail('COSE_Sign1 protected header is not a map');
  const algorithm: unknown = header.get(1);
  if (algorithm !== COSE_ALG_ES384) return fail(`COSE algorithm ${describe(algorithm)} is not ES384 (-35)`);
  // Any other protected parameter (crit above all, RFC 9052 §3.1) would be one this verifier does not honour.
  const others = [...header.keys()].filter((label) => label !== 1);
  if (others.length > 0) return fail(`COSE_Sign1 protected header carries parameters ${others.map(describe).join(', ')} besides alg`);
  return { ok: true, value: algorithm };
}
