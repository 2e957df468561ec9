import { ZkInputError } from './errors.js';

/** The BN254 scalar field order r: every circuit signal, hash and public input is an element below it. */
export const SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** The BN254 base field order q: proof point coordinates are elements below it. */
export const BASE_FIELD = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

/** Checks that `value` is a field element (0 ≤ value < r) and returns it; `what` names it in the error. */
export function fieldElement(value: bigint, what: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value >= SCALAR_FIELD) {
    throw new ZkInputError(`${what} must be a bigint in [0, r) of BN254's scalar field, got ${String(value)}; reduce it mod r or hash it first`, { [what]: String(value) });
  }
  return value;
}
