import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { demoConfig } from '../src/fl/index.js';
import { provisionWithLocalKeys } from '../src/identity/index.js';
import type { BenchResult } from './bench-result.js';
import { lines, quantile, rssMb } from './process-stats.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** Simulated training time: each participant answers a task after a seeded delay in [0, this). */
const MAX_TRAINING_MS = 2000;
/**
 * Plain rounds at 100 and 1,000 participants, and each protection at 100 beside plain at 100 in the same run. SecAgg+
 * runs as many rounds as plain at 100: a job's fixed costs (its first round's setup, the final evaluation) are spread
 * over its rounds, so fewer rounds would count more of them against the protection. CKKS runs 3 (30 s each).
 */
const RUNS: { mode: 'plain' | 'secagg' | 'ckks'; clients: number; rounds: number }[] = [
  { mode: 'plain', clients: 100, rounds: 10 },
  { mode: 'plain', clients: 1000, rounds: 5 },
  { mode: 'secagg', clients: 100, rounds: 10 },
  { mode: 'ckks', clients: 100, rounds: 3 },
];
const PRIVACY = { plain: {}, secagg: { secagg: { clip: 1, stageSeconds: 120 } }, ckks: { he: 'ckks', heCommittee: 3, heStageSeconds: 600 } } as const;

/** With NETWORK_CPU_PROF=DIR, the coordinator and the simulated participants write V8 CPU profiles there (node --cpu-prof), to find where a round's time goes. */
const PROFILE_DIR = process.env.NETWORK_CPU_PROF;

