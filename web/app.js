/* global document, window, fetch, WebSocket, URL, location, setTimeout, clearTimeout, setInterval, clearInterval, console, confirm */
// The operator dashboard. The operator logs in with a token, which the server exchanges for a session
// in an HttpOnly, SameSite=Strict cookie: the page never keeps the token, and the cookie rides on the
// API's requests and on the /api/live WebSocket. State is filled from the JSON API, then kept current
// from the socket; while the socket is down the page polls the API every 2 s and keeps trying to
// reconnect. An admin also gets pause, resume and abort for the running job and revoke for each
// participant. Everything shown is written with textContent, never parsed as HTML. A second page
// (#market) shows the data market: the catalogue, and for one asset its book's depth, fills and prices.

const POLL_MS = 2000;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 15000;
// Round events carry no update counts or timestamps; the stored rounds fill them in shortly after.
const DETAIL_REFRESH_MS = 300;
const SECURITY_KEEP = 500;
// A node that has not sent a heartbeat for this long is shown as stale even before the coordinator marks it offline.
const STALE_HEARTBEAT_MS = 60000;
const SVG_NS = 'http://www.w3.org/2000/svg';
// The book and its fills are not on the live bus, so the market page reads them again this often while shown.
const MARKET_POLL_MS = 5000;
const DEPTH_LEVELS = 10;
// NXS has 18 decimals; prices arrive as decimal strings of base units, which a JS number cannot hold exactly.
const NXS_DECIMALS = 18;
const NXS_SHOWN_DECIMALS = 6;

const state = {
  /** @type {{ name: string, role: string, authentication: string } | null} who is logged in */
  operator: null,
  /** @type {Map<string, object>} job summaries by id */
  jobs: new Map(),
  selectedJobId: null,
  // Until the operator picks a job, the dashboard follows the newest one.
  followNewest: true,
  /** @type {Map<number, object>} rounds of the selected job by number */
  rounds: new Map(),
  /** The selected job's final evaluation, warnings and validation, once it has finished. */
  assessment: null,
  /** @type {Map<string, object>} */
  nodes: new Map(),
  /** @type {Map<string, object>} budgets by `${kind}:${id}` */
  budgets: new Map(),
  /** @type {object[]} newest first */
  security: [],
  /** Which page is shown: 'training' or 'market'. */
  view: 'training',
  market: {
    /** @type {object[]} the catalogue, cheapest best ask first */
    assets: [],
    selectedId: null,
    // Until the operator picks an asset, the page shows the first one listed.
    followFirst: true,
    /** The selected asset with its depth, fills and prices. */
    detail: null,
  },
};

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const fixed = (value, digits) => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—');
const clockTime = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
const isoTime = (ms) => new Date(ms).toISOString();

function age(ms) {
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A price in NXS base units (a decimal string) as NXS, rounded to six decimals; `≈` marks a rounded one. */
function nxs(base) {
  if (base === null || base === undefined) return '—';
  const value = BigInt(base);
  const scale = 10n ** BigInt(NXS_DECIMALS - NXS_SHOWN_DECIMALS);
  const shown = (value + scale / 2n) / scale;
  const unit = 10n ** BigInt(NXS_SHOWN_DECIMALS);
  const fraction = (shown % unit).toString().padStart(NXS_SHOWN_DECIMALS, '0').replace(/0+$/, '');
  return `${shown * scale === value ? '' : '≈'}${shown / unit}${fraction ? `.${fraction}` : ''}`;
}

/** A price cell: NXS shown, the exact base units on hover. */
function priceCell(base) {
  return el('td', { class: 'num', title: base === null ? null : `${base} base units` }, nxs(base));
}

/** An address shortened to its ends, the whole of it on hover. */
function address(text) {
  if (!text) return el('span', {}, '—');
  return el('span', { class: 'participant', title: text }, text.length > 14 ? `${text.slice(0, 6)}…${text.slice(-4)}` : text);
}

function badge(text, kind = text) {
  return el('span', { class: `badge ${kind}` }, text);
}

class SessionEnded extends Error {}

async function requestJson(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== '/api/session') {
    sessionEnded(answer?.error?.message);
    throw new SessionEnded(answer?.error?.message ?? 'log in again');
  }
  if (!response.ok) throw Object.assign(new Error(answer?.error?.message ?? `${path}: HTTP ${response.status}`), { status: response.status });
  return answer;
}

const getJson = (path) => requestJson('GET', path);

const isAdmin = () => state.operator?.role === 'admin';

// ---- state updates -------------------------------------------------------------------------

// A job only moves from running to completed or failed, so an older snapshot never undoes a newer event.
function mergeJob(update) {
  const current = state.jobs.get(update.id);
  const merged = { ...current, ...update };
  if (current && current.status !== 'running' && update.status === 'running') merged.status = current.status;
  state.jobs.set(update.id, merged);
  return !current;
}

