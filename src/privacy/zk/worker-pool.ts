import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CipherNexusError } from '../../core/index.js';
import { ZkInputError } from './errors.js';
import type { ZkWorkerRequest, ZkWorkerResponse } from './zk-worker.js';

type Ok = Extract<ZkWorkerResponse, { ok: true }>;
type Payload = ZkWorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

// In a build the worker is zk-worker.js beside this file; under the test runner the sources are TypeScript, so the
// child loads tsx first. Child processes, not worker threads: see zk-worker.ts.
function startWorker(): ChildProcess {
  const js = fileURLToPath(new URL('./zk-worker.js', import.meta.url));
  if (existsSync(js)) return fork(js, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // tsx by its resolved address: the child resolves a bare name from its working directory, which may be any folder.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return fork(fileURLToPath(new URL('./zk-worker.ts', import.meta.url)), [], { execArgv: ['--import', tsx], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/**
 * Worker processes for snarkjs, so witness generation, proving and pairing checks never block the caller's event
 * loop; requests go to the least busy worker. Each worker loads its own curve, so the caller needs no
 * `curve.terminate()`, only `close()`.
 */
export class ZkWorkerPool {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (value: Ok) => void; reject: (error: Error) => void; worker: ChildProcess }>();
  private readonly load = new Map<ChildProcess, number>();

  private constructor(private readonly workers: ChildProcess[]) {
    for (const worker of workers) {
      this.load.set(worker, 0);
      worker.on('message', (response: ZkWorkerResponse) => this.settle(worker, response));
      worker.on('error', (error) => this.failAll(worker, error));
      worker.on('exit', (code, signal) => this.failAll(worker, new CipherNexusError('ZK_WORKER_EXITED', `a zk worker exited (${signal ?? code}); open a new pool`)));
    }
  }

  /** Starts `size` workers (default 1: proving already spreads over the machine's cores inside one worker). */
  static open(size = 1): ZkWorkerPool {
    if (!Number.isInteger(size) || size < 1) throw new ZkInputError(`zk worker pool size must be a positive integer, got ${size}`, { size });
    return new ZkWorkerPool(Array.from({ length: size }, startWorker));
  }

  /** Runs one request on the least busy worker. */
  run<P extends Payload>(payload: P): Promise<Extract<Ok, { op: P['op'] }>> {
    const worker = this.workers.reduce((best, w) => (this.load.get(w)! < this.load.get(best)! ? w : best));
    const id = this.nextId++;
    this.load.set(worker, this.load.get(worker)! + 1);
    return new Promise<Ok>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      worker.send({ ...payload, id });
    }) as Promise<Extract<Ok, { op: P['op'] }>>;
  }

  /** Stops every worker; pending requests fail. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        if (worker.exitCode !== null || worker.signalCode !== null) return;
        const exited = once(worker, 'exit');
        worker.kill();
        await exited;
      }),
    );
  }

  private settle(worker: ChildProcess, response: ZkWorkerResponse): void {
    const waiting = this.pending.get(response.id);
    if (waiting === undefined) return;
    this.pending.delete(response.id);
    this.load.set(worker, this.load.get(worker)! - 1);
    if (response.ok) waiting.resolve(response);
    else waiting.reject(new CipherNexusError('ZK_WORKER_FAILED', `snarkjs failed in a worker: ${response.message}`));
  }

  private failAll(worker: ChildProcess, error: Error): void {
    for (const [id, waiting] of this.pending) {
      if (waiting.worker !== worker) continue;
      this.pending.delete(id);
      waiting.reject(error);
    }
  }
}
