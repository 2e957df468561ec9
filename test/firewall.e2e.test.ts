import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareCoordinatedJob } from '../src/fl/index.js';
import { loadParticipantKit, provisionWithLocalKeys, tlsOptionsForClient, type ParticipantKit } from '../src/identity/index.js';
import { Firewall, startCoordinator, type RunningCoordinator } from '../src/server/index.js';
import { freePort } from './support/free-port.js';
import { runCli } from './support/network.js';

/** The value of one sample of a Prometheus exposition, 0 when absent. */
const sample = (metrics: string, series: string): number => Number(metrics.split('\n').find((line) => line.startsWith(`${series} `))?.split(' ')[1] ?? 0);

describe("a job's firewall on the participants' listener", () => {
  let dir: string;
  let kitDir: string;
  let rulesFile: string;
  let storage: Storage;
  let coordinator: RunningCoordinator;
  let alice: ParticipantKit;
  let admin: string;
  let viewer: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-firewall-'));
    kitDir = join(dir, 'kits');
    const provisioned = await provisionWithLocalKeys({ outDir: kitDir, participants: ['alice'], serverHost: '127.0.0.1', serverPort: 0, operators: [{ name: 'ops', role: 'admin' }, { name: 'eve', role: 'viewer' }] });
    admin = provisioned.operatorTokens.get('ops')?.token ?? '';
    viewer = provisioned.operatorTokens.get('eve')?.token ?? '';
    alice = loadParticipantKit(join(kitDir, 'participants', 'alice', 'kit.json'));
    rulesFile = join(dir, 'firewall.json');
    // The test's own address is the one denied.
    writeFileSync(rulesFile, JSON.stringify({ allow: ['10.0.0.0/8'], deny: [] }));
    storage = openStorage({ path: join(dir, 'state.db') });
    const prepared = await prepareCoordinatedJob({ ...demoConfig({ rounds: 1 }), selection: { fraction: 1, minClients: 2 } });
    coordinator = await startCoordinator({ prepared, storage, kitDir, host: '127.0.0.1', port: 0, operatorPort: 0, auditFile: join(dir, 'audit.jsonl'), logLevel: 'silent', firewall: Firewall.fromFile(rulesFile) });
  });

  afterAll(async () => {
    await coordinator?.close();
    await storage?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a participant's WebSocket; resolves with the socket, or rejects with the reason it could not open. */
  const connect = (): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const socket = new WebSocket(`${coordinator.participantUrl.replace('https', 'wss')}/v1/ws`, { ...tlsOptionsForClient(alice) });
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });

  const api = (method: string, path: string, token: string, body?: unknown): Promise<Response> =>
    fetch(`${coordinator.operatorUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

  const metrics = async (): Promise<string> => (await fetch(`${coordinator.operatorUrl}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text();

  it('cuts a peer off the allow-list before the TLS handshake, counted and raised as a security event', async () => {
    const before = sample(await metrics(), 'cipher_nexus_firewall_denied_total{list="allow"}');
    await expect(connect()).rejects.toThrow(/ECONNRESET|socket hang up|disconnected before secure TLS connection/);
    expect(sample(await metrics(), 'cipher_nexus_firewall_denied_total{list="allow"}')).toBe(before + 1);
    const events = coordinator.events.recentSecurityEvents(20);
    expect(events.some((event) => event.kind === 'firewall_denied' && event.detail.includes('not on the allow-list'))).toBe(true);
    // No handshake happened, so no handshake failure was counted.
    expect(sample(await metrics(), 'cipher_nexus_auth_failures_total{code="TLS_HANDSHAKE"}')).toBe(0);
  });

  it('takes new rules from an admin through the API, and refuses a viewer and invalid rules with the rules unchanged', async () => {
    expect(await (await api('GET', '/api/firewall', viewer)).json()).toEqual({ allow: ['10.0.0.0/8'], deny: [] });
    expect((await api('PUT', '/api/firewall', viewer, { allow: [], deny: [] })).status).toBe(403);
    const invalid = await api('PUT', '/api/firewall', admin, { allow: ['127.0.0.1/40'] });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { message: string } }).error.message).toContain("firewall rules field 'allow[0]'");
    expect(await (await api('GET', '/api/firewall', viewer)).json()).toEqual({ allow: ['10.0.0.0/8'], deny: [] });

    const opened = await api('PUT', '/api/firewall', admin, { allow: ['127.0.0.0/8'], deny: [] });
    expect(opened.status).toBe(200);
    const socket = await connect();
    expect(socket.readyState).toBe(WebSocket.OPEN);

    // Denying the address now closes the connection already open.
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    expect((await api('PUT', '/api/firewall', admin, { allow: [], deny: ['127.0.0.1'] })).status).toBe(200);
    expect(await closed).toBe(4403);
    await expect(connect()).rejects.toThrow();
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"kind":"operator.firewall"');
    expect(audit).toContain('"kind":"security.firewall_denied"');
  });

  it('re-reads its file on reload, and keeps its rules when the file is bad', async () => {
    writeFileSync(rulesFile, '{"deny": ["not an address"]}');
    expect(() => coordinator.reloadFirewall()).toThrow("'not an address' is neither");
    expect(await (await api('GET', '/api/firewall', viewer)).json()).toEqual({ allow: [], deny: ['127.0.0.1'] });
    writeFileSync(rulesFile, JSON.stringify({ allow: ['127.0.0.1'] }));
    expect(coordinator.reloadFirewall()).toEqual({ allow: ['127.0.0.1'], deny: [] });
    const socket = await connect();
    socket.close();
  });

  it('serve: a bad rules file stops it with one line and exit 2; SIGHUP reloads the file', async () => {
    const work = mkdtempSync(join(dir, 'serve-'));
    const port = await freePort();
    const config = join(work, 'job.json');
    writeFileSync(config, JSON.stringify({ ...demoConfig({ rounds: 1 }), selection: { fraction: 1, minClients: 2 } }));
    const bad = join(work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ allow: ['10.0.0.0/99'] }));
    const refused = runCli(['--db', join(work, 'state.db'), 'serve', '--config', config, '--kit-dir', kitDir, '--port', String(port), '--operator-port', '0', '--firewall', bad], work);
    expect(await refused.exit).toBe(2);
    // The test runs the CLI with CIPHER_NEXUS_DEBUG, which adds the stack; the user's line is the last.
    expect(refused.output().trim().split('\n').at(-1)).toMatch(/^error \[FIREWALL_RULES_INVALID\]: firewall rules field 'allow\[0\]': '10\.0\.0\.0\/99' is neither .* \(in .*bad\.json\)$/);
    expect(existsSync(join(work, 'state.db'))).toBe(false);

    const good = join(work, 'good.json');
    writeFileSync(good, JSON.stringify({ deny: ['192.0.2.0/24'] }));
    const serve = runCli(['--db', join(work, 'state.db'), 'serve', '--config', config, '--kit-dir', kitDir, '--port', String(port), '--operator-port', '0', '--firewall', good, '--log-level', 'silent'], work);
    try {
      await waitFor(() => serve.output().includes('waiting for'));
      writeFileSync(good, JSON.stringify({ allow: ['127.0.0.1', '10.0.0.0/8'], deny: [] }));
      serve.child.kill('SIGHUP');
      await waitFor(() => serve.output().includes('firewall reloaded: 2 allow, 0 deny rule(s)'));
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exit;
    }
  });
});

async function waitFor(condition: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
