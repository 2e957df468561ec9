// Simulated participants for the network benchmark: N agents over mutual TLS that answer each task,
// after a seeded "training" delay, with a signed update of the model's size. They do not train, so
// the figures measure the coordinator and the wire, not TF.js. Run by bench/network.ts as a child.
import { join } from 'node:path';
import WebSocket from 'ws';
import { Rng } from '../src/core/index.js';
import { encodeSignedFrame, loadParticipantKit, signerFromKit, tlsOptionsForClient } from '../src/identity/index.js';
import { SendQueue, ServerMessages, decodeMessage, encodeMessage } from '../src/protocol/index.js';

const [kitDir, countText, maxDelayText, url] = process.argv.slice(2);
const count = Number(countText);
const maxDelayMs = Number(maxDelayText);
const delays = new Map<number, number>();
let ready = 0;
let finished = 0;

function say(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function start(index: number): Promise<void> {
  const kit = loadParticipantKit(join(kitDir, 'participants', `p${String(index).padStart(4, '0')}`, 'kit.json'));
  const signer = signerFromKit(kit);
  return new Promise((opened, failed) => {
    const socket = new WebSocket(`${url.replace('https', 'wss')}/v1/ws`, { ...tlsOptionsForClient(kit), maxPayload: 64 * 2 ** 20 });
    let pending: { roundId: string; header: unknown; body: Uint8Array } | null = null;
    const out = new SendQueue(socket);
    const send = (kind: 'hello' | 'received' | 'offer' | 'update', header: unknown, body?: Uint8Array): void => void out.send(encodeSignedFrame(signer, kind, encodeMessage(kind, header, body)));
    socket.on('open', () => {
      send('hello', { numExamples: 100, resources: { cpuCores: 1, memoryMb: 1024 }, agent: 'bench' });
      opened();
    });
    socket.on('error', failed);
    socket.on('message', (raw: Buffer) => {
      const message = decodeMessage(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), ServerMessages);
      if (message.kind === 'welcome') {
        if (++ready === count) say({ event: 'ready' });
      } else if (message.kind === 'task') {
        const task = message.header;
        send('received', { roundId: task.roundId });
        // The same seeded delay for a participant and round in every run, so 100 and 1000 clients face alike.
        const delay = Math.floor(new Rng(task.round * 100_003 + index).next() * maxDelayMs);
        delays.set(task.round, Math.max(delays.get(task.round) ?? 0, delay));
        const body = new Uint8Array(message.body);
        setTimeout(() => {
          pending = { roundId: task.roundId, header: { roundId: task.roundId, round: task.round, numExamples: 100, loss: 0.1, seconds: delay / 1000, sha256: task.sha256 }, body };
          send('offer', { roundId: task.roundId, round: task.round, bytes: body.byteLength });
        }, delay);
      } else if (message.kind === 'pull') {
        if (pending?.roundId === message.header.roundId) send('update', pending.header, pending.body);
      } else if (message.kind === 'done') {
        socket.close();
        if (++finished === count) {
          say({ event: 'done', maxDelayMs: Object.fromEntries(delays) });
          process.exit(0);
        }
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
