import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../src/core/index.js';
import { demoConfig, jobStreams, prepareCoordinatedJob, runClientTask, runJob, taskSeed, type JobConfigInput, type JobReport, type PreparedJob } from '../src/fl/index.js';
import { provisionWithLocalKeys } from '../src/identity/index.js';
import { LocalModel, initBackend, loadCsvDataset, type Dataset } from '../src/ml/index.js';
import { freePort } from './support/free-port.js';
import { runCli, writeParticipantData, type CliProcess } from './support/network.js';
import { findInProcessMemory } from './support/process-memory.js';

// Every privacy mode across processes: a coordinator (`serve`) and participant agents (`client`)
// over mutual TLS, each job compared with the same job in simulation (the same participants and
// data, in process). Seeded noise makes the DP jobs replayable, so the two runs can be compared.
const PARTICIPANTS = ['clinic-a', 'clinic-b', 'clinic-c', 'clinic-d'];
const ROUNDS = 3;

interface NetworkJob {
  report: { status: string; acceptedPerRound: number[]; final: { accuracy: number }; rounds: { bytesPerClient: number; trainLoss?: number; epsilon?: number }[]; epsilon?: number };
  coordinator: CliProcess;
  agents: Map<string, CliProcess>;
}

/** While a job runs: called with the coordinator's database and processes, every 15 ms, until it returns true. */
type Watch = (db: Database.Database, job: { coordinator: CliProcess; agents: Map<string, CliProcess> }) => boolean | Promise<boolean>;

