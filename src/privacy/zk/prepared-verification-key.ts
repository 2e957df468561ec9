// A Groth16 verification key made ready for many checks, as arkworks' PreparedVerifyingKey is: e(alpha, beta) and the
// Miller-loop lines of gamma and delta are computed once, so a check costs three Miller loops and one final
// exponentiation. snarkjs's groth16.verify redoes all of that per call and hands each pairing to a worker thread,
// which costs more than the pairing itself (bench/zk.ts measures both). Every curve operation is ffjavascript's
// BN254, the code snarkjs runs; the checks on the proof are snarkjs's, plus the G2 subgroup check the EVM does.
import { curves, type Bn128, type Groth16Proof } from 'snarkjs';
import { ZkArtefactError } from './errors.js';

/** A verification key as snarkjs exports it (`*.vkey.json`). */
export type VerificationKeyJson = {
  readonly protocol: string;
  readonly curve: string;
  readonly nPublic: number;
  readonly vk_alpha_1: readonly string[];
  readonly vk_beta_2: readonly (readonly string[])[];
  readonly vk_gamma_2: readonly (readonly string[])[];
  readonly vk_delta_2: readonly (readonly string[])[];
  readonly IC: readonly (readonly string[])[];
};

/** The outcome of a check: `wellFormed` is false when a proof point is not a point of its group. */
export type Groth16Verdict = { readonly valid: boolean; readonly wellFormed: boolean };

const g1 = (point: readonly string[]): bigint[] => point.map(BigInt);
const g2 = (point: readonly (readonly string[])[]): bigint[][] => point.map((coordinate) => coordinate.map(BigInt));

/** A verification key with its constant pairing work done once; `verify` runs in the calling thread. */
export class PreparedVerificationKey {
  private constructor(
    private readonly curve: Bn128,
    private readonly ic: readonly Uint8Array[],
    private readonly gammaLines: Uint8Array,
    private readonly deltaLines: Uint8Array,
    private readonly alphaBeta: Uint8Array,
  ) {}

  /** Prepares `key` (a Groth16 key on bn128, as snarkjs exports it). */
  static async prepare(key: VerificationKeyJson): Promise<PreparedVerificationKey> {
    if (key.protocol !== 'groth16' || key.curve !== 'bn128' || key.IC.length !== key.nPublic + 1) {
      throw new ZkArtefactError(`a prepared key takes a Groth16 key on bn128 with nPublic + 1 IC points, got ${key.protocol} on ${key.curve} with ${key.IC.length} IC points for ${key.nPublic} public signals`, {
        protocol: key.protocol,
        curve: key.curve,
      });
    }
    const curve = await curves.getCurveFromName('bn128');
    const lines = (point: readonly (readonly string[])[]): Uint8Array => curve.prepareG2(curve.G2.toJacobian(curve.G2.fromObject(g2(point))));
    const alpha = curve.prepareG1(curve.G1.toJacobian(curve.G1.fromObject(g1(key.vk_alpha_1))));
    const alphaBeta = curve.finalExponentiation(curve.millerLoop(alpha, lines(key.vk_beta_2)));
    return new PreparedVerificationKey(curve, key.IC.map((point) => curve.G1.fromObject(g1(point))), lines(key.vk_gamma_2), lines(key.vk_delta_2), alphaBeta);
  }

  /** Checks e(A, B) = e(alpha, beta) · e(IC · signals, gamma) · e(C, delta) for `proof` and its public signals. */
  verify(publicSignals: readonly string[], proof: Groth16Proof): Groth16Verdict {
    const { curve } = this;
    const { G1, G2 } = curve;
    const signals = publicSignals.map(BigInt);
    if (signals.length !== this.ic.length - 1 || signals.some((s) => s < 0n || s >= curve.r)) return { valid: false, wellFormed: true };
    const a = G1.fromObject(g1(proof.pi_a));
    const b = G2.fromObject(g2(proof.pi_b));
    const c = G1.fromObject(g1(proof.pi_c));
    // BN254's G1 has cofactor 1, so a point on the curve is in the group; G2's is not, and B must be of order r.
    if (!G1.isValid(a) || !G1.isValid(c) || !G2.isValid(b) || !G2.isZero(G2.timesScalar(b, curve.r))) return { valid: false, wellFormed: false };
    let inputs = this.ic[0];
    signals.forEach((signal, i) => (inputs = G1.add(inputs, G1.timesScalar(this.ic[i + 1], signal))));
    const loop = (p: Uint8Array, lines: Uint8Array): Uint8Array => curve.millerLoop(curve.prepareG1(G1.toJacobian(p)), lines);
    const product = curve.Gt.mul(curve.Gt.mul(loop(a, curve.prepareG2(G2.toJacobian(b))), loop(G1.neg(inputs), this.gammaLines)), loop(G1.neg(c), this.deltaLines));
    return { valid: curve.Gt.eq(curve.finalExponentiation(product), this.alphaBeta), wellFormed: true };
  }
}
