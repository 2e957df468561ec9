import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, openStorage } from '../core/index.js';
import { demoConfig, prepareCoordinatedJob } from '../fl/index.js';
import { loadParticipantKit, loadServerKit, provisionWithLocalKeys, serverKitPath, tlsOptionsForServer, type ParticipantKit } from '../identity/index.js';
import { PROTOCOL_VERSION, encodeMessage } from '../protocol/index.js';
import { startCoordinator } from '../server/index.js';
import { ClientAgent, hostResources } from './agent.js';

let dir: string;
let kitDir: string;
let kit: ParticipantKit;
let dataFile: string;
let port: number;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as { port: number };
      server.close(() => resolve(free));
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-agent-'));
  kitDir = join(dir, 'kits');
  port = await freePort();
  await provisionWithLocalKeys({ outDir: kitDir, participants: ['alice'], serverHost: '127.0.0.1', serverPort: port });
  kit = loadParticipantKit(join(kitDir, 'participants', 'alice', 'kit.json'));
  dataFile = join(dir, 'alice.csv');
  writeFileSync(dataFile, readFileSync('data/optdigits/optdigits.tra', 'utf8').trim().split('\n').slice(0, 300).join('\n') + '\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hostResources', () => {
  it('reports the cores this process may use, the memory in MiB and both loads as fractions', () => {
    const resources = hostResources();
    expect(resources.cpuCores).toBe(availableParallelism());
    expect(resources.memoryMb).toBe(Math.floor(totalmem() / 2 ** 20));
    for (const load of [resources.cpuLoad, resources.memoryLoad]) {
      expect(load).toBeGreaterThanOrEqual(0);
      expect(load).toBeLessThanOrEqual(1);
    }
  });
});

describe('ClientAgent', () => {
  it.each(['not-a-url', 'https://', ''])('refuses the coordinator address %j with CLIENT_URL_INVALID, naming what is expected', (serverUrl) => {
    expect(() => new ClientAgent({ kit, dataFile, serverUrl: serverUrl || 'coordinator:8443' })).toThrow(InvalidInputError);
    expect(() => new ClientAgent({ kit, dataFile, serverUrl: serverUrl || 'coordinator:8443' })).toThrow(expect.objectContaining({ code: 'CLIENT_URL_INVALID', message: expect.stringMatching(/https:\/\//) }));
  });

  it("checks a CSV without the job's label column against the job's data rules before it joins: the coordinator never registers it", async () => {
    const storage = openStorage({ path: ':memory:' });
    const prepared = await prepareCoordinatedJob({ ...demoConfig({ rounds: 1 }), selection: { fraction: 1, minClients: 1 } });
    const coordinator = await startCoordinator({ prepared, storage, kitDir, host: '127.0.0.1', port: 0, operatorPort: 0, auditFile: join(dir, 'label-audit.jsonl'), logLevel: 'silent' });
    try {
      const unlabelled = join(dir, 'unlabelled.csv');
      writeFileSync(unlabelled, readFileSync(dataFile, 'utf8').replace(/,\d+$/gm, ''));
      const agent = new ClientAgent({ kit, dataFile: unlabelled, serverUrl: coordinator.participantUrl });
      await expect(agent.run()).rejects.toMatchObject({ code: 'DATA_COLUMN_UNKNOWN', message: expect.stringMatching(/column '64' does not exist/) });
      expect(await storage.nodes.get('alice')).toBeUndefined();
    } finally {
      await coordinator.close();
      await storage.close();
    }
  }, 60_000);

  it('counts the attempts before the coordinator was up apart from reconnects', async () => {
    const agent = new ClientAgent({ kit, dataFile, backoff: { initialMs: 100, maxMs: 200 } });
    const waiting: boolean[] = [];
    agent.on('reconnecting', (r: { connectedBefore: boolean }) => waiting.push(r.connectedBefore));
    const run = agent.run();
    while (waiting.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    const storage = openStorage({ path: ':memory:' });
    const prepared = await prepareCoordinatedJob({ ...demoConfig({ rounds: 1 }), selection: { fraction: 1, minClients: 1 }, training: { epochs: 1, batchSize: 32, learningRate: 0.01 } });
    const coordinator = await startCoordinator({ prepared, storage, kitDir, host: '127.0.0.1', port, operatorPort: 0, auditFile: join(dir, 'audit.jsonl'), logLevel: 'silent' });
    try {
      const result = await run;
      expect(result.status).toBe('completed');
      expect(result.reconnects).toBe(0);
      expect(result.attemptsBeforeConnected).toBeGreaterThanOrEqual(2);
      expect(result.attemptsBeforeConnected).toBe(waiting.length);
      expect(waiting.every((connectedBefore) => !connectedBefore)).toBe(true);
    } finally {
      await coordinator.close();
      await storage.close();
    }
  }, 60_000);

  it.each([
    ['sends messages of another protocol version', 'messages'],
    ['closes the connection with 4426', 'close'],
  ] as const)('stops at once, naming both versions, when the coordinator %s', async (_what, how) => {
    // A coordinator of another release, reduced to what the agent meets first.
    const https = createHttpsServer(tlsOptionsForServer(loadServerKit(serverKitPath(kitDir))));
    const wss = new WebSocketServer({ server: https });
    const other = PROTOCOL_VERSION + 1;
    wss.on('connection', (socket) => {
      if (how === 'close') return socket.close(4426, `protocol version ${PROTOCOL_VERSION} refused: the coordinator speaks version ${other}`);
      const welcome = encodeMessage('error', { code: 'X', message: 'from a newer coordinator' });
      welcome[1] = other;
      socket.send(welcome);
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    try {
      const agent = new ClientAgent({ kit, dataFile, serverUrl: `https://127.0.0.1:${(https.address() as { port: number }).port}`, backoff: { initialMs: 100, maxMs: 200 } });
      const error = await agent.run().then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(error?.code).toBe('CLIENT_PROTOCOL_VERSION');
      expect(error?.message).toMatch(new RegExp(`version ${other}.*version ${PROTOCOL_VERSION}|version ${PROTOCOL_VERSION}.*version ${other}`));
    } finally {
      wss.close();
      https.close();
    }
  }, 30_000);
});
