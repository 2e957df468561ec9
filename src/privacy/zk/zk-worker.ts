import { readFileSync } from 'node:fs';
import { WitnessCalculatorBuilder, type WitnessCalculator } from 'circom_runtime';
import { groth16, type Groth16Proof, type MemFile } from 'snarkjs';
import { loadVerificationKey } from './artefacts.js';
import { PreparedVerificationKey, type VerificationKeyJson } from './prepared-verification-key.js';

/** A request from `ZkWorkerPool`: prove one witness, or verify one proof. */
export type ZkWorkerRequest =
  | { id: number; op: 'prove'; input: Record<string, string | string[]>; wasm: string; zkey: string }
  | { id: number; op: 'verify'; verificationKey: string; publicSignals: string[]; proof: Groth16Proof };

/** The worker's answer; `wellFormed` is false when a proof point is not in its group. */
export type ZkWorkerResponse =
  | { id: number; ok: true; op: 'prove'; proof: Groth16Proof; publicSignals: string[] }
  | { id: number; ok: true; op: 'verify'; valid: boolean; wellFormed: boolean }
  | { id: number; ok: false; message: string };

// A child process rather than a worker thread: snarkjs's curve code loads web-worker 1.2, which takes over any
// worker thread it is imported in (it expects to be the one that started it) and fails there.
const send = process.send?.bind(process);
if (send === undefined) throw new Error('zk-worker.ts runs only as a child process started by ZkWorkerPool');
// snarkjs's own worker threads would keep this process alive after its parent is gone.
process.on('disconnect', () => process.exit(0));

// groth16.fullProve compiles the witness generator's WebAssembly and reads the proving key from disk on every call;
// a long-lived worker does both once per artefact (bench/zk.ts measures the difference).
const calculators = new Map<string, Promise<WitnessCalculator>>();
const provingKeys = new Map<string, MemFile>();
const verificationKeys = new Map<string, Promise<PreparedVerificationKey>>();

function calculatorFor(wasm: string): Promise<WitnessCalculator> {
  let calculator = calculators.get(wasm);
  if (calculator === undefined) {
    calculator = WitnessCalculatorBuilder(readFileSync(wasm));
    calculators.set(wasm, calculator);
  }
  return calculator;
}

function provingKeyFor(zkey: string): MemFile {
  let key = provingKeys.get(zkey);
  if (key === undefined) {
    key = { type: 'mem', data: readFileSync(zkey) };
    provingKeys.set(zkey, key);
  }
  return key;
}

/** The key at `path`, checked against its pin (loadVerificationKey) and prepared once. */
function verificationKeyFor(path: string): Promise<PreparedVerificationKey> {
  let key = verificationKeys.get(path);
  if (key === undefined) {
    key = PreparedVerificationKey.prepare(loadVerificationKey(path) as VerificationKeyJson);
    verificationKeys.set(path, key);
  }
  return key;
}

async function handle(request: ZkWorkerRequest): Promise<ZkWorkerResponse> {
  if (request.op === 'prove') {
    const witness = await (await calculatorFor(request.wasm)).calculateWTNSBin(request.input, 0);
    const { proof, publicSignals } = await groth16.prove(provingKeyFor(request.zkey), { type: 'mem', data: witness });
    return { id: request.id, ok: true, op: 'prove', proof, publicSignals };
  }
  const { valid, wellFormed } = (await verificationKeyFor(request.verificationKey)).verify(request.publicSignals, request.proof);
  return { id: request.id, ok: true, op: 'verify', valid, wellFormed };
}

// One request at a time: the witness calculator's WebAssembly memory is shared by every call on it, so two proofs
// interleaved at an await could mix their inputs.
let queue: Promise<unknown> = Promise.resolve();

process.on('message', (request: ZkWorkerRequest) => {
  const work = queue.then(() => handle(request));
  queue = work.catch(() => undefined);
  work.then(
    (response) => send(response),
    (error: unknown) => send({ id: request.id, ok: false, message: error instanceof Error ? error.message : String(error) }),
  );
});
