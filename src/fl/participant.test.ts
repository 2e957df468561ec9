import { describe, expect, it } from 'vitest';
import type { ClientResult, ClientTask } from './client-training.js';
import { ParticipantRuntime, type ParticipantOutput } from './participant.js';
import type { RemoteTask } from './participant-channel.js';
import { generateCurveKeyPair } from '../core/index.js';

const plainTask = (roundId: string, round: number): RemoteTask =>
  ({
    jobId: 'job',
    roundId,
    round,
    modelVersion: round,
    sha256: '',
    plan: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
    seed: round,
    deadline: Date.now() + 60_000,
    releaseLoss: true,
    protection: { kind: 'none' },
  }) as RemoteTask;

/** A runtime whose training adds the round number to each weight once `finish(round)` is called. */
function runtime(): { runtime: ParticipantRuntime; outputs: ParticipantOutput[]; finish: (round: number) => Promise<void> } {
  const outputs: ParticipantOutput[] = [];
  const pending = new Map<number, () => void>();
  const train = (task: ClientTask): Promise<ClientResult> =>
    new Promise((done) => pending.set(task.round, () => done({ clientId: task.clientId, weights: task.globalWeights.map((w) => w + task.round), numExamples: 10, loss: 0.5, seconds: 0.01 })));
  const finish = async (round: number): Promise<void> => {
    pending.get(round)?.();
    await new Promise((done) => setImmediate(done));
  };
  return { runtime: new ParticipantRuntime({ id: 'alice', numExamples: 10, train, identity: generateCurveKeyPair('ed25519').privateKey, send: (o) => outputs.push(o) }), outputs, finish };
}

describe('ParticipantRuntime in plain rounds', () => {
  it('sends the trained weights as the update, bytes as trained, with the loss the task asks for', async () => {
    const { runtime: r, outputs, finish } = runtime();
    r.onTask(plainTask('r1', 1), Float32Array.from([1, 2, 3]));
    expect(r.roundId).toBe('r1');
    await finish(1);
    expect(outputs).toHaveLength(1);
    const output = outputs[0];
    if (output.kind !== 'update') throw new Error(`expected an update, got ${output.kind}`);
    expect(output.update).toMatchObject({ roundId: 'r1', numExamples: 10, encoding: 'float32', loss: 0.5 });
    expect([...new Float32Array(output.update.body.buffer, output.update.body.byteOffset, output.update.body.byteLength / 4)]).toEqual([2, 3, 4]);
  });

  it('answers no protocol stage in a plain round, and drops the update of a round a newer task replaced', async () => {
    const { runtime: r, outputs, finish } = runtime();
    r.onTask(plainTask('r1', 1), Float32Array.from([0, 0]));
    await r.onStage({ roundId: 'r1', protocol: 'secagg', stage: 'shareKeys', body: new Uint8Array(8) });
    r.onTask(plainTask('r2', 2), Float32Array.from([0, 0]));
    await finish(1);
    expect(outputs).toEqual([]);
    await finish(2);
    expect(outputs.map((o) => (o.kind === 'update' ? o.update.roundId : o.kind))).toEqual(['r2']);
  });
});
