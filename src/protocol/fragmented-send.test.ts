import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { SendQueue, sendInFragments } from './fragmented-send.js';

describe('fragmented sends', () => {
  let server: Server;
  let received: Buffer[];
  let client: WebSocket;
  let arrived: (() => void)[];

  beforeAll(async () => {
    server = createServer();
    const wss = new WebSocketServer({ server });
    received = [];
    arrived = [];
    wss.on('connection', (ws) =>
      ws.on('message', (data: Buffer) => {
        received.push(data);
        arrived.shift()?.();
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`);
    await new Promise((r) => client.once('open', r));
  });
  afterAll(async () => {
    client.close();
    await new Promise((r) => server.close(r));
  });

  const next = (): Promise<void> => new Promise((r) => arrived.push(r));

  it.each([0, 1, 16_383, 16_384, 16_385, 100_000])('delivers a %i-byte message whole, as one message', async (size) => {
    const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31 + size) & 0xff);
    const got = next();
    await sendInFragments(client, bytes, 16_384);
    await got;
    expect(Buffer.compare(received.pop() as Buffer, Buffer.from(bytes))).toBe(0);
  });

  it.each([
    [0, 0],
    [7, 0],
    [7, 16_384],
    [16_384, 20_000],
    [100, 100_000],
  ])('delivers a message given as a %i-byte head and a %i-byte body as the two joined', async (headSize, bodySize) => {
    const head = Uint8Array.from({ length: headSize }, (_, i) => (i * 7 + 1) & 0xff);
    const body = Uint8Array.from({ length: bodySize }, (_, i) => (i * 13 + 5) & 0xff);
    const got = next();
    await sendInFragments(client, [head, body], 16_384);
    await got;
    expect(Buffer.compare(received.pop() as Buffer, Buffer.concat([head, body]))).toBe(0);
  });

  it('refuses a fragment size that is not a whole positive number of bytes', async () => {
    for (const size of [0, -1, 0.5, Number.NaN]) {
      await expect(sendInFragments(client, new Uint8Array(10), size)).rejects.toMatchObject({ code: 'FRAGMENT_SIZE_INVALID' });
    }
  });

  it('a queue keeps concurrent messages whole and in order', async () => {
    const queue = new SendQueue(client);
    const messages = [new Uint8Array(50_000).fill(1), new Uint8Array(10).fill(2), new Uint8Array(40_000).fill(3)];
    received.length = 0;
    const all = Promise.all(messages.map(() => next()));
    await Promise.all(messages.map((m) => queue.send(m)));
    await all;
    expect(received.map((b) => [b.length, b[0]])).toEqual([
      [50_000, 1],
      [10, 2],
      [40_000, 3],
    ]);
  });

  it('a queue counts the messages waiting until each is written', async () => {
    const queue = new SendQueue(client);
    received.length = 0;
    const all = Promise.all([next(), next()]);
    const first = queue.send(new Uint8Array(60_000).fill(7));
    const second = queue.send(new Uint8Array(5).fill(8));
    expect(queue.pending).toBe(2);
    await first;
    expect(queue.pending).toBe(1);
    await second;
    expect(queue.pending).toBe(0);
    await all;
    expect(received.map((b) => b.length)).toEqual([60_000, 5]);
  });

  it('a queue makes a message given as a function only when the messages before it are written', async () => {
    const queue = new SendQueue(client);
    received.length = 0;
    const all = Promise.all([next(), next()]);
    let firstWritten = false;
    let madeAfterFirst: boolean | undefined;
    const first = queue.send(new Uint8Array(200_000).fill(1)).then(() => (firstWritten = true));
    const second = queue.send(() => {
      madeAfterFirst = firstWritten;
      return new Uint8Array(4).fill(2);
    });
    expect(madeAfterFirst).toBeUndefined();
    await Promise.all([first, second]);
    await all;
    expect(madeAfterFirst).toBe(true);
    expect(received.map((b) => [b.length, b[0]])).toEqual([
      [200_000, 1],
      [4, 2],
    ]);
  });

  it("a queue's observer sees each message whole, parts joined, exactly as the peer receives it", async () => {
    const seen: Buffer[] = [];
    const queue = new SendQueue(client, (m) => seen.push(Buffer.from(m)));
    const head = new Uint8Array(20).fill(4);
    const body = new Uint8Array(30_000).fill(5);
    received.length = 0;
    const all = Promise.all([next(), next()]);
    await Promise.all([queue.send([head, body]), queue.send(new Uint8Array(3).fill(6))]);
    await all;
    expect(seen).toEqual(received);
    expect(seen.map((b) => b.length)).toEqual([30_020, 3]);
  });
});
