import { parentPort } from 'node:worker_threads';
import { initBackend, type Dataset, type LocalModel } from '../ml/index.js';
import { createWorkingModel, runClientTask } from './client-training.js';
import type { WorkerRequest, WorkerResponse } from './simulation.js';

// One worker thread hosts several simulated clients: their data arrives once at init, then each
// 'train' message is one client's round, answered with its new weights.
const port = parentPort;
if (!port) throw new Error('client-worker must run in a worker thread');

let model: LocalModel | undefined;
const clients = new Map<string, Dataset>();

port.on('message', (msg: WorkerRequest) => {
  void handle(msg).then(
    (response) => port.postMessage(response, response.kind === 'result' ? [response.result.weights.buffer as ArrayBuffer] : []),
    (error: unknown) => port.postMessage({ kind: 'error', id: msg.kind === 'train' ? msg.id : -1, message: (error as Error).message } satisfies WorkerResponse),
  );
});

async function handle(msg: WorkerRequest): Promise<WorkerResponse> {
  if (msg.kind === 'init') {
    await initBackend();
    model = await createWorkingModel(msg.spec);
    for (const { clientId, dataset } of msg.clients) clients.set(clientId, dataset);
    return { kind: 'ready' };
  }
  const data = clients.get(msg.task.clientId);
  if (!model || !data) throw new Error(`worker has no data for client '${msg.task.clientId}'`);
  return { kind: 'result', id: msg.id, result: await runClientTask(model, data, msg.task) };
}