function roundFromApi(r) {
  const seconds = r.finishedAt !== null ? (r.finishedAt - r.startedAt) / 1000 : null;
  return { ...r, seconds, live: false };
}

function roundFromReport(report) {
  return {
    number: report.round,
    status: 'finalized',
    accuracy: report.accuracy,
    loss: report.loss,
    accuracyDrop: report.accuracyDrop ? report.accuracyDrop.previous - report.accuracy : null,
    updates: null,
    participants: report.participants,
    seconds: report.seconds,
    live: true,
  };
}

function newestJobId() {
  const jobs = [...state.jobs.values()].sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
  return (jobs.find((j) => j.status === 'running') ?? jobs[0])?.id ?? null;
}

function selectJob(id, byOperator) {
  if (byOperator) state.followNewest = false;
  if (state.selectedJobId === id) return;
  state.selectedJobId = id;
  state.rounds = new Map();
  state.assessment = null;
  renderJobs();
  renderJob();
  refreshDetail().catch(reportFailure);
}

function followNewestJob() {
  const newest = newestJobId();
  if (state.followNewest && newest) selectJob(newest, false);
}

function securityKey(e) {
  return `${e.at}|${e.kind}|${e.participant ?? ''}|${e.detail}`;
}

function mergeSecurity(events) {
  const byKey = new Map(state.security.map((e) => [securityKey(e), e]));
  for (const e of events) byKey.set(securityKey(e), e);
  state.security = [...byKey.values()].sort((a, b) => b.at - a.at).slice(0, SECURITY_KEEP);
}

// ---- API reads -----------------------------------------------------------------------------

async function refreshJobs() {
  // Only the job this coordinator runs has `control`, and only while it runs.
  for (const job of await getJson('/api/jobs')) mergeJob({ ...job, control: job.control });
  renderJobs();
  followNewestJob();
}

async function refreshDetail() {
  const id = state.selectedJobId;
  if (!id) return;
  const { rounds, evaluation, warnings, validation, ...summary } = await getJson(`/api/jobs/${encodeURIComponent(id)}`);
  if (state.selectedJobId !== id) return;
  mergeJob({ ...summary, control: summary.control });
  state.assessment = evaluation ? { evaluation, warnings: warnings ?? [], validation } : null;
  // Rounds only ever get added, so rows already pushed live that the snapshot lacks are kept.
  for (const r of rounds) state.rounds.set(r.number, roundFromApi(r));
  renderJobs();
  renderJob();
}

let detailTimer = null;
function scheduleDetailRefresh() {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(() => refreshDetail().catch(reportFailure), DETAIL_REFRESH_MS);
}

async function refreshNodes() {
  for (const node of await getJson('/api/nodes')) state.nodes.set(node.id, node);
  renderNodes();
}

async function refreshBudgets() {
  for (const b of await getJson('/api/budgets')) state.budgets.set(`${b.kind}:${b.id}`, b);
  renderBudgets();
}

async function refreshSecurity() {
  mergeSecurity(await getJson('/api/security-events'));
  renderSecurity();
}

function reportFailure(error) {
  if (error instanceof SessionEnded) return;
  console.warn('dashboard: could not refresh', error);
}

async function refreshAll() {
  const results = await Promise.allSettled([refreshJobs(), refreshNodes(), refreshBudgets(), refreshSecurity()]);
  for (const r of results) if (r.status === 'rejected') reportFailure(r.reason);
  await refreshDetail().catch(reportFailure);
  if (state.view === 'market') await refreshMarket().catch(reportFailure);
}

async function refreshMarket() {
  const market = state.market;
  market.assets = await getJson('/api/market/assets');
  if (market.followFirst || !market.assets.some((a) => a.id === market.selectedId)) market.selectedId = market.assets[0]?.id ?? null;
  renderMarketAssets();
  await refreshMarketAsset();
}

async function refreshMarketAsset() {
  const id = state.market.selectedId;
  const detail = id === null ? null : await getJson(`/api/market/assets/${encodeURIComponent(id)}?levels=${DEPTH_LEVELS}`);
  if (state.market.selectedId !== id) return;
  state.market.detail = detail;
  renderMarketAsset();
}

function selectAsset(id) {
  state.market.followFirst = false;
  if (state.market.selectedId === id) return;
  state.market.selectedId = id;
  state.market.detail = null;
  renderMarketAssets();
  renderMarketAsset();
  refreshMarketAsset().catch(reportFailure);
}

// ---- live events ---------------------------------------------------------------------------

