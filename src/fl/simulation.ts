import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CipherNexusError, InvalidInputError } from '../core/errors.js';
import type { Dataset, LocalModel, ModelSpec } from '../ml/index.js';
import { createWorkingModel, runClientTask, type ClientResult, type ClientTask } from './client-training.js';

/** Runs simulated clients' local training; the coordinator hands it tasks and gets updates back. */
export interface ClientRunner {
  readonly mode: 'in-process' | 'workers';
  /** Runs the tasks and returns their results in task order. */
  run(tasks: readonly ClientTask[]): Promise<ClientResult[]>;
  /** Runs one task when a trainer is free (tasks queue in the order they are given). */
  train(task: ClientTask): Promise<ClientResult>;
  close(): Promise<void>;
}

/** A simulated client training failed inside its worker. */
export class SimulationError extends CipherNexusError {}

/** Serialisable form of a client's data for a worker thread. */
export interface ClientDataMessage {
  clientId: string;
  dataset: Dataset;
}

/** Messages a worker understands. */
export type WorkerRequest =
  | { kind: 'init'; spec: ModelSpec; clients: ClientDataMessage[] }
  | { kind: 'train'; id: number; task: ClientTask };

/** Messages a worker sends back. */
export type WorkerResponse =
  | { kind: 'ready' }
  | { kind: 'result'; id: number; result: ClientResult }
  | { kind: 'error'; id: number; message: string };

/** Creates a runner: every client in this thread, or spread over worker threads. */
export async function createClientRunner(
  spec: ModelSpec,
  clients: ReadonlyMap<string, Dataset>,
  options: { mode: 'in-process' | 'workers'; workers?: number },
): Promise<ClientRunner> {
  if (options.mode === 'in-process') return InProcessRunner.create(spec, clients);
  const workers = Math.max(1, Math.min(options.workers ?? availableParallelism(), clients.size));
  return WorkerRunner.create(spec, clients, workers);
}

class InProcessRunner implements ClientRunner {
  readonly mode = 'in-process' as const;
  // One model object is shared by every task: they run one after another.
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly model: LocalModel,
    private readonly clients: ReadonlyMap<string, Dataset>,
  ) {}

  static async create(spec: ModelSpec, clients: ReadonlyMap<string, Dataset>): Promise<InProcessRunner> {
    return new InProcessRunner(await createWorkingModel(spec), clients);
  }

  async run(tasks: readonly ClientTask[]): Promise<ClientResult[]> {
    return Promise.all(tasks.map((task) => this.train(task)));
  }

  train(task: ClientTask): Promise<ClientResult> {
    const result = this.queue.then(() => runClientTask(this.model, dataOf(this.clients, task.clientId), task));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.queue;
    this.model.dispose();
  }
}

// In a build the worker is client-worker.js beside this file. Under the test runner the sources are
// TypeScript, so a small bootstrap registers tsx's loader inside the worker before importing it.
function startWorker(): Worker {
  const js = new URL('./client-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const ts = new URL('./client-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); });`, { eval: true });
}

interface QueuedTask {
  task: ClientTask;
  resolve(result: ClientResult): void;
  reject(error: unknown): void;
}

class WorkerRunner implements ClientRunner {
  readonly mode = 'workers' as const;
  private nextId = 0;
  private readonly idle: Worker[];
  private readonly waiting: QueuedTask[] = [];

  private constructor(private readonly workers: Worker[]) {
    this.idle = [...workers].reverse();
  }

  static async create(spec: ModelSpec, clients: ReadonlyMap<string, Dataset>, count: number): Promise<WorkerRunner> {
    const data: ClientDataMessage[] = [...clients].map(([clientId, dataset]) => ({ clientId, dataset }));
    const workers = Array.from({ length: count }, startWorker);
    try {
      await Promise.all(
        workers.map(
          (worker) =>
            new Promise<void>((resolve, reject) => {
              const onMessage = (msg: WorkerResponse): void => {
                if (msg.kind === 'ready') {
                  worker.off('error', reject);
                  resolve();
                } else if (msg.kind === 'error') {
                  reject(new SimulationError('SIMULATION_WORKER_FAILED', `a client worker failed to start: ${msg.message}`));
                }
              };
              worker.once('message', onMessage);
              worker.once('error', reject);
              worker.postMessage({ kind: 'init', spec, clients: data } satisfies WorkerRequest);
            }),
        ),
      );
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    return new WorkerRunner(workers);
  }

  async run(tasks: readonly ClientTask[]): Promise<ClientResult[]> {
    return Promise.all(tasks.map((task) => this.train(task)));
  }

  /** Each free worker takes the next queued task, so a slow client does not hold up a fixed share. */
  train(task: ClientTask): Promise<ClientResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ task, resolve, reject });
      this.drain();
    });
  }

  private drain(): void {
    while (this.idle.length > 0 && this.waiting.length > 0) {
      const worker = this.idle.pop() as Worker;
      const { task, resolve, reject } = this.waiting.shift() as QueuedTask;
      this.dispatch(worker, task)
        .then(resolve, reject)
        .finally(() => {
          this.idle.push(worker);
          this.drain();
        });
    }
  }

  private dispatch(worker: Worker, task: ClientTask): Promise<ClientResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onMessage = (msg: WorkerResponse): void => {
        if (msg.kind === 'ready' || msg.id !== id) return;
        cleanup();
        if (msg.kind === 'result') resolve(msg.result);
        else reject(new SimulationError('SIMULATION_CLIENT_FAILED', `client '${task.clientId}' failed in round ${task.round}: ${msg.message}`));
      };
      const onError = (error: Error): void => {
        cleanup();
        reject(new SimulationError('SIMULATION_WORKER_FAILED', `client worker crashed while training '${task.clientId}': ${error.message}`));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ kind: 'train', id, task } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function dataOf(clients: ReadonlyMap<string, Dataset>, clientId: string): Dataset {
  const data = clients.get(clientId);
  if (!data) throw new InvalidInputError('SIMULATION_CLIENT_UNKNOWN', `no data is loaded for client '${clientId}'`);
  return data;
}
