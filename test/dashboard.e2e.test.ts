import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../src/core/index.js';
import { demoConfig, prepareCoordinatedJob, prepareJob, runJob, type JobReport } from '../src/fl/index.js';
import { loadRevocationList, provisionWithLocalKeys, revocationListPath } from '../src/identity/index.js';
import { ServerEvents } from '../src/server/events.js';
import { startCoordinator } from '../src/server/index.js';
import { launchTestBrowser, type TestBrowser } from './support/browser.js';
import { logIn, startDashboard, type Box, type DashboardHarness } from './support/dashboard.js';
import { writeTwoClassCsv } from './support/two-class-data.js';

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

// The page's own geometry, read in the page: each card's box, and each nodes-table header cell's box.
const LAYOUT = `(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; };
  return {
    cards: [...document.querySelectorAll('.panel')].map((el) => ({ name: el.className, ...box(el), scrollWidth: el.scrollWidth, clientWidth: el.clientWidth })),
    nodesCard: box(document.querySelector('.panel.nodes')),
    headers: [...document.querySelectorAll('[data-testid="nodes-table"] th')].filter((th) => th.offsetParent !== null && th.textContent.trim()).map((th) => ({ text: th.textContent.trim(), ...box(th) })),
    pageWidth: document.documentElement.scrollWidth,
  };
})()`;