describe('every privacy mode across processes, against the same job in simulation', () => {
  let dir: string;
  let kitDir: string;
  let data: Map<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-privacy-'));
    kitDir = join(dir, 'kits');
    await provisionWithLocalKeys({ outDir: kitDir, participants: PARTICIPANTS, serverHost: '127.0.0.1', serverPort: await freePort() });
    data = writeParticipantData(dir, PARTICIPANTS);
    await initBackend();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const config = (name: string, participants: readonly string[], extra: Partial<JobConfigInput>): JobConfigInput => ({
    name,
    seed: 11,
    data: demoConfig().data,
    rounds: ROUNDS,
    selection: { fraction: 1, minClients: participants.length },
    model: { type: 'mlp', hidden: [64] },
    training: { epochs: 1, batchSize: 32, learningRate: 0.005, optimizer: 'adam' },
    round: { quorum: 1, deadlineSeconds: 120 },
    ...extra,
  });

  /** Starts a coordinator and the participants' agents for `job`; the files it uses are named after the job. */
  function startJob(job: JobConfigInput, participants: readonly string[]): { coordinator: CliProcess; agents: Map<string, CliProcess>; files: { config: string; report: string; db: string; audit: string } } {
    const name = job.name as string;
    const files = { config: join(dir, `${name}.json`), report: join(dir, `${name}-report.json`), db: join(dir, `${name}.db`), audit: join(dir, `${name}-audit.jsonl`) };
    writeFileSync(files.config, JSON.stringify(job));
    return { coordinator: serve(files), agents: new Map(participants.map((id) => [id, runCli(['client', '--key', join(kitDir, 'participants', id, 'kit.json'), '--data', data.get(id) as string], dir)])), files };
  }

  const serve = (files: { config: string; report: string; db: string; audit: string }): CliProcess =>
    runCli(['--db', files.db, 'serve', '--config', files.config, '--kit-dir', kitDir, '--operator-port', '0', '--report', files.report, '--audit', files.audit, '--log-level', 'warn'], dir);

  /** Calls `watch` with the coordinator's database every 15 ms until it returns true or the coordinator exits; whether it did. */
  async function pollDatabase(dbFile: string, coordinator: CliProcess, watch: (db: Database.Database) => boolean | Promise<boolean>): Promise<boolean> {
    let exited = false;
    void coordinator.exit.then(() => (exited = true));
    while (!exited) {
      await new Promise((r) => setTimeout(r, 15));
      let db: Database.Database | undefined;
      try {
        db = new Database(dbFile, { readonly: true, fileMustExist: true });
        if (await watch(db)) return true;
      } catch (error) {
        // The database does not exist yet, or is mid-migration.
        if (!/no such table|unable to open|SQLITE_BUSY|does not exist/.test(String(error))) throw error;
      } finally {
        db?.close();
      }
    }
    return false;
  }

  const outputs = (procs: Iterable<CliProcess>): string => [...procs].map((p) => p.output()).join('\n---\n');

  async function networkJob(job: JobConfigInput, participants: readonly string[], watch?: Watch): Promise<NetworkJob> {
    const { coordinator, agents, files } = startJob(job, participants);
    let ok = false;
    try {
      if (watch) expect(await pollDatabase(files.db, coordinator, (db) => watch(db, { coordinator, agents })), outputs([coordinator, ...agents.values()])).toBe(true);
      expect(await coordinator.exit, outputs([coordinator, ...agents.values()])).toBe(0);
      ok = true;
    } finally {
      // A failed test leaves no process behind to hold the port for the next one.
      if (!ok) for (const proc of [coordinator, ...agents.values()]) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    }
    return { report: JSON.parse(readFileSync(files.report, 'utf8')), coordinator, agents };
  }

  async function participantData(job: JobConfigInput, participants: readonly string[]): Promise<{ prepared: PreparedJob; datasets: Map<string, Dataset> }> {
    const coordinator = await prepareCoordinatedJob({ ...job, execution: { mode: 'in-process' } });
    const { stats, ...rules } = coordinator.data;
    const datasets = new Map<string, Dataset>();
    for (const id of participants) {
      const loaded = await loadCsvDataset(data.get(id) as string, { ...rules, ...(stats ? { stats: { min: Float32Array.from(stats.min), max: Float32Array.from(stats.max) } } : {}) });
      datasets.set(id, loaded.dataset);
    }
    const train = datasets.values().next().value as Dataset;
    return { prepared: { config: coordinator.config, spec: coordinator.spec, train, test: coordinator.test, clients: datasets, datasetId: coordinator.datasetId, adversaries: new Map() }, datasets };
  }

  /** The same job in simulation: the same participants with the same data, in process. */
  async function simulated(job: JobConfigInput, participants: readonly string[]): Promise<JobReport> {
    const storage = openStorage({ path: ':memory:' });
    try {
      return await runJob((await participantData(job, participants)).prepared, storage);
    } finally {
      await storage.close();
    }
  }

  /**
   * 64-byte windows of what each participant computed in round 1 — its trained weights, and its
   * delta weighted by its share of the examples (SecAgg+'s input) — recomputed here from the same
   * seed, data and initial model, as byte patterns to look for in the coordinator's memory.
   */
  async function roundOnePlaintexts(job: JobConfigInput, participants: readonly string[]): Promise<Map<string, Uint8Array[]>> {
    const { prepared, datasets } = await participantData(job, participants);
    const { config, spec } = prepared;
    const init = await LocalModel.create(spec, { seed: jobStreams(config.seed).initSeed });
    const initial = init.getWeights();
    init.dispose();
    const model = await LocalModel.create(spec, { seed: 0 });
    const total = [...datasets.values()].reduce((s, d) => s + d.numExamples, 0);
    // Windows where every value moved in training: an unchanged weight (an input pixel that is always
    // blank gets no gradient) is the global model's own bytes, which the coordinator rightly holds.
    const windows = (values: Float32Array, moved: (k: number) => boolean): Uint8Array[] => {
      const starts: number[] = [];
      for (let start = 0; start + 16 <= values.length && starts.length < 3; start += 16) {
        if (Array.from({ length: 16 }, (_, j) => moved(start + j)).every(Boolean) && start >= (starts.at(-1) ?? -Infinity) + values.length / 4) starts.push(start);
      }
      return starts.map((start) => new Uint8Array(values.buffer.slice(values.byteOffset + start * 4, values.byteOffset + (start + 16) * 4)));
    };
    const needles = new Map<string, Uint8Array[]>();
    try {
      for (const [id, dataset] of datasets) {
        const result = await runClientTask(model, dataset, { clientId: id, round: 1, globalWeights: initial, plan: { ...config.training, proximalMu: 0 }, seed: taskSeed(config.seed, 1, id) });
        const contribution = new Float32Array(initial.length);
        for (let k = 0; k < contribution.length; k++) contribution[k] = (result.weights[k] - initial[k]) * (dataset.numExamples / total);
        const moved = (k: number): boolean => result.weights[k] !== initial[k];
        needles.set(id, [...windows(result.weights, moved), ...windows(contribution, moved)]);
        expect(needles.get(id)?.length).toBe(6);
      }
    } finally {
      model.dispose();
    }
    return needles;
  }

  /** Stops the coordinator once round 1 is finalised, searches its memory for each participant's round-1 plaintexts, and lets it go on. */
  function scanAfterRoundOne(needles: Promise<Map<string, Uint8Array[]>>, seen: Map<string, boolean>): Watch {
    return async (db, { coordinator }) => {
      const { n } = db.prepare("SELECT COUNT(*) AS n FROM rounds WHERE status = 'finalized'").get() as { n: number };
      if (n < 1) return false;
      const pid = coordinator.child.pid as number;
      coordinator.child.kill('SIGSTOP');
      try {
        for (const [id, patterns] of await needles) seen.set(id, findInProcessMemory(pid, patterns).some(Boolean));
      } finally {
        coordinator.child.kill('SIGCONT');
      }
      return true;
    };
  }

  it('plain rounds: the coordinator holds each participant’s update (the memory search finds it: a control for the SecAgg+ test)', async () => {
    const participants = PARTICIPANTS.slice(0, 3);
    const job = config('plain-control', participants, {});
    const seen = new Map<string, boolean>();
    const { report } = await networkJob(job, participants, scanAfterRoundOne(roundOnePlaintexts(job, participants), seen));
    expect(report.status).toBe('completed');
    expect([...seen.values()]).toEqual([true, true, true]);
  }, 240_000);

  it.each([
    ['sample', { mode: 'sample', noiseMultiplier: 1.0, clipNorm: 1.0, samplingRate: 0.05 }],
    ['client', { mode: 'client', noiseMultiplier: 0.3, clipNorm: 5 }],
    ['local', { mode: 'local', noiseMultiplier: 1.0, clipNorm: 0.05 }],
  ] as const)('differential privacy, %s level: charged before each round, the same epsilon and accuracy within a point of simulation', async (mode, dp) => {
    const participants = PARTICIPANTS.slice(0, 3);
    const job = config(`dp-${mode}`, participants, {
      ...(mode === 'sample' ? { training: { epochs: 1, batchSize: 32, learningRate: 0.05, optimizer: 'momentum', momentum: 0.9 } } : {}),
      privacy: { dp: { ...dp, delta: 1e-5, budget: { epsilon: 1000 }, noise: 'seeded-insecure', dataset: `network-dp-${mode}` } },
    });
    const [network, twin] = [await networkJob(job, participants), await simulated(job, participants)];
    expect(network.report.acceptedPerRound).toEqual(Array(ROUNDS).fill(3));
    expect(network.report.epsilon).toBeCloseTo(twin.privacy?.epsilon as number, 9);
    expect(network.report.rounds.map((r) => r.epsilon)).toEqual(twin.rounds.map((r) => r.epsilon));
    // No per-participant loss leaves a node under DP: it would be a release outside the accountant.
    expect(network.report.rounds.every((r) => r.trainLoss === undefined)).toBe(true);
    expect(Math.abs(network.report.final.accuracy - twin.final.accuracy)).toBeLessThan(0.01);
  }, 240_000);

  it('top-k compression on the wire: under a quarter of the float32 bytes, accuracy within a point of simulation', async () => {
    const participants = PARTICIPANTS.slice(0, 3);
    const job = config('topk', participants, { compression: { kind: 'topk', fraction: 0.1 } });
    const [network, twin] = [await networkJob(job, participants), await simulated(job, participants)];
    const params = 64 * 64 + 64 + 64 * 10 + 10;
    for (const r of network.report.rounds) expect(r.bytesPerClient).toBeLessThan(0.25 * 4 * params);
    expect(Math.abs(network.report.final.accuracy - twin.final.accuracy)).toBeLessThan(0.01);
  }, 240_000);

  it('multi-party CKKS: a committee of three decrypts only the sum; the coordinator never held a plaintext update', async () => {
    const participants = PARTICIPANTS.slice(0, 3);
    const job = config('ckks', participants, { privacy: { he: 'ckks', heCommittee: 3 } });
    const seen = new Map<string, boolean>();
    const { report } = await networkJob(job, participants, scanAfterRoundOne(roundOnePlaintexts(job, participants), seen));
    expect(report.status).toBe('completed');
    expect(report.acceptedPerRound).toEqual(Array(ROUNDS).fill(3));
    expect(report.rounds.every((r) => r.trainLoss === undefined)).toBe(true);
    expect([...seen.keys()].sort()).toEqual([...participants]);
    expect([...seen.values()]).toEqual(participants.map(() => false));
    const twin = await simulated(job, participants);
    expect(Math.abs(report.final.accuracy - twin.final.accuracy)).toBeLessThan(0.01);
  }, 300_000);

  it('a coordinator SIGKILLed in a CKKS round restarts that round under a new round context and finishes the job', async () => {
    const participants = PARTICIPANTS.slice(0, 3);
    const job = config('ckks-restart', participants, { privacy: { he: 'ckks', heCommittee: 2 } });
    const { coordinator: first, agents, files } = startJob(job, participants);
    let killedRound: string | undefined;
    try {
      // Round 2 is open and holds some ciphertexts: the coordinator dies there.
      const killed = await pollDatabase(files.db, first, (db) => {
        const open = db.prepare("SELECT r.id AS id, COUNT(u.client_id) AS n FROM rounds r LEFT JOIN updates u ON u.round_id = r.id WHERE r.status = 'open' AND r.number = 2 GROUP BY r.id").get() as { id: string; n: number } | undefined;
        if (!open || open.n < 1) return false;
        first.child.kill('SIGKILL');
        killedRound = open.id;
        return true;
      });
      expect(killed, outputs([first, ...agents.values()])).toBe(true);
      await first.exit;
      const second = serve(files);
      expect(await second.exit, outputs([second, ...agents.values()])).toBe(0);
      for (const agent of agents.values()) expect(await agent.exit, agent.output()).toBe(0);
    } finally {
      for (const proc of agents.values()) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    }
    const dbFile = files.db;
    const report = JSON.parse(readFileSync(files.report, 'utf8'));
    expect(report.resumed).toBe(true);
    expect(report.acceptedPerRound).toEqual(Array(ROUNDS).fill(3));
    const db = new Database(dbFile, { readonly: true });
    try {
      const killed = db.prepare('SELECT status, error FROM rounds WHERE id = ?').get(killedRound) as { status: string; error: string };
      expect(killed.status).toBe('failed');
      expect(killed.error).toMatch(/restarted during this protected round/);
      // The round that replaced it has its own id, the context every share, tag and key of that round is bound to.
      const numbers = db.prepare("SELECT number, status FROM rounds ORDER BY number").all() as { number: number; status: string }[];
      expect(numbers.filter((r) => r.status === 'finalized')).toHaveLength(ROUNDS);
    } finally {
      db.close();
    }
  }, 300_000);

  it('SecAgg+ with a participant killed after sending its masked input: the round completes, the coordinator never held a plaintext update', async () => {
    // Two rounds of all four; one participant is killed in round 2 once its masked vector is in.
    const job = config('secagg-kill', PARTICIPANTS, { rounds: 2, round: { quorum: 0.5, deadlineSeconds: 120 }, privacy: { secagg: { clip: 1, stageSeconds: 3 } } });
    const victim = 'clinic-d';
    const seen = new Map<string, boolean>();
    const scan = scanAfterRoundOne(roundOnePlaintexts(job, PARTICIPANTS), seen);
    let killedIn: number | undefined;
    const network = await networkJob(job, PARTICIPANTS, async (db, processes) => {
      if (seen.size === 0) await scan(db, processes);
      const sent = db.prepare('SELECT r.number AS round FROM updates u JOIN rounds r ON r.id = u.round_id WHERE u.client_id = ? AND r.number >= 2').get(victim) as { round: number } | undefined;
      if (sent && killedIn === undefined) {
        processes.agents.get(victim)?.child.kill('SIGKILL');
        killedIn = sent.round;
      }
      return seen.size > 0 && killedIn !== undefined;
    });
    const { report, agents } = network;
    expect(report.status).toBe('completed');
    expect(killedIn).toBe(2);
    // Round 2 counts the killed participant's masked vector: its self-mask is rebuilt from the others' shares.
    expect(report.acceptedPerRound).toEqual([4, 4]);
    expect(report.rounds.every((r) => r.trainLoss === undefined)).toBe(true);
    for (const [id, agent] of agents) if (id !== victim) expect(await agent.exit, agent.output()).toBe(0);
    expect([...seen.keys()].sort()).toEqual([...PARTICIPANTS]);
    expect([...seen.values()]).toEqual(PARTICIPANTS.map(() => false));
    const twin = await simulated(job, PARTICIPANTS);
    expect(Math.abs(report.final.accuracy - twin.final.accuracy)).toBeLessThan(0.01);
  }, 300_000);
});