const handlers = new Map([
  [
    'job',
    (data) => {
      const existing = state.jobs.get(data.jobId);
      mergeJob({
        control: data.status === 'running' ? (data.control ?? existing?.control) : undefined,
        id: data.jobId,
        name: data.name,
        status: data.status,
        plannedRounds: data.rounds,
        createdAt: existing?.createdAt ?? Date.now(),
        finishedAt: data.status === 'running' ? null : (existing?.finishedAt ?? Date.now()),
        storedRounds: existing?.storedRounds ?? 0,
        latestAccuracy: existing?.latestAccuracy ?? null,
      });
      renderJobs();
      followNewestJob();
      if (data.jobId === state.selectedJobId) {
        renderJob();
        scheduleDetailRefresh();
      }
    },
  ],
  [
    'round',
    (data) => {
      const { jobId, round } = data;
      const existing = state.jobs.get(jobId);
      // A dashboard that connected mid-job has not seen the job start; it learns of the job from its rounds.
      mergeJob({
        id: jobId,
        name: existing?.name ?? jobId,
        status: existing?.status ?? 'running',
        createdAt: existing?.createdAt ?? Date.now(),
        storedRounds: Math.max(existing?.storedRounds ?? 0, round.round),
        latestAccuracy: round.accuracy,
      });
      followNewestJob();
      if (jobId === state.selectedJobId) {
        const current = state.rounds.get(round.round);
        // A stored row already holds what the report lacks (update count, timestamps).
        state.rounds.set(round.round, current && !current.live ? { ...current, accuracy: round.accuracy, loss: round.loss } : roundFromReport(round));
        renderJob();
        scheduleDetailRefresh();
      }
      renderJobs();
    },
  ],
  [
    'node',
    (data) => {
      state.nodes.set(data.id, { labels: {}, resources: {}, ...state.nodes.get(data.id), ...data });
      renderNodes();
    },
  ],
  [
    'budget',
    (data) => {
      const key = `dataset:${data.dataset}`;
      state.budgets.set(key, { ...state.budgets.get(key), kind: 'dataset', id: data.dataset, epsilon: data.budget, spent: data.spent });
      renderBudgets();
    },
  ],
  [
    'security',
    (data) => {
      mergeSecurity([data]);
      renderSecurity();
    },
  ],
]);

function onLiveMessage(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return;
  }
  const handler = handlers.get(message?.type);
  if (handler && message.data) handler(message.data);
}

let pollTimer = null;
let reconnectDelay = RECONNECT_MIN_MS;
/** @type {WebSocket | null} */
let liveSocket = null;
let reconnectTimer = null;

function setConnection(mode, text) {
  const status = $('connection');
  status.dataset.state = mode;
  status.textContent = text;
}

