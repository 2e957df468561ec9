// Poseidon (Grassi et al., "Poseidon: A New Hash Function for Zero-Knowledge Proof Systems", USENIX Security 2021)
// over BN254 with x^5, 8 full rounds and circomlib's partial-round counts, computed in the optimised form (sparse
// partial-round matrices, appendix B of the paper) exactly as circomlib's PoseidonEx template does, so a hash here
// equals the circuit's.
import { fieldElement, SCALAR_FIELD as R } from './field.js';
import { POSEIDON_CONSTANTS } from './poseidon-constants.js';

const FULL_ROUNDS = 8;
// circomlib's N_ROUNDS_P, indexed by t - 2.
const PARTIAL_ROUNDS = [56, 57];

const mod = (x: bigint): bigint => x % R;
const sbox = (x: bigint): bigint => {
  const x2 = mod(x * x);
  return mod(mod(x2 * x2) * x);
};

/** state · matrix, with the matrix flattened row by row (circomlib's Mix: out[i] = Σ_j M[j][i]·in[j]). */
function mix(state: bigint[], matrix: readonly bigint[]): bigint[] {
  const t = state.length;
  return state.map((_, i) => mod(state.reduce((sum, x, j) => sum + matrix[j * t + i] * x, 0n)));
}

/** Poseidon hash of one or two field elements, equal to circomlib's `Poseidon(n)` template. */
export function poseidon(inputs: readonly bigint[]): bigint {
  const t = inputs.length + 1;
  const constants = POSEIDON_CONSTANTS[t];
  if (constants === undefined) throw new RangeError(`poseidon takes 1 or 2 inputs here, got ${inputs.length}`);
  const { C, M, P, S } = constants;
  const partialRounds = PARTIAL_ROUNDS[t - 2];
  const half = FULL_ROUNDS / 2;
  const ark = (state: bigint[], offset: number): bigint[] => state.map((x, i) => mod(x + C[offset + i]));

  let state = ark([0n, ...inputs.map((x, i) => fieldElement(x, `input ${i}`))], 0);
  for (let r = 0; r < half - 1; r++) state = mix(ark(state.map(sbox), (r + 1) * t), M);
  state = mix(ark(state.map(sbox), half * t), P);
  for (let r = 0; r < partialRounds; r++) {
    const first = mod(sbox(state[0]) + C[(half + 1) * t + r]);
    const row = (2 * t - 1) * r;
    const next = [mod(state.reduce((sum, x, i) => sum + S[row + i] * (i === 0 ? first : x), 0n))];
    for (let i = 1; i < t; i++) next.push(mod(state[i] + first * S[row + t + i - 1]));
    state = next;
  }
  for (let r = 0; r < half - 1; r++) state = mix(ark(state.map(sbox), (half + 1) * t + partialRounds + r * t), M);
  state = state.map(sbox);
  return mod(state.reduce((sum, x, j) => sum + M[j * t] * x, 0n));
}
