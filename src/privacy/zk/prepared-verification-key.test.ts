import fc from 'fast-check';
import { curves, groth16, type Groth16Proof } from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVerificationKey, MEMBERSHIP_ARTEFACTS } from './artefacts.js';
import { BASE_FIELD, SCALAR_FIELD } from './field.js';
import { createIdentity } from './identity.js';
import { fromSnarkjs, publicSignalsOf, toSnarkjs, type MembershipProof } from './membership-proof.js';
import { MerkleTree } from './merkle-tree.js';
import { PreparedVerificationKey, type VerificationKeyJson } from './prepared-verification-key.js';

let key: VerificationKeyJson;
let prepared: PreparedVerificationKey;
let proof: MembershipProof;

beforeAll(async () => {
  key = loadVerificationKey() as VerificationKeyJson;
  prepared = await PreparedVerificationKey.prepare(key);
  const tree = new MerkleTree();
  const member = createIdentity(99n);
  tree.insert(createIdentity(98n).commitment);
  tree.insert(member.commitment);
  const path = tree.path(1);
  const input = { secret: String(member.secret), pathElements: path.pathElements.map(String), pathIndices: path.pathIndices.map(String), root: String(path.root), scope: '5', signalHash: '77' };
  const out = await groth16.fullProve(input, MEMBERSHIP_ARTEFACTS.wasm, MEMBERSHIP_ARTEFACTS.zkey);
  proof = fromSnarkjs(out.proof, out.publicSignals);
}, 60_000);

afterAll(async () => (await curves.getCurveFromName('bn128')).terminate());

const snarkjsVerdict = (signals: string[], p: Groth16Proof): Promise<boolean> => groth16.verify(key, signals, p);

describe('PreparedVerificationKey', () => {
  it('accepts a valid proof, as snarkjs does', async () => {
    expect(prepared.verify(publicSignalsOf(proof), toSnarkjs(proof))).toEqual({ valid: true, wellFormed: true });
    await expect(snarkjsVerdict(publicSignalsOf(proof), toSnarkjs(proof))).resolves.toBe(true);
  });

  it('reaches snarkjs verdict on every random tampering of a proof word or public signal', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 11 }), fc.oneof(fc.bigInt({ min: 1n, max: (1n << 253n) - 1n }), fc.constantFrom(1n, 2n)), fc.boolean(), async (word, change, xor) => {
        const words = [...proof.points, proof.nullifier, proof.root, proof.scope, proof.signalHash];
        const limit = word < 8 ? BASE_FIELD : SCALAR_FIELD;
        words[word] = (xor ? words[word] ^ change : words[word] + change) % limit;
        const [nullifier, root, scope, signalHash] = words.slice(8);
        const tampered: MembershipProof = { nullifier, root, scope, signalHash, points: words.slice(0, 8) };
        const verdict = prepared.verify(publicSignalsOf(tampered), toSnarkjs(tampered));
        expect(verdict.valid).toBe(await snarkjsVerdict(publicSignalsOf(tampered), toSnarkjs(tampered)));
        expect(verdict.valid).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses public signals outside the scalar field or of the wrong count without a pairing', () => {
    const signals = publicSignalsOf(proof);
    expect(prepared.verify([...signals.slice(0, 3), String(SCALAR_FIELD + proof.signalHash)], toSnarkjs(proof))).toEqual({ valid: false, wellFormed: true });
    expect(prepared.verify(signals.slice(0, 3), toSnarkjs(proof))).toEqual({ valid: false, wellFormed: true });
  });

  it('calls a proof whose point leaves the curve malformed', () => {
    const broken = { ...proof, points: proof.points.map((p, i) => (i === 1 ? (p + 1n) % BASE_FIELD : p)) };
    expect(prepared.verify(publicSignalsOf(broken), toSnarkjs(broken))).toEqual({ valid: false, wellFormed: false });
  });

  it('refuses a key for another protocol or a mismatched IC', async () => {
    await expect(PreparedVerificationKey.prepare({ ...key, protocol: 'plonk' })).rejects.toMatchObject({ code: 'ZK_ARTEFACT_MISMATCH' });
    await expect(PreparedVerificationKey.prepare({ ...key, nPublic: key.nPublic + 1 })).rejects.toThrow(/IC points/);
  });
});
