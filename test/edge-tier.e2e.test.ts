import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectStorage } from '../src/core/index.js';
import { aggregationEnclaveBundle, demoConfig } from '../src/fl/index.js';
import { loadParticipantKit, provisionWithLocalKeys } from '../src/identity/index.js';
import { freePort } from './support/free-port.js';
import { urlWithSchema } from './support/postgres-server.js';
import { runCli, writeParticipantData, type CliProcess } from './support/network.js';

const GROUPS = { 'edge-1': ['site-a', 'site-b'], 'edge-2': ['site-c', 'site-d'] } as const;
const EDGES = Object.keys(GROUPS) as (keyof typeof GROUPS)[];
const SITES = EDGES.flatMap((edge) => [...GROUPS[edge]]);
const ROUNDS = 2;
const postgresUrl = inject('postgresUrl');
const admin = new pg.Pool({ connectionString: postgresUrl, max: 1 });
afterAll(() => admin.end());

/** The final model's weights a `serve` left in its database. */
async function finalWeights(db: string, report: { model: { id: string; version: number } }): Promise<Float32Array> {
  const storage = await connectStorage(db);
  try {
    const version = await storage.models.getVersion(report.model.id, report.model.version);
    if (!version) throw new Error(`no version ${report.model.version} in ${db}`);
    return version.weights;
  } finally {
    await storage.close();
  }
}

