// The part of snarkjs 0.7 (and of circom_runtime, its witness calculator) this folder calls; neither ships types.
declare module 'snarkjs' {
  export type Groth16Proof = { pi_a: string[]; pi_b: string[][]; pi_c: string[]; protocol: string; curve: string };
  export type SnarkjsLogger = { debug(message: string): void; info(message: string): void; warn(message: string): void; error(message: string): void };
  /** A file snarkjs reads from memory instead of disk. */
  export type MemFile = { type: 'mem'; data: Uint8Array };
  export const groth16: {
    fullProve(input: Record<string, string | string[]>, wasmFile: string, zkeyFile: string): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    prove(zkey: string | MemFile, witness: string | MemFile, logger?: SnarkjsLogger, options?: { singleThread?: boolean }): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(verificationKey: object, publicSignals: string[], proof: Groth16Proof, logger?: SnarkjsLogger): Promise<boolean>;
  };
  export const r1cs: { info(r1csFile: string, logger?: SnarkjsLogger): Promise<{ nConstraints: number; nPrvInputs: number; nPubInputs: number; nOutputs: number; nVars: number }> };
  export const wtns: { calculate(input: Record<string, string | string[]>, wasmFile: string, witness: MemFile | { type: 'mem' }): Promise<void> };
  /** A point or field element in ffjavascript's Montgomery byte form. */
  type Element = Uint8Array;
  type Group = {
    fromObject(point: bigint[] | bigint[][]): Element;
    toJacobian(point: Element): Element;
    isValid(point: Element): boolean;
    isZero(point: Element): boolean;
    neg(point: Element): Element;
    add(a: Element, b: Element): Element;
    timesScalar(point: Element, scalar: bigint): Element;
  };
  /** ffjavascript's BN254 (snarkjs calls it bn128): the groups and the pairing's steps, run in this thread. */
  export type Bn128 = {
    G1: Group;
    G2: Group;
    Gt: { mul(a: Element, b: Element): Element; eq(a: Element, b: Element): boolean };
    r: bigint;
    prepareG1(point: Element): Element;
    prepareG2(point: Element): Element;
    millerLoop(preparedG1: Element, preparedG2: Element): Element;
    finalExponentiation(value: Element): Element;
    terminate(): Promise<void>;
  };
  export const curves: { getCurveFromName(name: string): Promise<Bn128> };
}

declare module 'circom_runtime' {
  export type WitnessCalculator = { calculateWTNSBin(input: Record<string, unknown>, sanityCheck: number): Promise<Uint8Array> };
  export function WitnessCalculatorBuilder(wasm: Uint8Array): Promise<WitnessCalculator>;
}
