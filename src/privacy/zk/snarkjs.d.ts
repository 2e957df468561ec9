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
  export const curves: { getCurveFromName(name: string): Promise<{ terminate(): Promise<void> }> };
}

declare module 'circom_runtime' {
  export type WitnessCalculator = { calculateWTNSBin(input: Record<string, unknown>, sanityCheck: number): Promise<Uint8Array> };
  export function WitnessCalculatorBuilder(wasm: Uint8Array): Promise<WitnessCalculator>;
}
