import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkInputError, ZkProofMalformedError, ZkProofRejectedError } from './errors.js';
import { SCALAR_FIELD } from './field.js';
import { createIdentity, nullifierOf, type Identity } from './identity.js';
import { Membership, type MembershipExpectation } from './membership.js';
import { decodeMembershipProof, encodeMembershipProof, type MembershipProof } from './membership-proof.js';
import { MerkleTree } from './merkle-tree.js';
import { NullifierSet } from './nullifier-set.js';

const SCOPE = 0x10b_0001n; // job and round, packed by the caller
const SIGNAL = 123456789n; // the update's hash, reduced into the field

let membership: Membership;
let tree: MerkleTree;
let members: Identity[];
let proof: MembershipProof;
let expected: MembershipExpectation;

const rejection = (promise: Promise<unknown>) => expect(promise).rejects;

beforeAll(async () => {
  membership = Membership.open(2);
  tree = new MerkleTree();
  members = Array.from({ length: 5 }, (_, i) => createIdentity(BigInt(1000 + i)));
  for (const member of members) tree.insert(member.commitment);
  proof = await membership.prove({ identity: members[3], path: tree.path(3), scope: SCOPE, signalHash: SIGNAL });
  expected = { roots: [tree.root], scope: SCOPE, signalHash: SIGNAL };
});

afterAll(() => membership?.close());

describe('Membership', () => {
  it('proves membership with the nullifier Poseidon(secret, scope), and the proof verifies', async () => {
    expect(proof.nullifier).toBe(nullifierOf(members[3], SCOPE));
    expect(proof.root).toBe(tree.root);
    await expect(membership.verify(proof, expected)).resolves.toBe(proof.nullifier);
    await expect(membership.verify(encodeMembershipProof(proof), expected)).resolves.toBe(proof.nullifier);
  });

  it('refuses a proof for another signal, whether or not the verifier expects that signal', async () => {
    const changed = { ...proof, signalHash: SIGNAL + 1n };
    await rejection(membership.verify(changed, expected)).toMatchObject({ code: 'ZK_SIGNAL_MISMATCH' });
    await rejection(membership.verify(changed, { ...expected, signalHash: SIGNAL + 1n })).toMatchObject({ code: 'ZK_PROOF_INVALID' });
  });

  it('refuses a proof against a root the verifier does not accept, or a forged root', async () => {
    await rejection(membership.verify(proof, { ...expected, roots: [tree.root + 1n] })).toMatchObject({ code: 'ZK_ROOT_UNKNOWN' });
    const forged = { ...proof, root: 42n };
    await rejection(membership.verify(forged, { ...expected, roots: [42n] })).toMatchObject({ code: 'ZK_PROOF_INVALID' });
  });

  it('refuses a proof for another scope, or one whose scope was rewritten', async () => {
    await rejection(membership.verify(proof, { ...expected, scope: SCOPE + 1n })).toMatchObject({ code: 'ZK_SCOPE_MISMATCH' });
    await rejection(membership.verify({ ...proof, scope: SCOPE + 1n }, { ...expected, scope: SCOPE + 1n })).toMatchObject({ code: 'ZK_PROOF_INVALID' });
  });

  it('refuses flipped proof bytes as malformed or invalid', async () => {
    const bytes = encodeMembershipProof(proof);
    bytes[40] ^= 0x01; // inside a.y: the point leaves the curve
    await rejection(membership.verify(bytes, expected)).toBeInstanceOf(ZkProofMalformedError);
    const tooHigh = encodeMembershipProof(proof);
    tooHigh[0] = 0xff; // a.x above q
    await rejection(membership.verify(tooHigh, expected)).toMatchObject({ code: 'ZK_PROOF_MALFORMED' });
    expect(() => decodeMembershipProof(bytes.subarray(1))).toThrow(ZkProofMalformedError);
  });

  it('accepts one proof per identity per scope', async () => {
    const nullifiers = new NullifierSet();
    await membership.verify(proof, expected, nullifiers);
    await rejection(membership.verify(proof, expected, nullifiers)).toMatchObject({ code: 'ZK_NULLIFIER_REUSED' });
    // A forged proof is refused before its nullifier is spent.
    const other = new NullifierSet();
    await rejection(membership.verify({ ...proof, points: proof.points.map((p, i) => (i === 7 ? p ^ 1n : p)) }, expected, other)).toBeInstanceOf(Error);
    expect(other.has(SCOPE, proof.nullifier)).toBe(false);
  });

  it('refuses to prove for an identity that is not in the tree', async () => {
    const outsider = createIdentity(7n);
    await expect(membership.prove({ identity: outsider, path: tree.path(0), scope: SCOPE, signalHash: SIGNAL })).rejects.toBeInstanceOf(ZkInputError);
  });

  it('rejects every random tampering of the proof bytes', async () => {
    const bytes = encodeMembershipProof(proof);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), async (index, mask) => {
        const tampered = Uint8Array.from(bytes);
        tampered[index] ^= mask;
        const error = await membership.verify(tampered, expected).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error instanceof ZkProofMalformedError || error instanceof ZkProofRejectedError).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('proves for random members and scopes, each verifying only in its own scope', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: members.length - 1 }), fc.bigInt({ min: 0n, max: SCALAR_FIELD - 1n }), async (index, scope) => {
        const fresh = await membership.prove({ identity: members[index], path: tree.path(index), scope, signalHash: SIGNAL });
        await expect(membership.verify(fresh, { ...expected, scope })).resolves.toBe(nullifierOf(members[index], scope));
        await rejection(membership.verify({ ...fresh, scope: scope ^ 1n }, { ...expected, scope: scope ^ 1n })).toMatchObject({ code: 'ZK_PROOF_INVALID' });
      }),
      { numRuns: 3 },
    );
  });
});
