// Simulated participants for the network benchmark: N agents over mutual TLS, each the participant
// runtime a client agent runs (so SecAgg+ and CKKS rounds run their real protocol and cryptography),
// whose "training" is a seeded delay that returns the global weights plus a small seeded delta. The
// figures measure the coordinator, the protection and the wire, not TF.js. Run by bench/network.ts.
import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Rng, growHeapForBufferTraffic } from '../src/core/index.js';
import { ParticipantRuntime, type ClientResult, type ClientTask, type ParticipantOutput } from '../src/fl/index.js';
import { deferredParticipantFrame, hostResources } from '../src/client/index.js';
import { loadParticipantKit, signerFromKit, tlsOptionsForClient, type MessageSigner } from '../src/identity/index.js';
import { PARTICIPANT_FRAGMENT_BYTES, SendQueue, ServerMessages, decodeMessage, type ClientHeader, type ClientKind } from '../src/protocol/index.js';

// The heap rule `serve` sets, for the same reason: many participants' tasks and updates pass through as buffers outside
// a heap of code. Measured at 1,000 on 2026-12-06: 6.0 s of CPU a round against 6.8-7.4.
growHeapForBufferTraffic();
const [kitDir, countText, maxDelayText, url, heartbeatsText = 'heartbeats'] = process.argv.slice(2);
// `no-heartbeats` leaves them out (a look at a run without that load); the interval is the coordinator's, from its welcome.
const heartbeats = heartbeatsText === 'heartbeats';
const count = Number(countText);
const maxDelayMs = Number(maxDelayText);
const EXAMPLES = 100;
const delays = new Map<number, number>();
let ready = 0;
let finished = 0;

function say(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

let noise: Float32Array | undefined;

/** One seeded noise vector per process: each participant's delta is a window of it, rotated and scaled per participant and round. */
function noiseOf(length: number): Float32Array {
  if (noise?.length !== length) {
    const rng = new Rng(7);
    noise = Float32Array.from({ length }, () => rng.next() - 0.5);
  }
  return noise;
}

/**
 * The seeded stand-in for local training: the same delay and delta for a participant and round in every run, at one
 * pass over the weights (drawing 100k numbers per participant and round cost a third of the simulator's CPU). The
 * weights are made at once, so the task's copy of the global model is not held through the delay.
 */
function fakeTraining(index: number, task: ClientTask): Promise<ClientResult> {
  const rng = new Rng(task.round * 100_003 + index);
  const delay = Math.floor(rng.next() * maxDelayMs);
  delays.set(task.round, Math.max(delays.get(task.round) ?? 0, delay));
  const global = task.globalWeights;
  const n = global.length;
  const delta = noiseOf(n);
  const shift = Math.floor(rng.next() * n);
  const scale = 1e-3 * (0.5 + rng.next());
  const weights = new Float32Array(n);
  for (let i = 0; i < n - shift; i++) weights[i] = global[i] + scale * delta[i + shift];
  for (let i = n - shift; i < n; i++) weights[i] = global[i] + scale * delta[i + shift - n];
  return new Promise((done) => setTimeout(() => done({ clientId: task.clientId, weights, numExamples: EXAMPLES, loss: 0.1, seconds: delay / 1000 }), delay));
}

/** The task's weights where they arrived when they are 4-byte aligned (the coordinator aligns them), else a copy. */
function weightsOf(body: Uint8Array): Float32Array {
  const aligned = body.byteOffset % 4 === 0 ? body : new Uint8Array(body);
  return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
}

function start(index: number): Promise<void> {
  // Only what the connection needs is kept: a kit carries the whole roster (one key per participant of the group).
  const kit = loadParticipantKit(join(kitDir, 'participants', `p${String(index).padStart(4, '0')}`, 'kit.json'));
  const signer = signerFromKit(kit);
  const tls = tlsOptionsForClient(kit);
  return connect(index, signer, tls);
}

function connect(index: number, signer: MessageSigner, tls: ConnectionOptions): Promise<void> {
  return new Promise((opened, failed) => {
    // A zero masking key (RFC 6455 §5.3) lets ws send the update where it lies instead of copying it masked: a thousand
    // simulated participants share this machine's cores with the coordinator they measure. A real agent masks.
    const socket = new WebSocket(`${url.replace('https', 'wss')}/v1/ws`, { ...tls, maxPayload: 512 * 2 ** 20, generateMask: (mask) => void mask.fill(0) });
    const out = new SendQueue(socket, undefined, PARTICIPANT_FRAGMENT_BYTES);
    const send = <K extends ClientKind>(kind: K, header: ClientHeader<K>, body?: Uint8Array): void => void out.send(deferredParticipantFrame(signer, kind, header, body));
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
    const runtime = new ParticipantRuntime({ id: signer.participantId, numExamples: EXAMPLES, train: (task) => fakeTraining(index, task), identity: signer.signingKey, send: output });
    socket.on('open', () => {
      send('hello', { numExamples: EXAMPLES, resources: { cpuCores: 1, memoryMb: 1024 }, agent: 'bench' });
      opened();
    });
    socket.on('error', failed);
    socket.on('message', (raw: Buffer) => {
      const message = decodeMessage(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), ServerMessages);
      if (message.kind === 'welcome') {
        jobId = message.header.jobId;
        // As the agent does: a heartbeat with the host's load at the interval the coordinator asks for (5 s by
        // default), skipped while other messages wait to be written, so the coordinator pays for a thousand
        // nodes' liveness as it would in a deployment.
        if (heartbeats) setInterval(() => out.pending === 0 && send('heartbeat', { resources: hostResources() }), message.header.heartbeatSeconds * 1000).unref();
        if (++ready === count) say({ event: 'ready' });
      } else if (message.kind === 'task') {
        const task = message.header;
        send('received', { roundId: task.roundId });
        rounds.set(task.roundId, task.round);
        runtime.onTask({ ...task, jobId }, weightsOf(message.body));
      } else if (message.kind === 'stage') {
        void runtime.onStage({ ...message.header, body: message.body });
      } else if (message.kind === 'pull') {
        if (pending?.roundId === message.header.roundId) send('update', pending.header, pending.body);
      } else if (message.kind === 'ack') {
        // As the agent does: an acknowledged update is let go (a thousand of them are 400 MB).
        if (pending?.roundId === message.header.roundId) pending = null;
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
