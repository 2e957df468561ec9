// The part of snarkjs 0.7 this folder calls; snarkjs ships no types.
declare module 'snarkjs' {
  export type Groth16Proof = { pi_a: string[]; pi_b: string[][]; pi_c: string[]; protocol: string; curve: string };
  export type SnarkjsLogger = { debug(message: string): void; info(message: string): void; warn(message: string): void; error(message: string): void };
  export const groth16: {
    fullProve(input: Record<string, string | string[]>, wasmFile: string, zkeyFile: string): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(verificationKey: object, publicSignals: string[], proof: Groth16Proof, logger?: SnarkjsLogger): Promise<boolean>;
  };
}