function node(args: string[], cwd: string, profiled = false): ChildProcess {
  const profile = PROFILE_DIR && profiled ? ['--cpu-prof', '--cpu-prof-dir', resolve(PROFILE_DIR)] : [];
  return spawn(process.execPath, [...profile, '--import', tsx, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * NETWORK_MODES=secagg,ckks runs only those protections (and 1000 for the plain run at 1,000); plain at
 * 100 always runs first, since every ratio is against it.
 */
function selectedRuns(): typeof RUNS {
  // NETWORK_ROUNDS=N caps every run at N rounds, for a quick look (a profile, a check of a change).
  const cap = Number(process.env.NETWORK_ROUNDS ?? Number.POSITIVE_INFINITY);
  if (!(cap >= 1)) throw new Error(`NETWORK_ROUNDS: give a whole number of rounds, at least 1; got ${process.env.NETWORK_ROUNDS}`);
  const runs = RUNS.map((r) => ({ ...r, rounds: Math.min(r.rounds, Math.floor(cap)) }));
  const wanted = process.env.NETWORK_MODES?.split(',').map((m) => m.trim()).filter((m) => m.length > 0);
  if (!wanted) return runs;
  const known = ['secagg', 'ckks', '1000'];
  const unknown = wanted.filter((m) => !known.includes(m));
  if (unknown.length > 0) throw new Error(`NETWORK_MODES: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return runs.filter((r, i) => i === 0 || wanted.includes(r.mode === 'plain' ? String(r.clients) : r.mode));
}

/**
 * The floor under the coordinator's CPU per update, measured right after each run in a fresh process
 * (bench/network-bare-check.ts; the bench process's own state after a run slowed it by half):
 * opening one signed update frame of the model's size (sha256 of its payload, Ed25519) and decoding
 * its message, ms of CPU. Any coordinator must do at least this per update.
 */
async function bareUpdateCheckMs(numParams: number, cwd: string): Promise<number> {
  const check = node([join(root, 'bench', 'network-bare-check.ts'), String(numParams)], cwd);
  let out = '';
  check.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number>((done) => check.on('exit', (c) => done(c ?? -1)));
  const ms = Number(out.trim());
  if (code !== 0 || !(ms > 0)) throw new Error(`the bare update check failed (exit ${code}): ${out}`);
  return ms;
}

/** CPU seconds (user + system) a process has used, from /proc; throws once it has exited, so the last reading stands. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Run {
  mode: string;
  clients: number;
  rounds: number;
  numParams: number;
  latencyP50: number;
  latencyP99: number;
  slowestTrainingMean: number;
  overheadP50: number;
  overheadMax: number;
  cpuSecondsPerRound: number;
  /** The coordinator's CPU per accepted update: its CPU per round over the updates the round accepted. */
  cpuMsPerUpdate: number;
  /** bareUpdateCheckMs, measured right after this run. */
  bareCheckMs: number;
  /** CPU of all the simulated participants (one process), per round: what real participants would spend on their own hosts. */
  participantsCpuPerRound: number;
  peakRssMb: number;
  idleRssMb: number;
  accepted: number[];
  /** What one participant sent per round, as the coordinator counted it (its update, and its protocol messages under a protection), KiB. */
  uploadKibPerParticipant: number;
}

async function runOnce(dir: string, kitDir: string, mode: (typeof RUNS)[number]['mode'], clients: number, rounds: number): Promise<Run> {
  const label = `${mode}-${clients}`;
  const config = join(dir, `job-${label}.json`);
  // The demo's optdigits data rules; 64 -> 1024 -> 32 -> 10 is 99,690 parameters, the 100k.
  const job = {
    name: `bench-${label}`,
    seed: 1,
    data: demoConfig().data,
    rounds,
    selection: { fraction: 1, minClients: clients },
    model: { type: 'mlp', hidden: [1024, 32] },
    round: { quorum: 1, deadlineSeconds: 600 },
    privacy: PRIVACY[mode],
    // The poisoning detector compares every pair of updates (O(n^2 d)) and keeps them all: off for a large federation.
    detection: { enabled: false },
  };
  writeFileSync(config, JSON.stringify(job));
  const report = join(dir, `report-${label}.json`);
  const coordinator = node([join(root, 'src', 'cli', 'main.ts'), '--db', join(dir, `bench-${label}.db`), 'serve', '--config', config, '--kit-dir', kitDir, '--operator-port', '0', '--log-level', 'error', '--report', report, '--audit', join(dir, `audit-${label}.jsonl`)], dir, true);
  const pid = coordinator.pid as number;
  let stderr = '';
  const url = await new Promise<string>((done, fail) => {
    coordinator.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /participants: (https:\/\/\S+)/.exec(stderr);
      if (match) done(match[1]);
    });
    coordinator.on('exit', (code) => fail(new Error(`coordinator exited (${code}) before listening: ${stderr}`)));
  });
  const coordinatorExit = new Promise<number>((done) => coordinator.on('exit', (code) => done(code ?? -1)));
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // The process has exited.
    }
  }, 50);
  const simulator = node([join(root, 'bench', 'network-clients.ts'), kitDir, String(clients), String(MAX_TRAINING_MS), url], dir, true);
  let cpuAtReady = 0;
  let participantsCpuAtReady = 0;
  let participantsCpuAtEnd = 0;
  let idleRssMb = 0;
  let maxDelays: Record<string, number> = {};
  const simulatorDone = new Promise<void>((done, fail) => {
    lines(simulator.stdout as NodeJS.ReadableStream, (line) => {
      const event = JSON.parse(line) as { event: string; maxDelayMs?: Record<string, number>; code?: string; message?: string };
      if (event.event === 'ready') {
        cpuAtReady = cpuSeconds(pid);
        participantsCpuAtReady = cpuSeconds(simulator.pid as number);
        idleRssMb = rssMb(pid);
      } else if (event.event === 'done') {
        maxDelays = event.maxDelayMs ?? {};
        done();
      } else if (event.event === 'refused') fail(new Error(`a simulated participant was refused: ${event.code} ${event.message}`));
    });
    let err = '';
    simulator.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    simulator.on('exit', (code) => (code === 0 ? done() : fail(new Error(`simulated participants exited with ${code}: ${err}`))));
  });
  let cpuAtEnd = 0;
  // The coordinator exits when the job ends: read its CPU just before, when the last round is reported.
  const cpuWatch = setInterval(() => {
    for (const [process, read] of [[pid, (v: number) => (cpuAtEnd = v)], [simulator.pid as number, (v: number) => (participantsCpuAtEnd = v)]] as const) {
      try {
        read(cpuSeconds(process));
      } catch {
        // exited
      }
    }
  }, 50);
  try {
    await simulatorDone;
  } catch (error) {
    // Leave no coordinator behind on a failed run.
    coordinator.kill();
    simulator.kill();
    clearInterval(sampler);
    clearInterval(cpuWatch);
    throw error;
  }
  const code = await coordinatorExit;
  clearInterval(sampler);
  clearInterval(cpuWatch);
  if (code !== 0) throw new Error(`coordinator exited with ${code}: ${stderr}`);
  const result = JSON.parse(readFileSync(report, 'utf8')) as { rounds: { round: number; seconds: number; bytesPerClient: number }[]; acceptedPerRound: number[]; model: { numParams: number } };
  const latencies = result.rounds.map((r) => r.seconds).sort((a, b) => a - b);
  const overheads = result.rounds.map((r) => r.seconds - (maxDelays[String(r.round)] ?? 0) / 1000).sort((a, b) => a - b);
  const slowest = result.rounds.map((r) => (maxDelays[String(r.round)] ?? 0) / 1000);
  return {
    mode,
    clients,
    rounds,
    numParams: result.model.numParams,
    latencyP50: quantile(latencies, 0.5),
    latencyP99: quantile(latencies, 0.99),
    slowestTrainingMean: slowest.reduce((a, b) => a + b, 0) / slowest.length,
    overheadP50: quantile(overheads, 0.5),
    overheadMax: overheads[overheads.length - 1],
    cpuSecondsPerRound: (cpuAtEnd - cpuAtReady) / rounds,
    cpuMsPerUpdate: ((cpuAtEnd - cpuAtReady) * 1000) / Math.max(1, result.acceptedPerRound.reduce((a, b) => a + b, 0)),
    bareCheckMs: await bareUpdateCheckMs(result.model.numParams, dir),
    participantsCpuPerRound: (participantsCpuAtEnd - participantsCpuAtReady) / rounds,
    peakRssMb: peak,
    idleRssMb,
    accepted: result.acceptedPerRound,
    uploadKibPerParticipant: result.rounds.reduce((a, r) => a + r.bytesPerClient, 0) / Math.max(1, result.rounds.length) / 1024,
  };
}

/** Rounds of 100 and 1000 simulated participants over loopback WebSockets (mutual TLS, signed frames), 100k parameters each. */
export async function benchNetwork(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cn-bench-net-'));
  try {
    const kitDir = join(dir, 'kits');
    const runsWanted = selectedRuns();
    const most = Math.max(...runsWanted.map((r) => r.clients));
    const provisionStart = performance.now();
    await provisionWithLocalKeys({ outDir: kitDir, participants: Array.from({ length: most }, (_, i) => `p${String(i).padStart(4, '0')}`), serverHost: '127.0.0.1', serverPort: 0 });
    const provisionSeconds = (performance.now() - provisionStart) / 1000;
    const runs: Run[] = [];
    for (const run of runsWanted) runs.push(await runOnce(dir, kitDir, run.mode, run.clients, run.rounds));
    const base = runs[0];
    const rows = runs.map((r) => ({
      ...r,
      provisionSeconds,
      // Memory should grow with the model, not with the participants: the ratio to plain at 100.
      peakRssRatio: r.peakRssMb / base.peakRssMb,
      // Round overhead set beside the slowest participant's training in the same round.
      overheadToTraining: r.overheadP50 / r.slowestTrainingMean,
      // Each protection against plain rounds of as many participants in the same run.
      overheadToPlain: r.overheadP50 / base.overheadP50,
      cpuToPlain: r.cpuSecondsPerRound / base.cpuSecondsPerRound,
      // The coordinator's CPU per update against the bare check of one update, measured after the same run.
      cpuPerUpdateToBareCheck: r.cpuMsPerUpdate / r.bareCheckMs,
      // What one machine per participant would pay: the participants' CPU here is serialised in one process, so the
      // measured latency above charges every participant's protection work to the round. Per participant it is the
      // mean (key holders of a CKKS round do more than the others), and the estimate is the coordinator's CPU per
      // round plus one participant's, assuming neither overlaps the other and leaving out the wire.
      participantCpuPerRound: r.participantsCpuPerRound / r.clients,
      participantCpuToPlain: r.participantsCpuPerRound / r.clients / (base.participantsCpuPerRound / base.clients),
      deployedOverhead: r.cpuSecondsPerRound + r.participantsCpuPerRound / r.clients,
      deployedOverheadToPlain: (r.cpuSecondsPerRound + r.participantsCpuPerRound / r.clients) / (base.cpuSecondsPerRound + base.participantsCpuPerRound / base.clients),
      // Bytes bound what any protection can cost: each one is read, checked and moved at least once.
      uploadToPlain: r.uploadKibPerParticipant / base.uploadKibPerParticipant,
    }));
    const header = 'mode    clients  rounds  params  p50 s  p99 s  slowest train s  overhead p50 s  overhead max s  x plain  CPU s/round  x plain  participants CPU s/round  CPU s/round/participant  x plain  coord+1 participant CPU s  x plain  peak RSS MiB  RSS ratio  coord CPU ms/update  bare check ms  x bare  upload KiB/participant  x plain';
    const table = rows.map(
      (r) =>
        `${r.mode.padEnd(6)}  ${String(r.clients).padStart(7)}  ${String(r.rounds).padStart(6)}  ${String(r.numParams).padStart(6)}  ${r.latencyP50.toFixed(2).padStart(5)}  ${r.latencyP99.toFixed(2).padStart(5)}  ${r.slowestTrainingMean.toFixed(2).padStart(15)}  ${r.overheadP50.toFixed(3).padStart(14)}  ${r.overheadMax.toFixed(3).padStart(14)}  ${r.overheadToPlain.toFixed(2).padStart(7)}  ${r.cpuSecondsPerRound.toFixed(2).padStart(11)}  ${r.cpuToPlain.toFixed(2).padStart(7)}  ${r.participantsCpuPerRound.toFixed(2).padStart(24)}  ${r.participantCpuPerRound.toFixed(3).padStart(23)}  ${r.participantCpuToPlain.toFixed(2).padStart(7)}  ${r.deployedOverhead.toFixed(2).padStart(25)}  ${r.deployedOverheadToPlain.toFixed(2).padStart(7)}  ${r.peakRssMb.toFixed(0).padStart(12)}  ${r.peakRssRatio.toFixed(2).padStart(9)}  ${r.cpuMsPerUpdate.toFixed(2).padStart(19)}  ${r.bareCheckMs.toFixed(2).padStart(13)}  ${r.cpuPerUpdateToBareCheck.toFixed(1).padStart(6)}  ${r.uploadKibPerParticipant.toFixed(0).padStart(22)}  ${r.uploadToPlain.toFixed(2).padStart(7)}`,
    );
    return {
      name: 'network',
      description: `coordinator over loopback WebSockets with mutual TLS and signed frames; simulated participants (the participant runtime, running each protection's real protocol, all in one process on the same 2 cores) answer after a seeded training delay under ${MAX_TRAINING_MS} ms and send a heartbeat at the interval the coordinator gives (5 s), as an agent does; x plain: against plain rounds of 100 in the same run; overhead: latency minus the slowest simulated training; coord+1 participant CPU: the coordinator's CPU per round plus one participant's mean CPU per round, the round overhead a deployment with one machine per participant would see if neither overlapped the other (wire time not included); coord CPU ms/update: the coordinator's CPU (all its threads, TLS and kernel included) per accepted update; bare check: opening one signed update frame of the model's size (sha256 + Ed25519) and decoding it, measured in a fresh process right after the run, x bare the ratio; upload: what one participant sent per round as the coordinator counted it (update and protocol messages); provisioning ${most} kits took ${provisionSeconds.toFixed(1)} s`,
      rows,
      table: [header, ...table].join('\n'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
