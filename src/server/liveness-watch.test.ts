import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { openStorage } from '../core/index.js';
import { demoConfig, prepareCoordinatedJob } from '../fl/index.js';
import { encodeSignedFrame, loadParticipantKit, provisionWithLocalKeys, signerFromKit, tlsOptionsForClient } from '../identity/index.js';
import { encodeMessage } from '../protocol/index.js';
import { startCoordinator } from './coordinator-server.js';
import { ServerEvents, type SecurityEvent } from './events.js';
import { LivenessWatch, defaultSilenceSeconds, type WatchedConnection } from './liveness-watch.js';

/** A connection whose socket records pings and terminations, and whose bytes read the test sets. */
function connection(participantId: string): WatchedConnection & { bytes: number; pings: number; terminated: boolean; paused: boolean } {
  const state = { bytes: 0, pings: 0, terminated: false, paused: false };
  const socket = {
    OPEN: 1,
    get readyState() {
      return state.terminated ? 3 : 1;
    },
    get isPaused() {
      return state.paused;
    },
    ping: () => state.pings++,
    terminate: () => {
      state.terminated = true;
    },
  } as unknown as WebSocket;
  return Object.assign(state, { participantId, socket, bytesRead: () => state.bytes });
}

function watchOf(connections: WatchedConnection[], options: { paused?: () => boolean } = {}) {
  const events = new ServerEvents();
  const security: SecurityEvent[] = [];
  events.on('security', (event: SecurityEvent) => security.push(event));
  const audited: { kind: string; actor: string; details: unknown }[] = [];
  const watch = new LivenessWatch(
    {
      silenceMs: 10_000,
      intervalMs: 1000,
      readingPaused: options.paused ?? (() => false),
      events,
      audit: { append: async (kind, actor, details) => audited.push({ kind, actor, details }) },
    },
    () => connections.filter((c) => !(c as ReturnType<typeof connection>).terminated),
  );
  return { watch, security, audited };
}

describe('LivenessWatch', () => {
  it('pings a quiet connection, closes one silent for the whole window, and leaves one whose bytes keep coming', () => {
    const silent = connection('silent');
    const talking = connection('talking');
    const { watch, security, audited } = watchOf([silent, talking]);
    for (let t = 0; t <= 11_000; t += 1000) {
      talking.bytes += 100;
      watch.look(t);
    }
    expect(talking.terminated).toBe(false);
    expect(talking.pings).toBe(0);
    expect(silent.terminated).toBe(true);
    expect(silent.pings).toBe(9);
    expect(security).toEqual([expect.objectContaining({ kind: 'participant_silent', participant: 'silent', detail: expect.stringMatching(/for 10 s, pings included: its connection is closed as gone/) })]);
    expect(audited).toEqual([{ kind: 'participant.silent', actor: 'silent', details: { seconds: 10 } }]);
  });

  it('counts an answered ping as a sign of life', () => {
    const answering = connection('answering');
    const { watch } = watchOf([answering]);
    for (let t = 0; t <= 30_000; t += 1000) {
      watch.look(t);
      answering.bytes += answering.pings > 0 ? 2 : 0;
    }
    expect(answering.terminated).toBe(false);
  });

  it('judges no one while reading is paused, while a socket is paused, or on a look that came late', () => {
    const paused = connection('paused');
    let reading = false;
    const { watch } = watchOf([paused], { paused: () => !reading });
    for (let t = 0; t <= 20_000; t += 1000) watch.look(t);
    expect(paused.terminated).toBe(false);
    reading = true;
    paused.paused = true;
    for (let t = 21_000; t <= 40_000; t += 1000) watch.look(t);
    expect(paused.terminated).toBe(false);
    paused.paused = false;
    // Looks every second until 49 s, then the event loop is held for 15 s: the late look judges no one.
    for (let t = 41_000; t <= 49_000; t += 1000) watch.look(t);
    watch.look(64_000);
    expect(paused.terminated).toBe(false);
    for (let t = 65_000; t <= 74_000; t += 1000) watch.look(t);
    expect(paused.terminated).toBe(true);
  });

  it('allows six heartbeats of silence by default, and never less than two minutes', () => {
    expect(defaultSilenceSeconds(5)).toBe(120);
    expect(defaultSilenceSeconds(30)).toBe(180);
  });
});

describe('a coordinator and a peer that falls silent', () => {
  it('closes the connection of a participant that answers nothing, takes it offline, and keeps one that answers pings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cn-liveness-'));
    const kitDir = join(dir, 'kits');
    await provisionWithLocalKeys({ outDir: kitDir, participants: ['alice', 'bob'], serverHost: '127.0.0.1', serverPort: 0 });
    const storage = openStorage({ path: ':memory:' });
    const prepared = await prepareCoordinatedJob({ ...demoConfig({ rounds: 1 }), selection: { fraction: 1, minClients: 3 } });
    const coordinator = await startCoordinator({ prepared, storage, kitDir, host: '127.0.0.1', port: 0, operatorPort: 0, auditFile: join(dir, 'audit.jsonl'), logLevel: 'silent', heartbeatSeconds: 1, silenceSeconds: 2 });
    const silent: SecurityEvent[] = [];
    coordinator.events.on('security', (event: SecurityEvent) => event.kind === 'participant_silent' && silent.push(event));
    /** Connects as `id`, says hello, waits for the welcome; the peer answers pings only when `answers`. */
    const connect = async (id: string, answers: boolean): Promise<{ closed: Promise<number> }> => {
      const kit = loadParticipantKit(join(kitDir, 'participants', id, 'kit.json'));
      const socket = new WebSocket(`${coordinator.participantUrl.replace(/^https:/, 'wss:')}/v1/ws`, { ...tlsOptionsForClient(kit), autoPong: answers });
      const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const welcomed = new Promise((resolve) => socket.once('message', resolve));
      socket.send(encodeSignedFrame(signerFromKit(kit), 'hello', encodeMessage('hello', { numExamples: 10, resources: { cpuCores: 1, memoryMb: 1024 }, agent: 'test' })));
      await welcomed;
      return { closed };
    };
    try {
      const alice = await connect('alice', false);
      const bob = await connect('bob', true);
      const started = Date.now();
      // No heartbeat from either: alice answers nothing, bob only the coordinator's pings.
      expect(await alice.closed).toBe(1006);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      expect(silent).toEqual([expect.objectContaining({ participant: 'alice' })]);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(await Promise.race([bob.closed, 'open'])).toBe('open');
      expect((await storage.nodes.get('alice'))?.status).toBe('offline');
      expect((await storage.nodes.get('bob'))?.status).toBe('online');
    } finally {
      await coordinator.close();
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