function startPolling() {
  if (pollTimer) return;
  pollTimer = setInterval(() => void refreshAll(), POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function connect() {
  if (!state.operator) return;
  const url = new URL('/api/live', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(url);
  liveSocket = socket;
  socket.addEventListener('open', () => {
    reconnectDelay = RECONNECT_MIN_MS;
    stopPolling();
    setConnection('live', 'Live');
    // Whatever happened while the socket was down is read once from the API.
    void refreshAll();
  });
  socket.addEventListener('message', (event) => onLiveMessage(event.data));
  // 'close' follows every failed attempt and every drop, so it alone drives the fallback.
  socket.addEventListener('close', () => {
    if (liveSocket !== socket || !state.operator) return;
    setConnection('polling', `Live updates lost; polling every ${POLL_MS / 1000} s`);
    startPolling();
    reconnectTimer = setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
  });
}

function disconnect() {
  const socket = liveSocket;
  liveSocket = null;
  clearTimeout(reconnectTimer);
  stopPolling();
  socket?.close();
}

// ---- pages ---------------------------------------------------------------------------------

const viewFromHash = () => (location.hash === '#market' ? 'market' : 'training');

function applyView() {
  const loggedIn = state.operator !== null;
  $('views').hidden = !loggedIn;
  $('app').hidden = !loggedIn || state.view !== 'training';
  $('market').hidden = !loggedIn || state.view !== 'market';
  for (const link of $('views').querySelectorAll('a')) link.setAttribute('aria-current', link.dataset.view === state.view ? 'page' : 'false');
}

function showView(view) {
  const opened = view !== state.view;
  state.view = view;
  applyView();
  if (opened && view === 'market' && state.operator) refreshMarket().catch(reportFailure);
}

// ---- login and admin actions ---------------------------------------------------------------

function showLogin(message = '') {
  state.operator = null;
  disconnect();
  applyView();
  $('operator').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  setConnection('connecting', 'Logged out');
  $('login-token').focus();
}

function sessionEnded(message) {
  if (state.operator) showLogin(message ?? 'Your session has ended; log in again.');
}

function showApp(operator) {
  state.operator = operator;
  $('login').hidden = true;
  applyView();
  $('operator').hidden = false;
  $('operator').textContent = operator.authentication === 'off' ? 'No login (loopback only)' : `${operator.name} · ${operator.role}`;
  $('logout').hidden = operator.authentication === 'off';
  document.body.dataset.role = operator.role;
  renderJobs();
  renderJob();
  renderNodes();
  void refreshAll();
  connect();
}

async function logIn(event) {
  event.preventDefault();
  const input = $('login-token');
  const token = input.value.trim();
  if (!token) {
    $('login-error').textContent = 'Paste your operator token first.';
    return;
  }
  try {
    const operator = await requestJson('POST', '/api/session', { token });
    input.value = '';
    showApp(operator);
  } catch (error) {
    $('login-error').textContent = error.status === 401 ? 'That token is not an operator token of this coordinator.' : `Could not log in: ${error.message}`;
  }
}

async function logOut() {
  await requestJson('DELETE', '/api/session').catch(() => undefined);
  showLogin();
}

function showActionResult(text, failed = false) {
  const status = $('action-status');
  status.textContent = text;
  status.dataset.state = failed ? 'failed' : 'ok';
}

async function act(description, path) {
  try {
    await requestJson('POST', path);
    showActionResult(`${description}: done`);
    await refreshAll();
  } catch (error) {
    if (!(error instanceof SessionEnded)) showActionResult(`${description} failed: ${error.message}`, true);
  }
}

function controlJob(action) {
  const id = state.selectedJobId;
  if (!id) return;
  if (action === 'abort' && !confirm(`Abort job ${id}? It ends as failed and cannot be resumed.`)) return;
  void act(`${action} ${id}`, `/api/jobs/${encodeURIComponent(id)}/${action}`);
}

function revoke(participantId) {
  if (!confirm(`Revoke participant ${participantId}? Its connection is closed and it cannot rejoin this job.`)) return;
  void act(`revoke ${participantId}`, `/api/participants/${encodeURIComponent(participantId)}/revoke`);
}

// ---- rendering -----------------------------------------------------------------------------

function renderJobs() {
  const jobs = [...state.jobs.values()].sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
  $('jobs-empty').hidden = jobs.length > 0;
  $('jobs').replaceChildren(
    ...jobs.map((job) => {
      const progress = job.plannedRounds ? `round ${job.storedRounds ?? 0}/${job.plannedRounds}` : `${job.storedRounds ?? 0} rounds`;
      const button = el(
        'button',
        { type: 'button', class: 'job-button', 'aria-current': job.id === state.selectedJobId ? 'true' : 'false', 'data-job-id': job.id },
        el('span', { class: 'job-name', title: job.id }, job.name),
        badge(job.status),
        el('span', { class: 'job-sub' }, `${progress} · accuracy ${fixed(job.latestAccuracy, 4)}${job.createdAt ? ` · ${clockTime(job.createdAt)}` : ''}`),
      );
      button.addEventListener('click', () => selectJob(job.id, true));
      return el('li', { 'data-testid': 'job-item' }, button);
    }),
  );
}

function renderJob() {
  const job = state.jobs.get(state.selectedJobId);
  $('job-heading').textContent = job ? job.name : 'No job selected';
  const meta = $('job-meta');
  meta.replaceChildren();
  if (job) {
    const parts = [job.id, job.plannedRounds ? `${state.rounds.size} of ${job.plannedRounds} rounds` : `${state.rounds.size} rounds`];
    if (job.createdAt) parts.push(`started ${clockTime(job.createdAt)}`);
    if (job.finishedAt) parts.push(`finished ${clockTime(job.finishedAt)}`);
    meta.append(badge(job.status), job.control && job.control !== 'running' ? badge(job.control) : '', ` ${parts.join(' · ')}`);
    if (job.error) meta.append(el('span', { class: 'stale' }, ` · ${job.error}`));
  }
  const controls = $('job-controls');
  controls.hidden = !(isAdmin() && job?.control);
  if (job?.control) {
    controls.dataset.control = job.control;
    controls.querySelector('[data-action="pause"]').disabled = job.control !== 'running';
    controls.querySelector('[data-action="resume"]').disabled = job.control === 'running';
  }
  const rounds = [...state.rounds.values()].sort((a, b) => a.number - b.number);
  $('rounds').replaceChildren(...rounds.map(roundRow));
  renderPlot(rounds, job?.plannedRounds ?? 0);
  renderEvaluation();
}

// Beyond this many classes the confusion matrix is left to the JSON report, as in the terminal.
const MAX_CONFUSION_CLASSES = 12;

function renderEvaluation() {
  const section = $('evaluation');
  const assessment = state.assessment;
  section.hidden = !assessment;
  if (!assessment) return;
  const { evaluation: e, warnings, validation } = assessment;
  const names = e.classNames;
  const validationLine = $('validation');
  validationLine.replaceChildren();
  if (validation && !validation.passed) {
    validationLine.append(badge('failed'), ` validation: ${validation.failures.map((f) => `[${f.code}] ${f.message}`).join('; ')}`);
  }
  validationLine.hidden = !validation || validation.passed;
  // Warnings share their remedies; each is listed once, after the last warning.
  const suggestions = [...new Set(warnings.flatMap((w) => w.suggestions))];
  $('warnings').replaceChildren(
    ...warnings.map((w, i) =>
      el(
        'li',
        { 'data-testid': 'warning', 'data-code': w.code },
        el('strong', {}, `Warning ${w.code}: `),
        w.message,
        i === warnings.length - 1 && suggestions.length > 0
          ? el('div', { class: 'suggestions', 'data-testid': 'suggestions' }, 'What to try:', el('ul', {}, ...suggestions.map((x) => el('li', {}, x))))
          : null,
      ),
    ),
  );
  const auc = e.rocAuc === undefined ? '' : ` · ROC AUC ${fixed(e.rocAuc, 4)}`;
  $('evaluation-summary').textContent = `accuracy ${fixed(e.accuracy, 4)} on ${e.numExamples} examples · majority-class baseline ${fixed(e.baseline.accuracy, 4)} (always '${names[e.baseline.classIndex]}')${auc} · macro F1 ${fixed(e.macroF1, 4)}`;
  $('class-metrics').replaceChildren(
    ...e.classes.map((c, i) =>
      el(
        'tr',
        { 'data-testid': 'class-row', 'data-class': names[i] },
        el('th', { scope: 'row' }, names[i]),
        el('td', { class: 'num' }, fixed(c.precision, 4)),
        el('td', { class: 'num' }, fixed(c.recall, 4)),
        el('td', { class: 'num' }, fixed(c.f1, 4)),
        el('td', { class: 'num' }, String(c.support)),
      ),
    ),
  );
  const small = names.length <= MAX_CONFUSION_CLASSES;
  $('confusion-head').replaceChildren(small ? el('tr', {}, el('td', {}), ...names.map((n) => el('th', { scope: 'col', class: 'num' }, n))) : el('tr', {}, el('th', {}, `${names.length} classes: see the job's JSON report`)));
  $('confusion').replaceChildren(
    ...(small
      ? e.confusion.map((row, t) =>
          el('tr', { 'data-testid': 'confusion-row', 'data-class': names[t] }, el('th', { scope: 'row' }, names[t]), ...row.map((n, p) => el('td', { class: `num${t === p ? ' diagonal' : ''}` }, String(n)))),
        )
      : []),
  );
}

function roundRow(r) {
  return el(
    'tr',
    { 'data-testid': 'round-row', 'data-round': r.number, class: [r.live ? 'live' : '', r.accuracyDrop ? 'accuracy-drop' : ''].join(' ').trim() || null },
    el('td', {}, String(r.number)),
    el('td', {}, badge(r.status)),
    r.accuracyDrop
      ? el('td', { class: 'num', 'data-testid': 'accuracy-drop', title: `accuracy fell by ${fixed(r.accuracyDrop, 4)} since the round before` }, `${fixed(r.accuracy, 4)} ▼`)
      : el('td', { class: 'num' }, fixed(r.accuracy, 4)),
    el('td', { class: 'num' }, fixed(r.loss, 4)),
    el('td', { class: 'num' }, r.updates === null ? '…' : String(r.updates)),
    el('td', { class: 'num', title: r.participants.join(', ') }, String(r.participants.length)),
    el('td', { class: 'num' }, r.seconds === null ? '—' : `${r.seconds.toFixed(2)} s`),
  );
}

const PLOT = { width: 900, height: 250, left: 48, right: 48, top: 28, bottom: 34 };

// Rounds up to 1, 2 or 5 times a power of ten so the loss axis has readable ticks.
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((c) => c >= value);
}

function renderPlot(rounds, plannedRounds) {
  const plot = $('accuracy-plot');
  const { width, height, left, right, top, bottom } = PLOT;
  const innerW = width - left - right;
  const innerH = height - top - bottom;
  const lastRound = Math.max(plannedRounds, ...rounds.map((r) => r.number), 1);
  const x = (n) => (lastRound === 1 ? left + innerW / 2 : left + ((n - 1) / (lastRound - 1)) * innerW);
  const yAcc = (a) => top + (1 - a) * innerH;
  const lossMax = niceCeiling(Math.max(0, ...rounds.map((r) => (Number.isFinite(r.loss) ? r.loss : 0))));
  const yLoss = (l) => top + (1 - l / lossMax) * innerH;

  const layer = svg('g');
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const y = yAcc(tick);
    layer.append(
      svg('line', { class: 'grid-line', x1: left, x2: width - right, y1: y, y2: y }),
      svg('text', { class: 'axis-label', x: left - 6, y: y + 4, 'text-anchor': 'end' }, tick.toFixed(2)),
      svg('text', { class: 'axis-label', x: width - right + 6, y: y + 4 }, (tick * lossMax).toPrecision(2)),
    );
  }
  const step = Math.max(1, Math.ceil(lastRound / 12));
  for (let n = 1; n <= lastRound; n += step) {
    layer.append(svg('text', { class: 'axis-label', x: x(n), y: height - bottom + 16, 'text-anchor': 'middle' }, String(n)));
  }
  layer.append(
    svg('text', { class: 'axis-title', x: left + innerW / 2, y: height - 4, 'text-anchor': 'middle' }, 'round'),
    svg('text', { class: 'axis-title', x: left, y: top - 14, 'text-anchor': 'middle' }, 'accuracy'),
    svg('text', { class: 'axis-title', x: width - right, y: top - 14, 'text-anchor': 'middle' }, 'loss'),
  );

  const withAccuracy = rounds.filter((r) => Number.isFinite(r.accuracy));
  const withLoss = rounds.filter((r) => Number.isFinite(r.loss));
  if (withLoss.length > 1) {
    layer.append(svg('polyline', { class: 'series-loss', points: withLoss.map((r) => `${x(r.number)},${yLoss(r.loss)}`).join(' ') }));
  }
  if (withAccuracy.length > 1) {
    layer.append(svg('polyline', { class: 'series-accuracy', points: withAccuracy.map((r) => `${x(r.number)},${yAcc(r.accuracy)}`).join(' ') }));
  }
  for (const r of withLoss) {
    const point = svg('rect', { class: 'point-loss', 'data-testid': 'loss-point', 'data-round': r.number, x: x(r.number) - 3, y: yLoss(r.loss) - 3, width: 6, height: 6 });
    point.append(svg('title', {}, `round ${r.number}: loss ${fixed(r.loss, 4)}`));
    layer.append(point);
  }
  for (const r of withAccuracy) {
    const point = svg('circle', { class: 'point-accuracy', 'data-testid': 'accuracy-point', 'data-round': r.number, cx: x(r.number), cy: yAcc(r.accuracy), r: 4 });
    point.append(svg('title', {}, `round ${r.number}: accuracy ${fixed(r.accuracy, 4)}`));
    layer.append(point);
  }

  const latest = withAccuracy[withAccuracy.length - 1];
  const desc = $('plot-desc');
  desc.textContent = latest
    ? `${rounds.length} rounds; latest accuracy ${fixed(latest.accuracy, 4)}, loss ${fixed(latest.loss, 4)} after round ${latest.number}.`
    : 'No rounds yet.';
  plot.replaceChildren($('plot-title'), desc, layer);
}

// ---- market ----------------------------------------------------------------------------------

function renderMarketAssets() {
  const { assets, selectedId } = state.market;
  $('market-empty').hidden = assets.length > 0;
  $('market-assets-table').hidden = assets.length === 0;
  $('market-assets').replaceChildren(
    ...assets.map((a) => {
      const pick = el('button', { type: 'button', class: 'asset-button', 'aria-current': a.id === selectedId ? 'true' : 'false' }, a.title);
      pick.addEventListener('click', () => selectAsset(a.id));
      return el(
        'tr',
        { 'data-testid': 'market-asset-row', 'data-asset-id': a.id, class: a.id === selectedId ? 'selected' : null },
        el('td', { class: 'num' }, `#${a.id}`),
        el('td', { class: 'asset-title' }, pick),
        el('td', {}, a.category),
        el('td', {}, a.task),
        el('td', {}, a.licence),
        el('td', {}, a.regions.join(', ')),
        el('td', { class: 'num' }, String(a.rows)),
        priceCell(a.bestAsk),
        el('td', { class: 'num' }, String(a.fills)),
        el('td', { class: 'num', title: `${a.rating.count} ratings` }, a.rating.mean === null ? '—' : `${fixed(a.rating.mean, 1)} (${a.rating.count})`),
      );
    }),
  );
}

function renderMarketAsset() {
  const a = state.market.detail;
  $('market-asset-heading').textContent = a ? a.title : state.market.selectedId ? 'Loading…' : 'No asset selected';
  const meta = $('market-asset-meta');
  meta.textContent = a
    ? `#${a.id} · ${a.category} · ${a.task} · ${a.licence} · regions ${a.regions.join(', ')} · consent ${a.consent.join(', ') || '—'} · ${a.rows} rows · one unit: ${a.unit.rounds} rounds, ε ${a.unit.epsilon} · budget per buyer ε ${a.budget.epsilon}`
    : '';
  const q = a?.quality;
  $('market-quality').textContent = !a
    ? ''
    : q
      ? `Quality (signed by ${q.owner}): schema ${q.schemaValid ? 'valid' : `${q.problems} problems`} · ${q.rows} rows · duplicates ${fixed(q.duplicateFraction * 100, 1)}% · worst column missing ${fixed(q.worstMissingFraction * 100, 1)}% · ${q.outliers} outliers${q.classes === null ? '' : ` · ${q.classes} classes, majority ${fixed(q.majorityFraction * 100, 1)}%`}${q.baselineAccuracy === null ? '' : ` · baseline accuracy ${fixed(q.baselineAccuracy, 4)}`} · rating ${a.rating.mean === null ? '—' : `${fixed(a.rating.mean, 1)} of 5 from ${a.rating.count}`}`
      : 'No signed quality report published.';
  renderDepth(a?.depth ?? { bids: [], asks: [] });
  const fills = a?.fillHistory ?? [];
  $('market-fills-empty').hidden = fills.length > 0;
  $('market-fills-table').hidden = fills.length === 0;
  $('market-fills').replaceChildren(
    ...fills.map((f) =>
      el(
        'tr',
        { 'data-testid': 'market-fill-row', 'data-fill-id': f.id },
        el('td', { title: isoTime(f.at * 1000) }, new Date(f.at * 1000).toLocaleString([], { hour12: false })),
        el('td', { class: 'num' }, String(f.units)),
        priceCell(f.price),
        el('td', {}, badge(f.status, `fill-${f.status}`)),
        el('td', {}, address(f.buyer)),
        el('td', {}, address(f.seller)),
        el('td', {}, address(f.txHash)),
      ),
    ),
  );
  renderPriceChart(a?.prices ?? []);
}

function renderDepth(depth) {
  // One scale for both sides, so the bars compare bids with asks.
  const most = Math.max(1, ...depth.bids.map((l) => l.units), ...depth.asks.map((l) => l.units));
  const rows = (levels, side) =>
    levels.length === 0
      ? [el('tr', {}, el('td', { class: 'empty', colspan: 4 }, `No open ${side}.`))]
      : levels.map((l) => {
          const bar = el('span', { class: `depth-bar ${side}` });
          bar.style.width = `${((l.units / most) * 100).toFixed(1)}%`;
          return el('tr', { 'data-testid': 'depth-level', 'data-side': side, 'data-price': l.price }, priceCell(l.price), el('td', { class: 'num' }, String(l.units)), el('td', { class: 'num' }, String(l.orders)), el('td', { class: 'depth-cell' }, bar));
        });
  $('depth-bids').replaceChildren(...rows(depth.bids, 'bids'));
  $('depth-asks').replaceChildren(...rows(depth.asks, 'asks'));
  const bid = depth.bids[0];
  const ask = depth.asks[0];
  $('market-spread').textContent = bid && ask ? `best bid ${nxs(bid.price)} · best ask ${nxs(ask.price)} NXS · spread ${nxs((BigInt(ask.price) - BigInt(bid.price)).toString())}` : '';
}

const PRICE_PLOT = { width: 900, height: 220, left: 56, right: 24, top: 24, bottom: 34 };

function renderPriceChart(prices) {
  const chart = $('price-chart');
  const { width, height, left, right, top, bottom } = PRICE_PLOT;
  const innerW = width - left - right;
  const innerH = height - top - bottom;
  // Only for drawing: a double keeps about 15 significant digits, far more than a pixel needs.
  const values = prices.map((p) => Number(BigInt(p.price)) / 10 ** NXS_DECIMALS);
  const yMax = niceCeiling(Math.max(0, ...values));
  const first = prices[0]?.at ?? 0;
  const last = prices[prices.length - 1]?.at ?? 0;
  const x = (at) => (last === first ? left + innerW / 2 : left + ((at - first) / (last - first)) * innerW);
  const y = (v) => top + (1 - v / yMax) * innerH;

  const layer = svg('g');
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    layer.append(
      svg('line', { class: 'grid-line', x1: left, x2: width - right, y1: y(tick * yMax), y2: y(tick * yMax) }),
      svg('text', { class: 'axis-label', x: left - 6, y: y(tick * yMax) + 4, 'text-anchor': 'end' }, String(Number((tick * yMax).toPrecision(3)))),
    );
  }
  layer.append(svg('text', { class: 'axis-title', x: left, y: top - 10, 'text-anchor': 'middle' }, 'NXS'));
  if (prices.length > 0) {
    const when = (at) => new Date(at * 1000).toLocaleString([], { hour12: false });
    layer.append(svg('text', { class: 'axis-label', x: left, y: height - bottom + 16, 'text-anchor': 'start' }, when(first)));
    if (last !== first) layer.append(svg('text', { class: 'axis-label', x: width - right, y: height - bottom + 16, 'text-anchor': 'end' }, when(last)));
    layer.append(svg('text', { class: 'axis-title', x: left + innerW / 2, y: height - 4, 'text-anchor': 'middle' }, 'time of fill'));
    layer.append(svg('polyline', { class: 'series-price', 'data-testid': 'price-line', points: prices.map((p, i) => `${x(p.at)},${y(values[i])}`).join(' ') }));
  }
  prices.forEach((p, i) => {
    const point = svg('circle', { class: 'point-price', 'data-testid': 'price-point', cx: x(p.at), cy: y(values[i]), r: 4 });
    point.append(svg('title', {}, `${new Date(p.at * 1000).toISOString()}: ${nxs(p.price)} NXS`));
    layer.append(point);
  });
  const desc = $('price-desc');
  desc.textContent = prices.length > 0 ? `${prices.length} settled fills; latest at ${nxs(prices[prices.length - 1].price)} NXS.` : 'No settled fills yet.';
  chart.replaceChildren($('price-title'), desc, layer);
}

