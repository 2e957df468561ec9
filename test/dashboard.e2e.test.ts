import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareJob, runJob, type JobReport } from '../src/fl/index.js';
import { ServerEvents } from '../src/server/events.js';
import { OperatorAccess, OperatorOrigins, registerOperatorApi } from '../src/server/index.js';
import { launchTestBrowser, type TestBrowser } from './support/browser.js';

const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');

/** What the page recorded each time its DOM changed: browser time and how many rows and points it showed. */
interface Snapshot {
  at: number;
  rows: number;
  points: number;
}

// The project's tsconfig has no DOM library, so code that runs in the page is passed as source text.
const RECORD_SNAPSHOTS = `(() => {
  window.__snapshots = [];
  window.__sameDocument = true;
  const count = (id) => document.querySelectorAll('[data-testid="' + id + '"]').length;
  const record = () => window.__snapshots.push({ at: Date.now(), rows: count('round-row'), points: count('accuracy-point') });
  new MutationObserver(record).observe(document.body, { childList: true, subtree: true });
  record();
})()`;

const countOf = (testId: string): string => `document.querySelectorAll('[data-testid="${testId}"]').length`;

describe('operator dashboard in Chromium', () => {
  let dir: string;
  let storage: Storage;
  let events: ServerEvents;
  let app: FastifyInstance;
  let browser: TestBrowser;
  let page: Page;
  let origin: string;
  const requests: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-dashboard-'));
    storage = openStorage({ path: join(dir, 'coordinator.db') });
    const now = Date.now();
    await storage.nodes.upsert({ id: 'node-clinic-a', status: 'online', resources: { cpuCores: 8, memoryMb: 16_384, cpuLoad: 0.42, memoryLoad: 0.61 }, labels: { org: 'clinic-a' }, registeredAt: now - 60_000, lastHeartbeat: now - 2_000 });
    await storage.nodes.upsert({ id: 'node-bank-b', status: 'offline', resources: { cpuCores: 4, memoryMb: 8_192 }, labels: { org: 'bank-b' }, registeredAt: now - 600_000, lastHeartbeat: now - 300_000 });
    await storage.privacy.setBudget({ scope: { kind: 'dataset', id: 'optdigits' }, epsilon: 10, delta: 1e-5, createdAt: now, updatedAt: now });
    events = new ServerEvents();
    app = Fastify();
    await registerOperatorApi(app, { storage, events, access: new OperatorAccess(), origins: new OperatorOrigins('127.0.0.1'), audit: async () => undefined });
    origin = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchTestBrowser();
    page = await browser.browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await storage?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the rounds of a real federated job while it runs, then a security event', async () => {
    await page.goto(origin);
    await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor();
    await page.waitForFunction(`${countOf('node-row')} === 2 && ${countOf('budget-item')} === 1`);
    expect(await page.getByTestId('round-row').count()).toBe(0);
    await page.evaluate(RECORD_SNAPSHOTS);

    // In-process training keeps this event loop busy for whole rounds, so the test cannot look at the
    // page mid-job; the page records its own DOM changes with timestamps, read back afterwards.
    const prepared = await prepareJob({ ...demoConfig({ clients: 3, rounds: 4, seed: 7 }), execution: { mode: 'in-process' } });
    let jobId = '';
    const report: JobReport = await runJob(prepared, storage, {
      onStart: (info) => {
        jobId = info.jobId;
        events.emit('job', { jobId, name: prepared.config.name, status: 'running', rounds: info.rounds });
      },
      onRound: (round) => events.emit('round', { jobId, round }),
    });
    const jobFinishedAt = Date.now();
    events.emit('job', { jobId, name: prepared.config.name, status: 'completed', rounds: report.rounds.length });

    await page.waitForFunction(`${countOf('round-row')} === 4 && ${countOf('accuracy-point')} === 4`);
    const snapshots = await page.evaluate<Snapshot[]>('window.__snapshots');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    const firstWith = (rows: number): Snapshot | undefined => snapshots.find((s) => s.rows >= rows && s.points >= rows);
    for (const rows of [1, 2, 3]) {
      const seen = firstWith(rows);
      expect(seen, `the page never showed ${rows} rows and points`).toBeDefined();
      expect(seen?.at, `round ${rows} appeared only after the job had finished`).toBeLessThan(jobFinishedAt);
    }
    // Each round arrived on its own: the table grew 1, 2, 3, 4 rather than jumping.
    expect([...new Set(snapshots.map((s) => s.rows))]).toEqual([0, 1, 2, 3, 4]);

    // Once the server is free again the stored rounds fill in what round events do not carry.
    await page.waitForFunction(`[...document.querySelectorAll('[data-testid="round-row"] td:nth-child(5)')].every((td) => td.textContent === '3')`);
    const lastRow = page.locator('[data-testid="round-row"][data-round="4"]');
    expect(await lastRow.locator('td').nth(2).textContent()).toBe(report.final.accuracy.toFixed(4));
    expect(await page.getByTestId('job-item').first().textContent()).toContain('completed');

    events.emit('security', { at: Date.now(), kind: 'replay', participant: 'client-2', detail: 'nonce reused in round 3; update dropped' });
    events.emit('budget', { dataset: 'optdigits', spent: 7.6, budget: 10 });
    events.emit('node', { id: 'node-clinic-a', status: 'busy', lastHeartbeat: Date.now(), resources: { cpuCores: 8, memoryMb: 16_384, cpuLoad: 0.93, memoryLoad: 0.64 } });
    await page.getByTestId('security-event').filter({ hasText: 'nonce reused in round 3' }).waitFor();
    expect(await page.getByTestId('security-event').first().getAttribute('data-kind')).toBe('replay');
    await page.locator('[data-testid="budget-item"][data-dataset="optdigits"]').filter({ hasText: '7.60 / 10' }).waitFor();
    await page.locator('[data-testid="node-row"][data-node-id="node-clinic-a"]').filter({ hasText: '93%' }).waitFor();

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(requests.filter((url) => !url.startsWith(origin))).toEqual([]);
  });

  it('falls back to polling the API when the live socket drops', async () => {
    // Every new socket to /api/live is refused from now on, and the open one is cut.
    await page.routeWebSocket(/\/api\/live$/, (socket) => socket.close());
    for (const client of app.websocketServer.clients) client.terminate();
    await page.locator('[data-testid="connection-status"][data-state="polling"]').waitFor();

    events.emit('security', { at: Date.now(), kind: 'auth_failed', participant: 'client-9', detail: 'certificate revoked; seen by polling' });
    const now = Date.now();
    await storage.nodes.upsert({ id: 'node-late', status: 'online', resources: { cpuCores: 2, memoryMb: 2_048 }, labels: {}, registeredAt: now, lastHeartbeat: now });
    await page.getByTestId('security-event').filter({ hasText: 'seen by polling' }).waitFor({ timeout: 5_000 });
    await page.locator('[data-testid="node-row"][data-node-id="node-late"]').waitFor({ timeout: 5_000 });
    expect(pageErrors).toEqual([]);
  });
});
