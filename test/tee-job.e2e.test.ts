import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../src/core/index.js';
import { aggregationEnclaveBundle, demoConfig, jobStreams, prepareCoordinatedJob, runClientTask, runJob, taskSeed, type JobConfigInput } from '../src/fl/index.js';
import { provisionWithLocalKeys } from '../src/identity/index.js';
import { LocalModel, initBackend, loadCsvDataset, type Dataset } from '../src/ml/index.js';
import { freePort } from './support/free-port.js';
import { runCli, writeParticipantData, type CliProcess } from './support/network.js';
import { findInProcessMemory } from './support/process-memory.js';

// A job whose rounds a simulated enclave aggregates, across processes: a coordinator (`serve`) that
// starts the enclave, and participant agents (`client`) that check its evidence against their own
// allow-lists before they send anything. The memory search of network-privacy.e2e.test.ts (whose
// plain-round control shows it finds updates a coordinator holds) looks for the participants'
// round-1 weights in the coordinator's process.
const PARTICIPANTS = ['clinic-a', 'clinic-b', 'clinic-c', 'clinic-d'];
const HONEST = PARTICIPANTS.slice(0, 3);
const REFUSER = 'clinic-d';

describe('privacy.tee: simulated across processes', () => {
  let dir: string;
  let kitDir: string;
  let data: Map<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-tee-'));
    kitDir = join(dir, 'kits');
    await provisionWithLocalKeys({ outDir: kitDir, participants: PARTICIPANTS, serverHost: '127.0.0.1', serverPort: await freePort() });
    data = writeParticipantData(dir, PARTICIPANTS);
    await initBackend();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const job: JobConfigInput = {
    name: 'tee-multi-krum',
    seed: 11,
    data: demoConfig().data,
    rounds: 2,
    selection: { fraction: 1, minClients: PARTICIPANTS.length },
    model: { type: 'mlp', hidden: [64] },
    training: { epochs: 1, batchSize: 32, learningRate: 0.005, optimizer: 'adam' },
    strategy: { name: 'krum', f: 0, m: 2 },
    round: { quorum: 0.75, deadlineSeconds: 120 },
    privacy: { tee: 'simulated' },
  };

  /** The honest participants' data, read as the job's agents read theirs. */
  async function honestData(): Promise<Map<string, Dataset>> {
    const coordinator = await prepareCoordinatedJob({ ...job, execution: { mode: 'in-process' } });
    const { stats, ...rules } = coordinator.data;
    const datasets = new Map<string, Dataset>();
    for (const id of HONEST) {
      datasets.set(id, (await loadCsvDataset(data.get(id) as string, { ...rules, ...(stats ? { stats: { min: Float32Array.from(stats.min), max: Float32Array.from(stats.max) } } : {}) })).dataset);
    }
    return datasets;
  }

  /** 64-byte windows of each honest participant's round-1 weights (values that moved in training), recomputed here from the same seed, data and initial model. */
  async function roundOneWeights(): Promise<Map<string, Uint8Array[]>> {
    const coordinator = await prepareCoordinatedJob({ ...job, execution: { mode: 'in-process' } });
    const init = await LocalModel.create(coordinator.spec, { seed: jobStreams(coordinator.config.seed).initSeed });
    const initial = init.getWeights();
    init.dispose();
    const model = await LocalModel.create(coordinator.spec, { seed: 0 });
    const needles = new Map<string, Uint8Array[]>();
    try {
      for (const [id, dataset] of await honestData()) {
        const { weights } = await runClientTask(model, dataset, { clientId: id, round: 1, globalWeights: initial, plan: { ...coordinator.config.training, proximalMu: 0 }, seed: taskSeed(coordinator.config.seed, 1, id) });
        // Windows a quarter of the model apart, where every value moved: an input pixel that is always blank gets no gradient, and its weights are the global model's own bytes.
        const windows: Uint8Array[] = [];
        let last = -Infinity;
        for (let start = 0; start + 16 <= weights.length && windows.length < 3; start += 16) {
          if (start < last + weights.length / 4 || !Array.from({ length: 16 }, (_, j) => weights[start + j] !== initial[start + j]).every(Boolean)) continue;
          windows.push(new Uint8Array(weights.buffer.slice(weights.byteOffset + start * 4, weights.byteOffset + (start + 16) * 4)));
          last = start;
        }
        expect(windows).toHaveLength(3);
        needles.set(id, windows);
      }
    } finally {
      model.dispose();
    }
    return needles;
  }

  it('completes Multi-Krum inside the enclave; a participant whose allow-list lacks the measurement refuses and says why; the coordinator never held a decrypted update', async () => {
    const { measurement } = await aggregationEnclaveBundle();
    const needles = roundOneWeights();
    // Awaited in the loop below; a failure there fails the test, not the worker.
    needles.catch(() => undefined);
    const files = { config: join(dir, 'tee.json'), report: join(dir, 'tee-report.json'), db: join(dir, 'tee.db'), audit: join(dir, 'tee-audit.jsonl') };
    writeFileSync(files.config, JSON.stringify(job));
    const coordinator = runCli(['--db', files.db, 'serve', '--config', files.config, '--kit-dir', kitDir, '--operator-port', '0', '--report', files.report, '--audit', files.audit, '--log-level', 'warn'], dir);
    const agents = new Map<string, CliProcess>(
      PARTICIPANTS.map((id) => {
        // The refuser allows some other enclave build only.
        const allow = id === REFUSER ? 'ab'.repeat(48) : measurement;
        return [id, runCli(['client', '--key', join(kitDir, 'participants', id, 'kit.json'), '--data', data.get(id) as string, '--tee-allow', allow], dir)];
      }),
    );
    const everyone = [coordinator, ...agents.values()];
    const outputs = (): string => everyone.map((p) => p.output()).join('\n---\n');
    const seen = new Map<string, boolean>();
    let ok = false;
    try {
      // Once round 1 is finalised the coordinator is stopped and its memory searched for each honest participant's weights.
      let exited = false;
      void coordinator.exit.then(() => (exited = true));
      while (!exited && seen.size === 0) {
        await new Promise((r) => setTimeout(r, 15));
        let db: Database.Database | undefined;
        try {
          db = new Database(files.db, { readonly: true, fileMustExist: true });
          const { n } = db.prepare("SELECT COUNT(*) AS n FROM rounds WHERE status = 'finalized'").get() as { n: number };
          if (n < 1) continue;
        } catch (error) {
          if (!/no such table|unable to open|SQLITE_BUSY|does not exist/.test(String(error))) throw error;
          continue;
        } finally {
          db?.close();
        }
        const pid = coordinator.child.pid as number;
        coordinator.child.kill('SIGSTOP');
        try {
          for (const [id, patterns] of await needles) seen.set(id, findInProcessMemory(pid, patterns).some(Boolean));
        } finally {
          coordinator.child.kill('SIGCONT');
        }
      }
      expect(await coordinator.exit, outputs()).toBe(0);
      for (const agent of agents.values()) expect(await agent.exit, outputs()).toBe(0);
      ok = true;
    } finally {
      if (!ok) for (const proc of everyone) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    }
    const report = JSON.parse(readFileSync(files.report, 'utf8'));
    expect(report.status).toBe('completed');
    expect(report.acceptedPerRound).toEqual([3, 3]);
    // Nothing per participant leaves a node under an enclave round but its ciphertext.
    expect(report.rounds.every((r: { trainLoss?: number }) => r.trainLoss === undefined)).toBe(true);
    expect(coordinator.output()).toContain(`SIMULATED (not hardware-protected), heap 512 MiB, measurement ${measurement}`);
    // The refusal, with its reason, at both ends: the coordinator logs it, the refuser says it sent nothing.
    expect(coordinator.output()).toMatch(new RegExp(`'${REFUSER}' refused round 1's enclave: refused the simulated enclave at check 'policy-measurement': measurement ${measurement} is not on the allow-list`));
    expect(agents.get(REFUSER)?.output()).toMatch(/round 1: sent nothing \[TEE_ENCLAVE_REFUSED\]/);
    for (const id of HONEST) expect(agents.get(id)?.output()).toMatch(/round 1 trained \(.*\); encrypted to the SIMULATED enclave/);
    expect([...seen.keys()].sort()).toEqual(HONEST);
    expect([...seen.values()]).toEqual(HONEST.map(() => false));

    // The same Multi-Krum over the three honest participants' plain updates, in simulation: the enclave computed what a plain coordinator would.
    const storage = openStorage({ path: ':memory:' });
    try {
      const prepared = await prepareCoordinatedJob({ ...job, execution: { mode: 'in-process' } });
      const clients = await honestData();
      const twin = await runJob(
        { config: { ...prepared.config, privacy: { ...prepared.config.privacy, tee: undefined }, selection: { fraction: 1, minClients: 3 }, round: { quorum: 1, deadlineSeconds: 120 } }, spec: prepared.spec, train: clients.values().next().value as Dataset, test: prepared.test, clients, datasetId: prepared.datasetId, adversaries: new Map() },
        storage,
      );
      expect(Math.abs(report.final.accuracy - twin.final.accuracy)).toBeLessThan(0.01);
    } finally {
      await storage.close();
    }
  }, 300_000);
});
