import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { MessageVerifier, loadParticipantKit, loadServerKit, openSignedFrame, participantKitPath, provisionWithLocalKeys, serverKitPath, signerFromKit, tlsOptionsForServer, type ParticipantKit } from '../identity/index.js';
import { ClientMessages, decodeMessage } from '../protocol/index.js';
import { Uplink } from './uplink.js';

let dir: string;
let kit: ParticipantKit;
let verifier: MessageVerifier;
let https: Server;
let url: string;
const connected: ServerSocket[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-uplink-'));
  await provisionWithLocalKeys({ outDir: dir, participants: ['alice'], serverHost: '127.0.0.1', serverPort: 8443 });
  kit = loadParticipantKit(participantKitPath(dir, 'alice'));
  const serverKit = loadServerKit(serverKitPath(dir));
  verifier = MessageVerifier.forServerKit(serverKit);
  https = createHttpsServer(tlsOptionsForServer(serverKit));
  new WebSocketServer({ server: https }).on('connection', (socket) => connected.push(socket));
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  url = `wss://127.0.0.1:${(https.address() as { port: number }).port}/v1/ws`;
});
afterAll(async () => {
  await new Promise((resolve) => https.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Opens an uplink and returns it with the coordinator's end and the messages that end received, checked and decoded. */
async function open(): Promise<{ link: Uplink; received: { kind: string; cpuCores?: number }[]; peer: ServerSocket }> {
  const link = new Uplink({ url, kit, signer: signerFromKit(kit), resources: () => ({ cpuCores: 3, memoryMb: 64 }) });
  await new Promise((resolve, reject) => link.socket.once('open', resolve).once('error', reject));
  while (connected.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const peer = connected.shift() as ServerSocket;
  const received: { kind: string; cpuCores?: number }[] = [];
  peer.on('message', (raw: Buffer) => {
    const frame = openSignedFrame(new Uint8Array(raw), verifier);
    const message = decodeMessage(frame.payload, ClientMessages);
    received.push({ kind: message.kind, ...(message.kind === 'heartbeat' ? { cpuCores: message.header.resources.cpuCores } : {}) });
  });
  return { link, received, peer };
}

describe('Uplink', () => {
  it('heartbeats at the interval it is given, with the resources it is given, each frame signed and fresh', async () => {
    const { link, received } = await open();
    link.keepAlive(0.2);
    await new Promise((resolve) => setTimeout(resolve, 700));
    link.close();
    expect(received.length).toBeGreaterThanOrEqual(2);
    expect(received.every((m) => m.kind === 'heartbeat' && m.cpuCores === 3)).toBe(true);
  });

  it('skips heartbeats while a message is still being written, and sends nothing once closed', async () => {
    const { link, received, peer } = await open();
    // The coordinator's end stops reading, so a large update stays queued behind the socket's buffers for a second:
    // twenty intervals, whose beats would all follow the update if they were queued behind it.
    peer.pause();
    const body = new Uint8Array(32 * 2 ** 20);
    void link.send('update', { roundId: 'r1', round: 1, numExamples: 1, seconds: 1, encoding: 'float32', sha256: createHash('sha256').update(body).digest('hex') }, body);
    link.keepAlive(0.05);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    peer.resume();
    while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received[0].kind).toBe('update');
    expect(received.filter((m) => m.kind === 'heartbeat').length).toBeLessThan(10);
    link.close();
    await new Promise((resolve) => link.socket.once('close', resolve));
    const after = received.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received.length).toBe(after);
  });
});
