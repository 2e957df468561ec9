import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoConfig } from '../src/fl/index.js';
import { provisionWithLocalKeys } from '../src/identity/index.js';
import { freePort } from './support/free-port.js';
import { runCli } from './support/network.js';

/** `serve` as an operator runs it, driven over its operator listener with the tokens `provision` printed. */
describe('serve with operator login', () => {
  let dir: string;
  let kitDir: string;
  let configFile: string;
  let tokens: { admin: string; viewer: string; scrape: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-operator-cli-'));
    kitDir = join(dir, 'kits');
    const provisioned = await provisionWithLocalKeys({
      outDir: kitDir,
      participants: ['clinic-a', 'clinic-b'],
      serverHost: '127.0.0.1',
      serverPort: await freePort(),
      operators: [{ name: 'alice', role: 'admin' }, { name: 'bob', role: 'viewer' }],
    });
    tokens = { admin: provisioned.operatorTokens.get('alice')?.token ?? '', viewer: provisioned.operatorTokens.get('bob')?.token ?? '', scrape: provisioned.scrapeToken };
    configFile = join(dir, 'job.json');
    writeFileSync(configFile, JSON.stringify({ name: 'operator-cli', data: demoConfig().data, rounds: 2, selection: { fraction: 1, minClients: 2 }, model: { type: 'mlp', hidden: [16] } }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is paused, resumed and aborted by an admin over the API and then exits 4; a viewer and a missing token are refused', async () => {
    const serve = runCli(['--db', join(dir, 'state.db'), 'serve', '--config', configFile, '--kit-dir', kitDir, '--operator-port', '0', '--audit', join(dir, 'audit.jsonl'), '--log-level', 'warn'], dir);
    try {
      let url = '';
      let jobId = '';
      // The dashboard line comes before the job's: wait for both (on a loaded machine the second can lag).
      for (let waited = 0; !(url && jobId) && waited < 60_000; waited += 100) {
        url = /dashboard: +(http:\/\/127\.0\.0\.1:\d+)\/ \(log in with an operator token\)/.exec(serve.output())?.[1] ?? '';
        jobId = /started job (job-[0-9a-f-]+)/.exec(serve.output())?.[1] ?? '';
        if (!(url && jobId)) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(url, serve.output()).not.toBe('');
      expect(jobId, serve.output()).not.toBe('');
      const call = (method: string, path: string, token?: string): Promise<Response> => fetch(`${url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

      expect((await call('GET', '/api/jobs')).status).toBe(401);
      expect((await call('GET', '/metrics')).status).toBe(401);
      expect(await (await call('GET', '/metrics', tokens.scrape)).text()).toContain('cipher_nexus_rounds_total');
      expect((await call('POST', `/api/jobs/${jobId}/pause`, tokens.viewer)).status).toBe(403);
      expect(await (await call('POST', `/api/jobs/${jobId}/pause`, tokens.admin)).json()).toEqual({ jobId, control: 'pausing' });
      expect(((await (await call('GET', '/api/jobs', tokens.viewer)).json()) as unknown[])[0]).toMatchObject({ id: jobId, status: 'running', control: 'pausing' });
      expect((await call('POST', `/api/jobs/${jobId}/resume`, tokens.admin)).status).toBe(200);
      expect((await call('POST', `/api/jobs/${jobId}/abort`, tokens.admin)).status).toBe(200);
      expect(await serve.exit).toBe(4);
      expect(serve.output()).toContain(`job ${jobId} pausing (operator)`);
      expect(serve.output()).toContain(`job ${jobId} aborted by operator 'alice'; it is stored as failed`);
      const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { kind: string; actor: string });
      expect(audit.filter((e) => e.kind.startsWith('operator.')).map((e) => `${e.kind} ${e.actor}`)).toEqual(['operator.pause alice', 'operator.resume alice', 'operator.abort alice']);
      expect(audit.map((e) => e.kind)).toContain('job.failed');
    } finally {
      serve.child.kill('SIGKILL');
    }
  });

  it('refuses --operator-no-auth off loopback with exit code 2 before it starts anything', async () => {
    const serve = runCli(['--db', join(dir, 'other.db'), 'serve', '--config', configFile, '--kit-dir', kitDir, '--operator-host', '0.0.0.0', '--operator-no-auth'], dir);
    expect(await serve.exit).toBe(2);
    expect(serve.output()).toMatch(/^error \[OPERATOR_NO_AUTH_NOT_LOOPBACK\]: --operator-no-auth is accepted only on a loopback address/m);
  });
});
