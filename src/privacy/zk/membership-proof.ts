// A membership proof on the wire: 12 big-endian 32-byte words, in the order the Solidity verifier exported by snarkjs
// takes them (verifyProof(uint[2] a, uint[2][2] b, uint[2] c, uint[4] pubSignals)), so the same bytes serve the
// coordinator and the chain. G2 coordinates are (imaginary, real) there, the reverse of snarkjs's JSON.
import type { Groth16Proof } from 'snarkjs';
import { ZkProofMalformedError } from './errors.js';
import { BASE_FIELD, SCALAR_FIELD } from './field.js';

/** Byte length of an encoded membership proof. */
export const MEMBERSHIP_PROOF_BYTES = 12 * 32;

/** A Groth16 membership proof and its public signals, in the circuit's order (output first, then public inputs). */
export type MembershipProof = {
  /** Poseidon(secret, scope): the same for one identity in one scope, unlinkable across scopes. */
  readonly nullifier: bigint;
  readonly root: bigint;
  readonly scope: bigint;
  readonly signalHash: bigint;
  /** a.x, a.y, b.x.im, b.x.re, b.y.im, b.y.re, c.x, c.y: the EVM verifier's order. */
  readonly points: readonly bigint[];
};

/** The public signals as snarkjs orders them. */
export function publicSignalsOf(proof: MembershipProof): string[] {
  return [proof.nullifier, proof.root, proof.scope, proof.signalHash].map(String);
}

/** Builds a proof from snarkjs's output. */
export function fromSnarkjs(proof: Groth16Proof, publicSignals: readonly string[]): MembershipProof {
  const [nullifier, root, scope, signalHash] = publicSignals.map(BigInt);
  const [a, b, c] = [proof.pi_a, proof.pi_b, proof.pi_c];
  return { nullifier, root, scope, signalHash, points: [a[0], a[1], b[0][1], b[0][0], b[1][1], b[1][0], c[0], c[1]].map(BigInt) };
}

/** The proof in snarkjs's JSON shape, for groth16.verify. */
export function toSnarkjs(proof: MembershipProof): Groth16Proof {
  const p = proof.points.map(String);
  return { pi_a: [p[0], p[1], '1'], pi_b: [[p[3], p[2]], [p[5], p[4]], ['1', '0']], pi_c: [p[6], p[7], '1'], protocol: 'groth16', curve: 'bn128' };
}

/** Encodes a proof as 384 bytes (see the module comment for the order). */
export function encodeMembershipProof(proof: MembershipProof): Uint8Array {
  const words = [...proof.points, proof.nullifier, proof.root, proof.scope, proof.signalHash];
  const out = new Uint8Array(MEMBERSHIP_PROOF_BYTES);
  words.forEach((word, i) => out.set(Buffer.from(word.toString(16).padStart(64, '0'), 'hex'), i * 32));
  return out;
}

/** Decodes 384 bytes into a proof, or throws `ZK_PROOF_MALFORMED` for a wrong length or a word outside its field. */
export function decodeMembershipProof(bytes: Uint8Array): MembershipProof {
  if (!(bytes instanceof Uint8Array) || bytes.length !== MEMBERSHIP_PROOF_BYTES) {
    throw new ZkProofMalformedError(`a membership proof is ${MEMBERSHIP_PROOF_BYTES} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`, { length: bytes?.length });
  }
  const words = Array.from({ length: 12 }, (_, i) => BigInt(`0x${Buffer.from(bytes.subarray(i * 32, i * 32 + 32)).toString('hex')}`));
  words.forEach((word, i) => {
    const [limit, field] = i < 8 ? [BASE_FIELD, 'base field q'] : [SCALAR_FIELD, 'scalar field r'];
    if (word >= limit) throw new ZkProofMalformedError(`word ${i} of the membership proof is not below BN254's ${field}`, { word: i });
  });
  const [nullifier, root, scope, signalHash] = words.slice(8);
  return { nullifier, root, scope, signalHash, points: words.slice(0, 8) };
}
