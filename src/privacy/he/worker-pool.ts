import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CipherNexusError, InvalidInputError } from '../../core/index.js';
import type { EncryptedData } from './encrypted-data.js';
import type { HeWorkerRequest, HeWorkerResponse } from './he-worker.js';
import type { EncryptOptions, NumericInput } from './homomorphic-encryption.js';
import { checkKeyBinding, type EvaluationKeys, type ParticipantKeys } from './keys.js';
import type { EncryptionParams } from './params.js';

type Pending = { resolve: (value: EncryptedData | undefined) => void; reject: (error: Error) => void };
type Payload = HeWorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

// In a build the worker is he-worker.js beside this file; under the test runner the sources are TypeScript, so a
// small bootstrap registers tsx's loader inside the worker first (as src/fl/simulation.ts does).
function startWorker(): Worker {
  const js = new URL('./he-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const ts = new URL('./he-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); });`, { eval: true });
}

class WorkerHandle {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(readonly worker: Worker) {
    worker.on('message', (response: HeWorkerResponse) => {
      const waiting = this.pending.get(response.id);
      this.pending.delete(response.id);
      if (response.ok) waiting?.resolve(response.value);
      else waiting?.reject(new CipherNexusError(response.code, response.message));
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', (code) => this.failAll(new Error(`HE worker exited with code ${code}`)));
  }

  call(payload: Payload): Promise<EncryptedData | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...payload, id });
    });
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}

/** Splits `count` items into at most `parts` contiguous ranges of nearly equal size. */
function ranges(count: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  const k = Math.min(parts, count);
  for (let i = 0; i < k; i++) out.push([Math.floor((i * count) / k), Math.floor(((i + 1) * count) / k)]);
  return out;
}

/**
 * A small pool of worker threads, each with its own SEAL module and keys, that splits one vector's ciphertexts
 * between them: encryption by slot range, summation by ciphertext position. Same results as `HomomorphicEncryption`.
 */
export class HeWorkerPool {
  private constructor(
    private readonly handles: WorkerHandle[],
    readonly params: EncryptionParams,
    private readonly tag: Pick<EncryptedData, 'paramsHash' | 'keyId'>,
  ) {}

  /** Starts `size` workers (default: the machine's parallelism, at most 4) loaded with `keys`. */
  static async create(keys: ParticipantKeys | EvaluationKeys, size = Math.min(availableParallelism(), 4)): Promise<HeWorkerPool> {
    if (!Number.isInteger(size) || size < 1) throw new InvalidInputError('HE_INPUT_INVALID', `worker pool size must be a positive integer, got ${size}`, { size });
    checkKeyBinding(keys);
    const handles = Array.from({ length: size }, () => new WorkerHandle(startWorker()));
    const pool = new HeWorkerPool(handles, keys.params, { paramsHash: keys.paramsHash, keyId: keys.keyId });
    try {
      await Promise.all(handles.map((h) => h.call({ op: 'init', keys })));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /** Values per ciphertext (N/2). */
  get slotCount(): number {
    return this.params.polyModulusDegree / 2;
  }

  /** Encrypts like `HomomorphicEncryption.encrypt`, the ciphertexts spread over the workers. */
  async encrypt(values: NumericInput, options: EncryptOptions = {}): Promise<EncryptedData> {
    const slots = this.slotCount;
    const count = Math.ceil(values.length / slots);
    const parts = await Promise.all(
      ranges(count, this.handles.length).map(([from, to], i) =>
        this.handles[i].call({ op: 'encrypt', values: Float64Array.from(values.slice(from * slots, Math.min(values.length, to * slots))), level: options.level }),
      ),
    );
    return this.join(parts, values.length);
  }

  /** Sums like `HomomorphicEncryption.sum`, each worker taking a range of ciphertext positions across all inputs. */
  async sum(list: readonly EncryptedData[]): Promise<EncryptedData> {
    if (list.length === 0) throw new InvalidInputError('HE_INPUT_INVALID', 'nothing to add: the list of encrypted vectors is empty');
    const { length } = list[0];
    const other = list.find((d) => d.length !== length || d.ciphertexts.length !== list[0].ciphertexts.length);
    if (other !== undefined) {
      throw new InvalidInputError('HE_LENGTH_MISMATCH', `encrypted vectors of ${length} and ${other.length} values cannot be combined`, { lengths: [length, other.length] });
    }
    const slots = this.slotCount;
    const count = list[0].ciphertexts.length;
    // Workers check parameters and keys against their own instance, as HomomorphicEncryption.sum does.
    const parts = await Promise.all(
      ranges(count, this.handles.length).map(([from, to], i) =>
        this.handles[i].call({
          op: 'sum',
          list: list.map((d) => ({ ...d, length: Math.max(0, Math.min(d.length, to * slots) - from * slots), ciphertexts: d.ciphertexts.slice(from, to) })),
        }),
      ),
    );
    return this.join(parts, length);
  }

  private join(parts: (EncryptedData | undefined)[], length: number): EncryptedData {
    const ciphertexts = parts.flatMap((p) => (p === undefined ? [] : p.ciphertexts));
    return { ...this.tag, length, ciphertexts };
  }

  /** Stops the workers; their copies of the secret key are zeroed first. */
  async close(): Promise<void> {
    await Promise.allSettled(this.handles.map((h) => h.call({ op: 'close' })));
    await Promise.all(this.handles.map((h) => h.worker.terminate()));
  }
}
