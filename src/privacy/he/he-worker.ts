import { parentPort } from 'node:worker_threads';
import { CipherNexusError } from '../../core/index.js';
import type { EncryptedData } from './encrypted-data.js';
import { HomomorphicEncryption } from './homomorphic-encryption.js';
import type { EvaluationKeys, ParticipantKeys } from './keys.js';

/** A request from `HeWorkerPool`. */
export type HeWorkerRequest =
  | { id: number; op: 'init'; keys: ParticipantKeys | EvaluationKeys }
  | { id: number; op: 'encrypt'; values: Float64Array; level?: number }
  | { id: number; op: 'sum'; list: EncryptedData[] }
  | { id: number; op: 'close' };

/** The worker's answer: a value, or a Cipher Nexus error's code and message. */
export type HeWorkerResponse = { id: number; ok: true; value?: EncryptedData } | { id: number; ok: false; code: string; message: string };

const port = parentPort;
if (port === null) throw new Error('he-worker.ts runs only as a worker thread');
// Each worker loads its own SEAL module and context: wasm instances are not shared between threads.
let he: HomomorphicEncryption | undefined;

async function handle(request: HeWorkerRequest): Promise<EncryptedData | undefined> {
  if (request.op === 'init') {
    he = await HomomorphicEncryption.create(request.keys);
    // The instance keeps its own copy; the one that crossed the thread boundary is not needed any more.
    if (request.keys.kind === 'participant') request.keys.secretKey.fill(0);
    return undefined;
  }
  if (request.op === 'close') {
    he?.dispose();
    he = undefined;
    return undefined;
  }
  if (he === undefined) throw new Error('worker used before init');
  if (request.op === 'encrypt') {
    const value = await he.encrypt(request.values, { level: request.level });
    request.values.fill(0);
    return value;
  }
  return he.sum(request.list);
}

port.on('message', (request: HeWorkerRequest) => {
  handle(request).then(
    (value) => port.postMessage({ id: request.id, ok: true, value } satisfies HeWorkerResponse, value ? value.ciphertexts.map((c) => c.buffer as ArrayBuffer) : []),
    (error: unknown) =>
      port.postMessage({
        id: request.id,
        ok: false,
        code: error instanceof CipherNexusError ? error.code : 'HE_WORKER_FAILED',
        message: error instanceof Error ? error.message : String(error),
      } satisfies HeWorkerResponse),
  );
});