function percent(load) {
  return typeof load === 'number' ? ` · ${Math.round(load * 100)}%` : '';
}

function memory(mb) {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${mb} MB`;
}

function renderNodes() {
  const nodes = [...state.nodes.values()];
  $('nodes-empty').hidden = nodes.length > 0;
  $('nodes-table').hidden = nodes.length === 0;
  $('nodes').replaceChildren(
    ...nodes.map((node) => {
      const resources = node.resources ?? {};
      const stale = node.status !== 'offline' && Date.now() - node.lastHeartbeat > STALE_HEARTBEAT_MS;
      const labels = Object.entries(node.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
      return el(
        'tr',
        { 'data-testid': 'node-row', 'data-node-id': node.id },
        el('td', {}, node.id, labels ? el('span', { class: 'node-labels' }, labels) : null),
        el('td', {}, badge(node.status), stale ? el('span', { class: 'stale' }, ' stale') : null),
        el('td', { title: isoTime(node.lastHeartbeat), class: stale ? 'stale' : null }, age(node.lastHeartbeat)),
        el('td', {}, typeof resources.cpuCores === 'number' ? `${resources.cpuCores} cores${percent(resources.cpuLoad)}` : '—'),
        el('td', {}, typeof resources.memoryMb === 'number' ? `${memory(resources.memoryMb)}${percent(resources.memoryLoad)}` : '—'),
        el('td', { class: 'admin-only' }, isAdmin() ? revokeButton(node.id) : null),
      );
    }),
  );
}

function revokeButton(participantId) {
  const button = el('button', { type: 'button', class: 'danger small', 'data-testid': 'revoke', 'aria-label': `Revoke ${participantId}` }, 'Revoke');
  button.addEventListener('click', () => revoke(participantId));
  return button;
}

function renderBudgets() {
  const budgets = [...state.budgets.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
  $('budgets-empty').hidden = budgets.length > 0;
  $('budgets').replaceChildren(
    ...budgets.map((b) => {
      const name = b.kind === 'dataset' ? b.id : `${b.kind} ${b.id}`;
      const share = b.epsilon > 0 ? Math.min(1, b.spent / b.epsilon) : 1;
      const fill = el('div', { class: `bar-fill${share >= 0.9 ? ' full' : share >= 0.7 ? ' high' : ''}` });
      fill.style.width = `${(share * 100).toFixed(1)}%`;
      const bar = el(
        'div',
        { class: 'bar', role: 'meter', 'aria-label': `${name}: privacy budget spent`, 'aria-valuemin': 0, 'aria-valuemax': b.epsilon, 'aria-valuenow': b.spent, 'aria-valuetext': `epsilon ${fixed(b.spent, 2)} of ${b.epsilon}` },
        fill,
      );
      return el(
        'li',
        { 'data-testid': 'budget-item', 'data-dataset': b.id },
        el('div', { class: 'budget-head' }, el('span', { class: 'budget-name', title: name }, name), el('span', { class: 'budget-figures' }, `ε ${fixed(b.spent, 2)} / ${b.epsilon} (${Math.round(share * 100)}%)`)),
        bar,
      );
    }),
  );
}

function renderSecurity() {
  $('security-empty').hidden = state.security.length > 0;
  $('security').replaceChildren(
    ...state.security.map((e) =>
      el(
        'li',
        { 'data-testid': 'security-event', 'data-kind': e.kind },
        el('time', { datetime: isoTime(e.at), title: new Date(e.at).toLocaleString() }, clockTime(e.at)),
        el('span', {}, badge(e.kind, 'kind'), e.participant ? el('span', { class: 'participant' }, ` ${e.participant}`) : null),
        el('span', { class: 'security-detail' }, e.detail),
      ),
    ),
  );
}

// ---- start ---------------------------------------------------------------------------------

$('login-form').addEventListener('submit', (event) => void logIn(event));
$('logout').addEventListener('click', () => void logOut());
state.view = viewFromHash();
window.addEventListener('hashchange', () => showView(viewFromHash()));
for (const button of $('job-controls').querySelectorAll('button')) button.addEventListener('click', () => controlJob(button.dataset.action));
requestJson('GET', '/api/session').then(showApp, (error) => showLogin(error.status === 401 ? '' : `The coordinator did not answer: ${error.message}`));
// Heartbeat ages move with the clock, not with events.
setInterval(() => {
  if (state.operator) renderNodes();
}, 1000);
setInterval(() => {
  if (state.operator && state.view === 'market') refreshMarket().catch(reportFailure);
}, MARKET_POLL_MS);