describe('edge aggregation across processes: a root, 2 edges and 4 participants against the same job flat', () => {
  let dir: string;
  const kits = { root: '', flat: '', 'edge-1': '', 'edge-2': '' };
  let data: Map<string, string>;
  let job: Record<string, unknown>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-edge-'));
    for (const name of Object.keys(kits) as (keyof typeof kits)[]) kits[name] = join(dir, `kits-${name}`);
    await provisionWithLocalKeys({ outDir: kits.root, participants: EDGES, serverHost: '127.0.0.1', serverPort: await freePort() });
    await provisionWithLocalKeys({ outDir: kits.flat, participants: SITES, serverHost: '127.0.0.1', serverPort: await freePort() });
    for (const edge of EDGES) await provisionWithLocalKeys({ outDir: kits[edge], participants: [...GROUPS[edge]], serverHost: '127.0.0.1', serverPort: await freePort() });
    data = writeParticipantData(dir, SITES);
    job = {
      name: 'edge-e2e',
      seed: 11,
      data: demoConfig().data,
      rounds: ROUNDS,
      model: { type: 'mlp', hidden: [16] },
      training: { epochs: 1, batchSize: 32, learningRate: 0.01, optimizer: 'adam' },
      strategy: { name: 'fedavg' },
      round: { quorum: 1, deadlineSeconds: 120 },
    };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const writeJob = (name: string, minClients: number, extra: Record<string, unknown> = {}): string => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ ...job, selection: { fraction: 1, minClients }, ...extra }));
    return file;
  };
  const serve = (name: string, config: string, kitDir: string, extra: string[] = []): CliProcess =>
    runCli(['--db', join(dir, `${name}.db`), 'serve', '--config', config, '--kit-dir', kitDir, '--operator-port', '0', '--report', join(dir, `${name}-report.json`), '--audit', join(dir, `${name}-audit.jsonl`), '--log-level', 'warn', ...extra], dir);
  const client = (kitDir: string, site: string, extra: string[] = []): CliProcess => runCli(['client', '--key', join(kitDir, 'participants', site, 'kit.json'), '--data', data.get(site) as string, ...extra], dir);
  const report = (name: string) => JSON.parse(readFileSync(join(dir, `${name}-report.json`), 'utf8'));

  it('the root FedAvg of the edges FedAvgs is the flat FedAvg and DP-SGD costs each participant the same epsilon; the root sees only the edges, each edge only its own participants', async () => {
    // The flat job and the tiered one run side by side (their own kits and ports): seeded training and seeded
    // (test-only) DP noise make each participant's update the same whenever it runs.
    const dp = { mode: 'sample', noiseMultiplier: 1, clipNorm: 1, samplingRate: 0.05, budget: { epsilon: 1000 }, noise: 'seeded-insecure' };
    const flatConfig = writeJob('flat', SITES.length, { privacy: { dp: { ...dp, dataset: 'edge-e2e-flat' } } });
    const flat = serve('flat', flatConfig, kits.flat);
    const flatClients = SITES.map((site) => client(kits.flat, site));
    const rootConfig = writeJob('root', EDGES.length, { privacy: { dp: { ...dp, dataset: 'edge-e2e-tiered' } } });
    const root = serve('root', rootConfig, kits.root, ['--role', 'root']);
    const edges = EDGES.map((edge) => serve(edge, rootConfig, kits[edge], ['--role', 'edge', '--key', join(kits.root, 'participants', edge, 'kit.json')]));
    const sites = EDGES.flatMap((edge) => GROUPS[edge].map((site) => client(kits[edge], site)));
    expect(await flat.exit, flat.output()).toBe(0);
    for (const c of flatClients) expect(await c.exit, c.output()).toBe(0);
    expect(await root.exit, root.output()).toBe(0);
    for (const e of edges) expect(await e.exit, e.output()).toBe(0);
    for (const c of sites) expect(await c.exit, c.output()).toBe(0);

    const flatReport = report('flat');
    const rootReport = report('root');
    expect(rootReport.status).toBe('completed');
    expect(rootReport.acceptedPerRound).toEqual(Array(ROUNDS).fill(EDGES.length));
    for (const round of rootReport.rounds) expect([...round.participants].sort()).toEqual([...EDGES]);
    // DP is accounted where the participants are known: each edge charges its own what the flat job charged its.
    expect(flatReport.epsilon).toBeGreaterThan(0);
    expect(rootReport.epsilon).toBeUndefined();
    expect(root.output()).toContain('sample-level DP runs inside each edge group');
    for (const edge of EDGES) {
      const edgeReport = report(edge);
      expect(edgeReport.epsilon).toBeCloseTo(flatReport.epsilon, 9);
      expect(edgeReport.acceptedPerRound).toEqual(Array(ROUNDS).fill(GROUPS[edge].length));
      for (const round of edgeReport.rounds) expect([...round.participants].sort()).toEqual([...GROUPS[edge]]);
      expect(edges[EDGES.indexOf(edge)].output()).toMatch(/upstream job job-\S+ completed/);
    }
    expect(Math.abs(rootReport.final.accuracy - flatReport.final.accuracy)).toBeLessThanOrEqual(0.01);
    // Local training is seeded per participant and round: only float rounding of the two-level mean differs.
    const hierarchical = await finalWeights(join(dir, 'root.db'), rootReport);
    const single = await finalWeights(join(dir, 'flat.db'), flatReport);
    expect(hierarchical.length).toBe(single.length);
    let worst = 0;
    for (let k = 0; k < single.length; k++) worst = Math.max(worst, Math.abs(hierarchical[k] - single[k]));
    expect(worst).toBeLessThan(1e-5);
    // The rounds moved the model: the agreement is not two untrained copies of the initial weights.
    const initial = await finalWeights(join(dir, 'root.db'), { model: { id: rootReport.model.id, version: 1 } });
    expect(Math.max(...single.map((w, k) => Math.abs(w - initial[k])))).toBeGreaterThan(100 * worst);
    expect(rootReport.final.accuracy).toBeGreaterThan(0.5);
  }, 300_000);

  it('SecAgg+, CKKS and an enclave inside each edge group: the edges take masked vectors, ciphertexts or sealed updates, the root plain group means, and the job learns', async () => {
    // The three tiered jobs run side by side, each a root with one edge of two participants (the root sees only the
    // edge either way), CKKS and the enclave on kits of their own (other ports).
    const ONE = ['edge-1'] as const;
    const kitsFor = async (name: string): Promise<Record<'root' | (typeof EDGES)[number], string>> => {
      const own = { root: join(dir, `kits-${name}-root`), 'edge-1': join(dir, `kits-${name}-edge-1`), 'edge-2': join(dir, `kits-${name}-edge-2`) };
      await provisionWithLocalKeys({ outDir: own.root, participants: EDGES, serverHost: '127.0.0.1', serverPort: await freePort() });
      for (const edge of ONE) await provisionWithLocalKeys({ outDir: own[edge], participants: [...GROUPS[edge]], serverHost: '127.0.0.1', serverPort: await freePort() });
      return own;
    };
    const { measurement } = await aggregationEnclaveBundle();
    const tiered = (name: string, privacy: Record<string, unknown>, kitsOf: Record<'root' | (typeof EDGES)[number], string>, clientArgs: string[] = []) => {
      const config = writeJob(`${name}-root`, ONE.length, { privacy });
      const root = serve(`${name}-root`, config, kitsOf.root, ['--role', 'root']);
      const edges = ONE.map((edge) => serve(`${name}-${edge}`, config, kitsOf[edge], ['--role', 'edge', '--key', join(kitsOf.root, 'participants', edge, 'kit.json')]));
      // Each participant accepts only the protection of its job (`--protection`): its edge could not downgrade it.
      const sites = ONE.flatMap((edge) => GROUPS[edge].map((site) => client(kitsOf[edge], site, ['--protection', name, ...clientArgs])));
      return { name, root, edges, sites };
    };
    const runs = [
      tiered('secagg', { secagg: { clip: 1, stageSeconds: 20 } }, kits),
      tiered('ckks', { he: 'ckks', heCommittee: 2, heStageSeconds: 60 }, await kitsFor('ckks')),
      tiered('tee', { tee: 'simulated' }, await kitsFor('tee'), ['--tee-allow', measurement]),
    ];
    const protection = { secagg: 'SecAgg+', ckks: 'CKKS', tee: 'aggregation in a simulated enclave' } as Record<string, string>;
    for (const { name, root, edges, sites } of runs) {
      expect(await root.exit, root.output()).toBe(0);
      for (const e of edges) expect(await e.exit, e.output()).toBe(0);
      for (const c of sites) expect(await c.exit, c.output()).toBe(0);
      expect(root.output()).toContain(`${protection[name]} runs inside each edge group`);
      const rootReport = report(`${name}-root`);
      expect(rootReport.status).toBe('completed');
      expect(rootReport.acceptedPerRound).toEqual(Array(ROUNDS).fill(ONE.length));
      for (const round of rootReport.rounds) expect(round.participants).toEqual(ONE);
      // Each edge ran its group's rounds under the protection: masked vectors, ciphertexts or updates sealed to the
      // enclave, more than the plain float32 update the root took from the edge, and no participant's training loss released.
      for (const edge of ONE) {
        const edgeReport = report(`${name}-${edge}`);
        expect(edgeReport.acceptedPerRound).toEqual(Array(ROUNDS).fill(GROUPS[edge].length));
        for (const [k, round] of edgeReport.rounds.entries()) {
          if (name !== 'tee') expect(round.trainLoss).toBeUndefined();
          expect(round.bytesPerClient).toBeGreaterThan(rootReport.rounds[k].bytesPerClient);
        }
        if (name === 'tee') expect(edges[ONE.indexOf(edge)].output()).toContain(`measurement ${measurement}`);
        expect(edges[ONE.indexOf(edge)].output()).toMatch(/upstream job job-\S+ completed/);
      }
      expect(rootReport.final.accuracy, name).toBeGreaterThan(0.5);
    }
  }, 300_000);

  it('an edge killed mid-job is replaced by its standby on the same PostgreSQL database: its participants reconnect to the standby and the job completes', async () => {
    const schema = `cn_edge_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    const db = urlWithSchema(postgresUrl, schema);
    const config = writeJob('standby-root', 1, { rounds: 3 });
    const root = serve('standby-root', config, kits.root);
    const edgeArgs = ['--role', 'edge', '--key', join(kits.root, 'participants', 'edge-1', 'kit.json')];
    const onShared = (name: string, extra: string[]): CliProcess =>
      runCli(['--db', db, 'serve', '--config', config, '--kit-dir', kits['edge-1'], '--operator-port', '0', '--report', join(dir, `${name}-report.json`), '--audit', join(dir, `${name}-audit.jsonl`), '--log-level', 'warn', ...edgeArgs, ...extra], dir);
    const started: CliProcess[] = [root];
    try {
      const active = onShared('standby-edge-a', []);
      started.push(active);
      // The standby starts once the active edge holds the group's lease.
      await expect.poll(() => /started job/.test(active.output()), { timeout: 60_000, interval: 100 }).toBe(true);
      const standbyPort = await freePort();
      const standby = onShared('standby-edge-b', ['--standby', '--port', String(standbyPort)]);
      // A second edge of the same group on that database without --standby is refused and starts nothing.
      const second = onShared('standby-edge-c', ['--port', String(await freePort())]);
      started.push(standby, second);
      expect(await second.exit, second.output()).toBe(2);
      expect(second.output()).toMatch(/error \[COORDINATOR_ACTIVE\]: another coordinator serves edge edge-1 of job edge-e2e .*--standby/);
      // The participants start once the standby waits, so that the job cannot end before the active edge is killed.
      await expect.poll(() => standby.output(), { timeout: 60_000, interval: 100 }).toMatch(/standby: +another coordinator serves edge edge-1 of job edge-e2e; waiting/);
      const activeUrl = loadParticipantKit(join(kits['edge-1'], 'participants', GROUPS['edge-1'][0], 'kit.json')).coordinatorUrl;
      const sites = GROUPS['edge-1'].map((site) => client(kits['edge-1'], site, ['--server', `${activeUrl},https://127.0.0.1:${standbyPort}`]));
      started.push(...sites);
      await expect.poll(() => /round 1 \(edge\)/.test(active.output()), { timeout: 120_000, interval: 200 }).toBe(true);
      active.child.kill('SIGKILL');
      expect(await active.exit).toBe(128);
      expect(await root.exit, root.output()).toBe(0);
      expect(await standby.exit, standby.output()).toBe(0);
      for (const c of sites) expect(await c.exit, c.output()).toBe(0);
      const rootReport = report('standby-root');
      expect(rootReport.status).toBe('completed');
      expect(rootReport.acceptedPerRound).toEqual([1, 1, 1]);
      expect(standby.output()).toMatch(/standby: +took over edge edge-1 of job edge-e2e/);
      expect(standby.output()).toMatch(/upstream job job-\S+ completed/);
    } finally {
      for (const p of started) p.child.kill();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  }, 240_000);

  it('refuses a job an edge cannot run yet with one line naming the field, exit code 2', async () => {
    const anonymous = writeJob('anonymous', 2, { privacy: { anonymous: true } });
    const edge = serve('refused', anonymous, kits['edge-1'], ['--role', 'edge', '--key', join(kits.root, 'participants', 'edge-1', 'kit.json')]);
    try {
      expect(await edge.exit, edge.output()).toBe(2);
    } finally {
      edge.child.kill();
    }
    expect(edge.output()).toMatch(/error \[EDGE_UNSUPPORTED\]: config field 'privacy\.anonymous'/);
    const stray = serve('stray', writeJob('stray', 2), kits.flat, ['--upstream', 'https://127.0.0.1:9']);
    expect(await stray.exit, stray.output()).toBe(2);
    expect(stray.output()).toMatch(/--upstream is for --role edge/);
  }, 60_000);

  it('an edge given another job than the root serves stops with the difference named, and tells its participants the job failed', async () => {
    const root = serve('mismatch-root', writeJob('mismatch-root', 1), kits.root);
    const other = writeJob('mismatch-edge', 1, { model: { type: 'mlp', hidden: [8] } });
    const edge = serve('mismatch-edge', other, kits['edge-1'], ['--role', 'edge', '--key', join(kits.root, 'participants', 'edge-1', 'kit.json')]);
    const sites = GROUPS['edge-1'].map((site) => client(kits['edge-1'], site));
    try {
      expect(await edge.exit, edge.output()).toBe(1);
      expect(edge.output()).toMatch(/error \[EDGE_UPSTREAM_MISMATCH\]: the upstream coordinator's job differs from this edge's --config in the model/);
      for (const c of sites) expect(await c.exit, c.output()).toBe(1);
    } finally {
      root.child.kill();
      await root.exit;
    }
  }, 120_000);
});