describe('operator dashboard in Chromium', () => {
  let dashboard: DashboardHarness;
  let dir: string;
  let storage: Storage;
  let events: ServerEvents;
  let app: FastifyInstance;
  let page: Page;
  let origin: string;
  let viewerToken: string;
  let requests: string[];
  let pageErrors: string[];

  beforeAll(async () => {
    const now = Date.now();
    dashboard = await startDashboard({
      prefix: 'cn-dashboard-',
      viewport: { width: 1280, height: 800 },
      seed: async (seeded) => {
        // Labelled as the coordinator labels its participants: the job id makes the first column wide.
        await seeded.nodes.upsert({ id: 'node-clinic-a', status: 'online', resources: { cpuCores: 8, memoryMb: 16_384, cpuLoad: 0.42, memoryLoad: 0.61 }, labels: { job: 'job-3f2b9c1e-7d4a-4e8b-9a61-0c5d2e7f1b3a', examples: '1797' }, registeredAt: now - 60_000, lastHeartbeat: now - 2_000 });
        await seeded.nodes.upsert({ id: 'node-bank-b', status: 'offline', resources: { cpuCores: 4, memoryMb: 8_192 }, labels: { org: 'bank-b' }, registeredAt: now - 600_000, lastHeartbeat: now - 300_000 });
        await seeded.privacy.setBudget({ scope: { kind: 'dataset', id: 'optdigits' }, epsilon: 10, delta: 1e-5, createdAt: now, updatedAt: now });
      },
    });
    ({ dir, storage, events, app, page, origin, viewerToken, requests, pageErrors } = dashboard);
  });

  afterAll(async () => {
    await dashboard?.close();
  });

  it('asks for a token, refuses a wrong one, and logs a viewer in without keeping the token in the page', async () => {
    await page.goto(origin);
    await page.getByTestId('login').waitFor();
    expect(await page.locator('#app').isHidden()).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-login.png') });
    await page.getByTestId('login-token').fill('cnop_not-a-token-of-this-coordinator');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').filter({ hasText: 'not an operator token' }).waitFor();
    await logIn(page, viewerToken);
    expect(await page.getByTestId('operator').textContent()).toBe('bob · viewer');
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['cn_operator', true, 'Strict']]);
    expect(cookies[0].value).not.toContain(viewerToken.slice(5));
    expect(await page.evaluate('JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + document.cookie')).toBe('{}{}');
    // A viewer sees neither the job's controls nor the revoke buttons.
    expect(await page.getByTestId('job-controls').isHidden()).toBe(true);
    expect(await page.getByTestId('revoke').count()).toBe(0);
  });

  it('shows the rounds of a real federated job while it runs, then a security event', async () => {
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

    // The finished job's final model: the ten digits' precision, recall and F1, and the confusion matrix.
    await page.getByTestId('evaluation').waitFor();
    expect(await page.getByTestId('class-row').count()).toBe(10);
    expect(await page.getByTestId('confusion-row').count()).toBe(10);
    const e = report.evaluation;
    expect(await page.getByTestId('evaluation-summary').textContent()).toBe(
      `accuracy ${e.accuracy.toFixed(4)} on ${e.numExamples} examples · majority-class baseline ${e.baseline.accuracy.toFixed(4)} (always '${e.classNames[e.baseline.classIndex]}') · macro F1 ${e.macroF1?.toFixed(4) ?? '—'}`,
    );
    const digit7 = page.locator('[data-testid="class-row"][data-class="7"] td');
    expect(await digit7.allTextContents()).toEqual([e.classes[7].precision, e.classes[7].recall, e.classes[7].f1].map((x) => (x === null ? '—' : x.toFixed(4))).concat(String(e.classes[7].support)));
    expect(await page.locator('[data-testid="confusion-row"][data-class="3"] td').allTextContents()).toEqual(e.confusion[3].map(String));
    expect(await page.getByTestId('warning').count()).toBe(0);

    events.emit('security', { at: Date.now(), kind: 'replay', participant: 'client-2', detail: 'nonce reused in round 3; update dropped' });
    events.emit('budget', { dataset: 'optdigits', spent: 7.6, budget: 10 });
    events.emit('node', { id: 'node-clinic-a', status: 'busy', lastHeartbeat: Date.now(), resources: { cpuCores: 8, memoryMb: 16_384, cpuLoad: 0.93, memoryLoad: 0.64 } });
    await page.getByTestId('security-event').filter({ hasText: 'nonce reused in round 3' }).waitFor();
    expect(await page.getByTestId('security-event').first().getAttribute('data-kind')).toBe('replay');
    await page.locator('[data-testid="budget-item"][data-dataset="optdigits"]').filter({ hasText: '7.60 / 10' }).waitFor();
    await page.locator('[data-testid="node-row"][data-node-id="node-clinic-a"]').filter({ hasText: '93%' }).waitFor();

    // A round whose accuracy fell by more than the job's margin is marked in the rounds table.
    const last = report.rounds[3];
    events.emit('round', { jobId, round: { ...last, round: 5, accuracy: last.accuracy - 0.2, accuracyDrop: { previous: last.accuracy, margin: 0.1 } } });
    const dropped = page.locator('[data-testid="round-row"][data-round="5"] [data-testid="accuracy-drop"]');
    await dropped.waitFor();
    expect(await dropped.textContent()).toBe(`${(last.accuracy - 0.2).toFixed(4)} ▼`);
    expect(await page.locator('[data-testid="round-row"][data-round="4"] [data-testid="accuracy-drop"]').count()).toBe(0);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(requests.filter((url) => !url.startsWith(origin))).toEqual([]);
  });

  it('warns about a two-class job that learned nothing and shows why its validation failed', async () => {
    writeTwoClassCsv(join(dir, 'noise-train.csv'), 200, 1, 0);
    writeTwoClassCsv(join(dir, 'noise-test.csv'), 500, 2, 0);
    const prepared = await prepareJob({
      name: 'two-class-noise',
      seed: 3,
      data: { train: join(dir, 'noise-train.csv'), test: join(dir, 'noise-test.csv'), labelColumn: 'label' },
      clients: 5,
      rounds: 10,
      partition: { kind: 'dirichlet', alpha: 0.5, minPerClient: 10 },
      model: { type: 'mlp', hidden: [16] },
      training: { epochs: 20, batchSize: 16, learningRate: 0.01, optimizer: 'adam' },
      execution: { mode: 'in-process' },
      validation: { minOverBaseline: 0.02 },
    });
    let jobId = '';
    const report = await runJob(prepared, storage, { onStart: (info) => void (jobId = info.jobId) });
    events.emit('job', { jobId, name: prepared.config.name, status: report.status, rounds: report.rounds.length });

    await page.locator('[data-testid="job-item"]', { hasText: 'two-class-noise' }).getByRole('button').click();
    await page.locator('[data-testid="warning"][data-code="ACCURACY_NEAR_BASELINE"]').waitFor();
    expect(await page.getByTestId('warning').evaluateAll((items) => items.map((li) => li.getAttribute('data-code')))).toEqual(report.warnings.map((w) => w.code));
    // The two warnings' shared remedies are listed once.
    expect(await page.locator('[data-testid="suggestions"] li').allTextContents()).toEqual([...new Set(report.warnings.flatMap((w) => w.suggestions))]);
    expect(await page.getByTestId('suggestions').textContent()).toContain('use FedProx (strategy: { name: fedprox, mu: 0.01 }; now fedavg)');
    expect(await page.getByTestId('validation').textContent()).toBe(`failed validation: ${report.validation.failures.map((f) => `[${f.code}] ${f.message}`).join('; ')}`);
    const e = report.evaluation;
    expect(await page.getByTestId('evaluation-summary').textContent()).toContain(`majority-class baseline ${e.baseline.accuracy.toFixed(4)} (always 'no') · ROC AUC ${e.rocAuc?.toFixed(4)}`);
    expect(await page.locator('[data-testid="confusion-row"][data-class="yes"] td').allTextContents()).toEqual(e.confusion[1].map(String));
    expect(await page.locator('[data-testid="class-row"][data-class="yes"] td').last().textContent()).toBe(String(e.classes[1].support));
    expect(await page.locator('#job-meta .badge').textContent()).toBe('failed');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-warning.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  for (const width of [1400, 1024]) {
    it(`lays the cards out at ${width} px without one spilling over another, every node column in view`, async () => {
      await page.setViewportSize({ width, height: 900 });
      await page.locator('[data-testid="node-row"][data-node-id="node-clinic-a"]').waitFor();
      const layout = await page.evaluate<{ cards: (Box & { name: string; scrollWidth: number; clientWidth: number })[]; nodesCard: Box; headers: (Box & { text: string })[]; pageWidth: number }>(LAYOUT);
      expect(layout.pageWidth).toBeLessThanOrEqual(width);
      for (const card of layout.cards) expect([card.name, card.scrollWidth <= card.clientWidth]).toEqual([card.name, true]);
      for (const [i, a] of layout.cards.entries()) {
        for (const b of layout.cards.slice(i + 1)) {
          const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
          expect([a.name, b.name, overlap]).toEqual([a.name, b.name, false]);
        }
      }
      expect(layout.headers.map((h) => h.text)).toEqual(['Node', 'Health', 'Last heartbeat', 'CPU', 'Memory']);
      for (const header of layout.headers) expect([header.text, header.right <= layout.nodesCard.right]).toEqual([header.text, true]);
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-${width}.png`), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 800 });
    });
  }

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

describe('operator dashboard of a running coordinator, as an admin', () => {
  let dir: string;
  let storage: Storage;
  let browser: TestBrowser;
  let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
  let tokens: { admin: string; viewer: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-dashboard-admin-'));
    const kitDir = join(dir, 'kits');
    const provisioned = await provisionWithLocalKeys({ outDir: kitDir, participants: ['clinic-a', 'clinic-b'], serverHost: '127.0.0.1', serverPort: 0, operators: [{ name: 'alice', role: 'admin' }, { name: 'bob', role: 'viewer' }] });
    tokens = { admin: provisioned.operatorTokens.get('alice')?.token ?? '', viewer: provisioned.operatorTokens.get('bob')?.token ?? '' };
    storage = openStorage({ path: join(dir, 'coordinator.db') });
    const prepared = await prepareCoordinatedJob({ ...demoConfig({ rounds: 2 }), selection: { fraction: 1, minClients: 2 } });
    coordinator = await startCoordinator({ prepared, storage, kitDir, host: '127.0.0.1', port: 0, operatorPort: 0, auditFile: join(dir, 'audit.jsonl'), logLevel: 'silent' });
    // A participant as the coordinator registers it when it connects (none connects here: the job waits for two).
    const now = Date.now();
    await storage.nodes.upsert({ id: 'clinic-a', status: 'online', resources: { cpuCores: 4, memoryMb: 8_192 }, labels: { job: coordinator.job.jobId, examples: '1797' }, registeredAt: now, lastHeartbeat: now });
    browser = await launchTestBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await coordinator?.close();
    await storage?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('pauses, resumes and aborts the job and revokes a participant from the dashboard; each action is in the audit trail', async () => {
    const page = await browser.browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('dialog', (dialog) => void dialog.accept());
    const jobId = coordinator.job.jobId;
    await page.goto(coordinator.operatorUrl);
    await logIn(page, tokens.admin);
    expect(await page.getByTestId('operator').textContent()).toBe('alice · admin');
    const controls = page.getByTestId('job-controls');
    await page.locator('[data-testid="job-controls"][data-control="running"]').waitFor();

    await page.getByTestId('job-pause').click();
    await page.locator('[data-testid="job-controls"][data-control="pausing"]').waitFor();
    expect(coordinator.job.controlState).toBe('pausing');
    expect(await page.getByTestId('job-pause').isDisabled()).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-admin.png'), fullPage: true });
    await page.getByTestId('job-resume').click();
    await page.locator('[data-testid="job-controls"][data-control="running"]').waitFor();
    expect(coordinator.job.controlState).toBe('running');

    await page.locator('[data-testid="node-row"][data-node-id="clinic-a"] [data-testid="revoke"]').click();
    await page.getByTestId('action-status').filter({ hasText: 'revoke clinic-a: done' }).waitFor();
    expect(loadRevocationList(revocationListPath(join(dir, 'kits'))).entries.map((e) => e.participantId)).toEqual(['clinic-a']);

    const outcome = coordinator.done.then(
      () => 'completed',
      (error: { code?: string }) => error.code,
    );
    await page.getByTestId('job-abort').click();
    expect(await outcome).toBe('JOB_ABORTED_BY_OPERATOR');
    await page.locator('[data-testid="job-item"]').filter({ hasText: 'failed' }).waitFor();
    await controls.waitFor({ state: 'hidden' });
    expect((await storage.jobs.get(jobId))?.status).toBe('failed');

    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { kind: string; actor: string });
    expect(audit.filter((e) => e.kind.startsWith('operator.')).map((e) => `${e.kind} ${e.actor}`)).toEqual(['operator.login alice', 'operator.pause alice', 'operator.resume alice', 'operator.revoke alice', 'operator.abort alice']);
    await page.getByTestId('logout').click();
    await page.getByTestId('login').waitFor();
    // The page stays open: the packaged Chromium runs as one process, which closing its last page would end.
  });

  it('gives a viewer of the same coordinator no controls', async () => {
    const page = await browser.browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(coordinator.operatorUrl);
    await logIn(page, tokens.viewer);
    await page.getByTestId('job-item').first().waitFor();
    expect(await page.getByTestId('job-controls').isHidden()).toBe(true);
    expect(await page.getByTestId('revoke').count()).toBe(0);
  });
});
