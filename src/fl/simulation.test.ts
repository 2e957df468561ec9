import { describe, expect, it } from 'vitest';
import { Rng } from '../core/index.js';
import { createDataset, initBackend, LocalModel, validateModelSpec, type Dataset } from '../ml/index.js';
import type { ClientTask } from './client-training.js';
import { createClientRunner } from './simulation.js';

// Two tiny separable clients: enough to see that training moves the weights, fast enough for a unit test.
function client(seed: number, n = 64): Dataset {
  const rng = new Rng(seed);
  const features = new Float32Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let j = 0; j < 4; j++) features[i * 4 + j] = rng.normal() + (labels[i] === 1 ? 2 : -2);
  }
  return createDataset(features, labels, [4], 2);
}

const spec = validateModelSpec({ type: 'mlp', inputShape: [4], hidden: [8], activation: 'relu', numClasses: 2 });
const clients = new Map([
  ['a', client(1)],
  ['b', client(2)],
  ['c', client(3)],
]);

async function tasks(): Promise<ClientTask[]> {
  await initBackend();
  const model = await LocalModel.create(spec, { seed: 5 });
  const globalWeights = model.getWeights();
  model.dispose();
  const plan = { epochs: 1, batchSize: 16, learningRate: 0.05, optimizer: 'sgd' as const, momentum: 0, proximalMu: 0 };
  return ['c', 'a', 'b'].map((clientId, i) => ({ clientId, round: 1, globalWeights, plan, seed: 100 + i }));
}

describe('client runners', () => {
  it('return results in task order and give the same weights in-process and in worker threads', async () => {
    const work = await tasks();
    const inProcess = await createClientRunner(spec, clients, { mode: 'in-process' });
    const workers = await createClientRunner(spec, clients, { mode: 'workers', workers: 2 });
    try {
      const a = await inProcess.run(work);
      const b = await workers.run(work);
      expect(a.map((r) => r.clientId)).toEqual(['c', 'a', 'b']);
      expect(b.map((r) => r.clientId)).toEqual(['c', 'a', 'b']);
      for (let i = 0; i < a.length; i++) {
        expect(a[i].numExamples).toBe(64);
        expect(Array.from(b[i].weights)).toEqual(Array.from(a[i].weights));
        expect(Array.from(a[i].weights)).not.toEqual(Array.from(work[i].globalWeights));
      }
    } finally {
      await inProcess.close();
      await workers.close();
    }
  });

  it('reports a client without data by name, from a worker as well', async () => {
    const [task] = await tasks();
    const ghost = { ...task, clientId: 'ghost' };
    const inProcess = await createClientRunner(spec, clients, { mode: 'in-process' });
    const workers = await createClientRunner(spec, clients, { mode: 'workers', workers: 1 });
    try {
      await expect(inProcess.run([ghost])).rejects.toThrow(/ghost/);
      await expect(workers.run([ghost])).rejects.toMatchObject({ code: 'SIMULATION_CLIENT_FAILED' });
      expect((await workers.run([task]))[0].clientId).toBe(task.clientId);
    } finally {
      await inProcess.close();
      await workers.close();
    }
  });
});
