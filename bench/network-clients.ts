// Simulated participants for the network benchmark: N agents over mutual TLS, each the participant
// runtime a client agent runs (so SecAgg+ and CKKS rounds run their real protocol and cryptography),
// whose "training" is a seeded delay that returns the global weights plus a small seeded delta. The
// figures measure the coordinator, the protection and the wire, not TF.js. Run by bench/network.ts.
import { createHash, createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Rng } from '../src/core/index.js';
import { ParticipantRuntime, type ClientResult, type ClientTask, type ParticipantOutput } from '../src/fl/index.js';
import { encodeSignedFrame, loadParticipantKit, signedFramePayloadOffset, signerFromKit, tlsOptionsForClient } from '../src/identity/index.js';
import { PARTICIPANT_FRAGMENT_BYTES, SendQueue, ServerMessages, decodeMessage, encodeMessage, type ClientHeader, type ClientKind } from '../src/protocol/index.js';

const [kitDir, countText, maxDelayText, url] = process.argv.slice(2);
const count = Number(countText);
const maxDelayMs = Number(maxDelayText);
const EXAMPLES = 100;
const delays = new Map<number, number>();
let ready = 0;
let finished = 0;

function say(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** The seeded stand-in for local training: the same delay and delta for a participant and round in every run. */
function fakeTraining(index: number, task: ClientTask): Promise<ClientResult> {
  const rng = new Rng(task.round * 100_003 + index);
  const delay = Math.floor(rng.next() * maxDelayMs);
  delays.set(task.round, Math.max(delays.get(task.round) ?? 0, delay));
  const weights = task.globalWeights.map((w) => w + (rng.next() - 0.5) * 1e-3);
  return new Promise((done) => setTimeout(() => done({ clientId: task.clientId, weights, numExamples: EXAMPLES, loss: 0.1, seconds: delay / 1000 }), delay));
}

function start(index: number): Promise<void> {
  const kit = loadParticipantKit(join(kitDir, 'participants', `p${String(index).padStart(4, '0')}`, 'kit.json'));
  const signer = signerFromKit(kit);
  return new Promise((opened, failed) => {
    const socket = new WebSocket(`${url.replace('https', 'wss')}/v1/ws`, { ...tlsOptionsForClient(kit), maxPayload: 512 * 2 ** 20 });
    const out = new SendQueue(socket, undefined, PARTICIPANT_FRAGMENT_BYTES);
    const send = <K extends ClientKind>(kind: K, header: ClientHeader<K>, body?: Uint8Array): void => void out.send(encodeSignedFrame(signer, kind, encodeMessage(kind, header, body, signedFramePayloadOffset(signer.participantId, kind))));
    const rounds = new Map<string, number>();
    let jobId = '';
    let pending: { roundId: string; header: ClientHeader<'update'>; body: Uint8Array } | null = null;
    const output = (result: ParticipantOutput): void => {
      if (result.kind === 'update') {
        const { update } = result;
        const header: ClientHeader<'update'> = {
          roundId: update.roundId,
          round: rounds.get(update.roundId) ?? 1,
          numExamples: update.numExamples,
          ...(update.loss !== undefined ? { loss: update.loss } : {}),
          seconds: update.seconds,
          encoding: update.encoding,
          sha256: createHash('sha256').update(update.body).digest('hex'),
        };
        pending = { roundId: update.roundId, header, body: update.body };
        send('offer', { roundId: update.roundId, round: header.round, bytes: update.body.byteLength });
      } else if (result.kind === 'stage') {
        const { body, ...header } = result.message;
        send('stage', header as ClientHeader<'stage'>, body);
      } else {
        say({ event: 'refused', index, code: 'TASK_FAILED', message: result.reason });
      }
    };
    const runtime = new ParticipantRuntime({ id: kit.participantId, numExamples: EXAMPLES, train: (task) => fakeTraining(index, task), identity: createPrivateKey(kit.signingPrivateKey), send: output });
    socket.on('open', () => {
      send('hello', { numExamples: EXAMPLES, resources: { cpuCores: 1, memoryMb: 1024 }, agent: 'bench' });
      opened();
    });
    socket.on('error', failed);
    socket.on('message', (raw: Buffer) => {
      const message = decodeMessage(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), ServerMessages);
      if (message.kind === 'welcome') {
        jobId = message.header.jobId;
        if (++ready === count) say({ event: 'ready' });
      } else if (message.kind === 'task') {
        const task = message.header;
        send('received', { roundId: task.roundId });
        rounds.set(task.roundId, task.round);
        const copy = new Uint8Array(message.body);
        runtime.onTask({ ...task, jobId }, new Float32Array(copy.buffer, 0, copy.byteLength / 4));
      } else if (message.kind === 'stage') {
        void runtime.onStage({ ...message.header, body: new Uint8Array(message.body) });
      } else if (message.kind === 'pull') {
        if (pending?.roundId === message.header.roundId) send('update', pending.header, pending.body);
      } else if (message.kind === 'done') {
        socket.close();
        if (++finished === count) {
          say({ event: 'done', maxDelayMs: Object.fromEntries(delays) });
          process.exit(0);
        }
      } else if (message.kind === 'error' && message.header.code === 'UPDATE_NOT_REQUESTED' && pending !== null) {
        // As the agent does: an upload slot that lapsed before the update arrived is asked for again.
        const again = pending;
        setTimeout(() => pending === again && send('offer', { roundId: again.roundId, round: again.header.round, bytes: again.body.byteLength }), 1000).unref();
      } else if (message.kind === 'error') {
        say({ event: 'refused', index, code: message.header.code, message: message.header.message });
      }
    });
  });
}

// Connect in batches so that a thousand TLS handshakes do not all land in the same instant.
for (let i = 0; i < count; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => start(i + k)));
}
say({ event: 'connected', count });
