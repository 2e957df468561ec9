import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, request, type Server } from 'node:https';
import { connect as connectTcp, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadParticipantKit,
  loadServerKit,
  participantKitPath,
  participantOfCertificate,
  provisionWithLocalKeys,
  serverKitPath,
  tlsOptionsForClient,
  tlsOptionsForServer,
  type ParticipantKit,
} from '../identity/index.js';
import { createMutualTlsServer } from './tls-server.js';

let dir: string;
let alice: ParticipantKit;
let stranger: ParticipantKit;
let server: Server;
let port: number;
let handled = 0;
const refusals: { message: string; address?: string }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-tls-server-'));
  await provisionWithLocalKeys({ outDir: join(dir, 'job'), participants: ['alice'], serverHost: '127.0.0.1', serverPort: 8443, validDays: 1 });
  await provisionWithLocalKeys({ outDir: join(dir, 'other'), participants: ['alice'], serverHost: '127.0.0.1', serverPort: 8443, validDays: 1 });
  const kit = loadServerKit(serverKitPath(join(dir, 'job')));
  alice = loadParticipantKit(participantKitPath(join(dir, 'job'), 'alice'));
  stranger = loadParticipantKit(participantKitPath(join(dir, 'other'), 'alice'));
  server = createMutualTlsServer(tlsOptionsForServer(kit), (req, res) => {
    handled += 1;
    const id = participantOfCertificate((req.socket as TLSSocket).getPeerCertificate(), kit);
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    // Echo a body as large as the one received, so both directions carry megabytes.
    req.on('end', () => res.end(JSON.stringify({ id, address: req.socket.remoteAddress, port: req.socket.remotePort, bytes, sha256: hash.digest('hex'), back: randomBytes(bytes).toString('base64') })));
  });
  server.on('tlsClientError', (error: Error, socket: TLSSocket) => refusals.push({ message: error.message, address: socket.remoteAddress }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function post(options: object, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('mutual-TLS server fed through a stream', () => {
  it('serves a participant of the job, knows its address, and carries megabytes both ways intact', async () => {
    const body = randomBytes(3 * 2 ** 20);
    const reply = await post(tlsOptionsForClient(alice), body);
    const answer = JSON.parse(reply.body) as { id: string; address: string; port: number; bytes: number; sha256: string; back: string };
    expect(reply.status).toBe(200);
    expect(answer.id).toBe('alice');
    // The peer's address reaches the request although TLS reads from a stream.
    expect(answer.address).toBe('127.0.0.1');
    expect(answer.port).toBeGreaterThan(0);
    expect(answer.bytes).toBe(body.length);
    expect(answer.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(Buffer.from(answer.back, 'base64').length).toBe(body.length);
  });

  it('refuses, before any request is handled, a certificate from another CA and a client with none', async () => {
    const before = handled;
    const refusedBefore = refusals.length;
    await expect(post(tlsOptionsForClient(stranger), Buffer.from('x'))).rejects.toThrow();
    const { cert: _cert, key: _key, ...withoutCertificate } = tlsOptionsForClient(alice);
    await expect(post(withoutCertificate, Buffer.from('x'))).rejects.toThrow();
    expect(handled).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(refusals.length).toBeGreaterThanOrEqual(refusedBefore + 1);
    // A refused handshake names its peer, although TLS reads from a stream.
    expect(refusals.slice(refusedBefore).map((r) => r.address)).toContain('127.0.0.1');
  });

  it('stays up when connections are reset before, during and after the handshake', async () => {
    const reset = (socket: { resetAndDestroy(): unknown }): void => void socket.resetAndDestroy();
    const settle = (socket: NodeJS.EventEmitter): Promise<void> => new Promise((resolve) => socket.once('close', () => resolve()));
    const raw = connectTcp(port, '127.0.0.1', () => reset(raw));
    raw.on('error', () => undefined);
    await settle(raw);
    const half = connectTcp(port, '127.0.0.1', () => half.write(randomBytes(300), () => reset(half)));
    half.on('error', () => undefined);
    await settle(half);
    // After the handshake: the TCP connection under a TLS session that is sending is reset.
    const tcp = connectTcp(port, '127.0.0.1');
    tcp.on('error', () => undefined);
    const done = connectTls({ socket: tcp, ...tlsOptionsForClient(alice) }, () => done.write(randomBytes(100_000), () => reset(tcp)));
    done.on('error', () => undefined);
    await settle(tcp);
    const reply = await post(tlsOptionsForClient(alice), Buffer.from('still here'));
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ id: 'alice', bytes: 10 });
  });

  it('closes at once every connection, also those mid-handshake or that never sent a request', async () => {
    const kit = loadServerKit(serverKitPath(join(dir, 'job')));
    const subject = createMutualTlsServer(tlsOptionsForServer(kit), (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => subject.listen(0, '127.0.0.1', resolve));
    const at = (subject.address() as AddressInfo).port;
    const open: NodeJS.EventEmitter[] = [];
    for (let i = 0; i < 20; i++) {
      const raw = connectTcp(at, '127.0.0.1');
      raw.on('error', () => undefined);
      open.push(raw);
    }
    await Promise.all(
      Array.from({ length: 20 }, () => {
        const tls = connectTls({ host: '127.0.0.1', port: at, ...tlsOptionsForClient(alice) });
        tls.on('error', () => undefined);
        open.push(tls);
        return new Promise((resolve) => tls.once('secureConnect', resolve));
      }),
    );
    const closed = Promise.all(open.map((socket) => new Promise((resolve) => socket.once('close', resolve))));
    const started = Date.now();
    const stopped = new Promise((resolve) => subject.close(resolve));
    subject.closeAllConnections();
    await Promise.all([stopped, closed]);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('answers a client that half-closes after its request exactly as node:https does', async () => {
    const kit = loadServerKit(serverKitPath(join(dir, 'job')));
    const respond = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end('late answer'), 50));
    };
    const exchange = async (make: typeof createMutualTlsServer): Promise<string> => {
      const subject = make(tlsOptionsForServer(kit), respond);
      await new Promise<void>((resolve) => subject.listen(0, '127.0.0.1', resolve));
      const at = (subject.address() as AddressInfo).port;
      const socket = connectTls({ host: '127.0.0.1', port: at, ...tlsOptionsForClient(alice) }, () => {
        socket.end('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
      });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('close', resolve));
      await new Promise((resolve) => subject.close(resolve));
      const text = Buffer.concat(chunks).toString();
      return `${text.split('\r\n')[0]} | ${text.includes('late answer')}`;
    };
    const native = await exchange((options, handler) => createHttpsServer(options, handler));
    expect(await exchange(createMutualTlsServer)).toBe(native);
  });
});
