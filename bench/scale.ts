import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoConfig } from '../src/fl/index.js';
import { provisionWithLocalKeys } from '../src/identity/index.js';
import type { BenchResult } from './bench-result.js';
import { ProcessWatch, lines, nodeProcess, quantile } from './process-stats.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const main = join(root, 'src', 'cli', 'main.ts');
/** Simulated training time: each participant answers a task after a seeded delay in [0, this). */
const MAX_TRAINING_MS = 2000;

/**
 * SCALE_PARTICIPANTS, SCALE_EDGES and SCALE_ROUNDS size the run, SCALE_FLAT_PARTICIPANTS the flat job it is set beside
 * (as many by default; the target is 10,000 across 10 edges against 1,000 flat). Small by default: every process shares this machine's cores.
 */
function size(): { participants: number; flatParticipants: number; edges: number; rounds: number } {
  const read = (name: string, fallback: number): number => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of at least 1, got '${process.env[name]}'`);
    return value;
  };
  const participants = read('SCALE_PARTICIPANTS', 200);
  const edges = read('SCALE_EDGES', 2);
  if (participants % edges !== 0) throw new Error(`SCALE_PARTICIPANTS (${participants}) must be a multiple of SCALE_EDGES (${edges})`);
  return { participants, flatParticipants: read('SCALE_FLAT_PARTICIPANTS', participants), edges, rounds: read('SCALE_ROUNDS', 3) };
}

interface Served {
  child: ChildProcess;
  url: string;
  exit: Promise<number>;
  output: () => string;
}

/** Starts `cipher-nexus serve ...` and resolves once it listens for participants. */
async function serve(args: string[], dir: string): Promise<Served> {
  const child = nodeProcess([main, ...args], dir);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number>((done) => child.on('exit', (code) => done(code ?? -1)));
  const url = await new Promise<string>((done, fail) => {
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
      const match = /participants: (https:\/\/\S+)/.exec(output);
      if (match) done(match[1]);
    });
    void exit.then((code) => fail(new Error(`serve exited (${code}) before listening: ${output}`)));
  });
  return { child, url, exit, output: () => output };
}

interface Simulated {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<Record<string, number>>;
}

/** `count` simulated participants of `kitDir` (bench/network-clients.ts) connecting to `url`. */
function simulate(kitDir: string, count: number, url: string, dir: string): Simulated {
  const child = nodeProcess([join(root, 'bench', 'network-clients.ts'), kitDir, String(count), String(MAX_TRAINING_MS), url], dir);
  let markReady!: () => void;
  const ready = new Promise<void>((done) => (markReady = done));
  const done = new Promise<Record<string, number>>((finish, fail) => {
    lines(child.stdout as NodeJS.ReadableStream, (line) => {
      const event = JSON.parse(line) as { event: string; maxDelayMs?: Record<string, number>; code?: string; message?: string };
      if (event.event === 'ready') markReady();
      else if (event.event === 'done') finish(event.maxDelayMs ?? {});
      else if (event.event === 'refused') fail(new Error(`a simulated participant was refused: ${event.code} ${event.message}`));
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? undefined : fail(new Error(`simulated participants exited with ${code}: ${err}`))));
  });
  return { child, ready, done };
}

function writeJob(dir: string, name: string, rounds: number, minClients: number): string {
  const file = join(dir, `${name}.json`);
  // The demo's optdigits data rules; 64 -> 1024 -> 32 -> 10 is 99,690 parameters, the 100k.
  const job = {
    name,
    seed: 1,
    data: demoConfig().data,
    rounds,
    selection: { fraction: 1, minClients },
    model: { type: 'mlp', hidden: [1024, 32] },
    round: { quorum: 1, deadlineSeconds: 600 },
    // The poisoning detector compares every pair of updates (O(n^2 d)) and keeps them all: off for a large federation.
    detection: { enabled: false },
  };
  writeFileSync(file, JSON.stringify(job));
  return file;
}

interface Measured {
  layout: 'flat' | 'edges';
  participants: number;
  edges: number;
  rounds: number;
  numParams: number;
  latencyP50: number;
  latencyP99: number;
  /** Round latency minus the slowest simulated training of the round. */
  overheadP50: number;
  rootCpuPerRound: number;
  rootPeakRssMb: number;
  edgeCpuPerRound?: number;
  edgePeakRssMb?: number;
  accepted: number[];
}

const serveArgs = (dir: string, name: string, config: string, kitDir: string): string[] => [
  '--db', join(dir, `${name}.db`), 'serve', '--config', config, '--kit-dir', kitDir, '--operator-port', '0', '--log-level', 'error', '--report', join(dir, `${name}-report.json`), '--audit', join(dir, `${name}-audit.jsonl`), '--json',
];

function summary(dir: string, name: string, maxDelays: Record<string, number>[]): Pick<Measured, 'numParams' | 'latencyP50' | 'latencyP99' | 'overheadP50' | 'accepted'> {
  const report = JSON.parse(readFileSync(join(dir, `${name}-report.json`), 'utf8')) as { rounds: { round: number; seconds: number }[]; acceptedPerRound: number[]; model: { numParams: number } };
  const latencies = report.rounds.map((r) => r.seconds).sort((a, b) => a - b);
  const overheads = report.rounds.map((r) => r.seconds - Math.max(0, ...maxDelays.map((d) => d[String(r.round)] ?? 0)) / 1000).sort((a, b) => a - b);
  return { numParams: report.model.numParams, latencyP50: quantile(latencies, 0.5), latencyP99: quantile(latencies, 0.99), overheadP50: quantile(overheads, 0.5), accepted: report.acceptedPerRound };
}

async function flatRun(dir: string, participants: number, rounds: number): Promise<Measured> {
  const kitDir = join(dir, 'kits-flat');
  await provisionWithLocalKeys({ outDir: kitDir, participants: Array.from({ length: participants }, (_, i) => `p${String(i).padStart(4, '0')}`), serverHost: '127.0.0.1', serverPort: 0 });
  const coordinator = await serve(serveArgs(dir, 'flat', writeJob(dir, 'scale-flat', rounds, participants), kitDir), dir);
  const watch = new ProcessWatch(coordinator.child.pid as number);
  const simulated = simulate(kitDir, participants, coordinator.url, dir);
  try {
    await simulated.ready;
    const cpuAtReady = watch.lastCpuSeconds;
    const delays = await simulated.done;
    const code = await coordinator.exit;
    if (code !== 0) throw new Error(`the flat coordinator exited with ${code}: ${coordinator.output()}`);
    return { layout: 'flat', participants, edges: 0, rounds, ...summary(dir, 'flat', [delays]), rootCpuPerRound: (watch.lastCpuSeconds - cpuAtReady) / rounds, rootPeakRssMb: watch.peakRssMb };
  } finally {
    watch.stop();
    coordinator.child.kill();
    simulated.child.kill();
  }
}

async function edgeRun(dir: string, participants: number, edges: number, rounds: number): Promise<Measured> {
  const rootKits = join(dir, 'kits-root');
  const edgeIds = Array.from({ length: edges }, (_, e) => `edge-${String(e).padStart(2, '0')}`);
  await provisionWithLocalKeys({ outDir: rootKits, participants: edgeIds, serverHost: '127.0.0.1', serverPort: 0 });
  const group = participants / edges;
  for (const id of edgeIds) {
    await provisionWithLocalKeys({ outDir: join(dir, `kits-${id}`), participants: Array.from({ length: group }, (_, i) => `p${String(i).padStart(4, '0')}`), serverHost: '127.0.0.1', serverPort: 0 });
  }
  const config = writeJob(dir, 'scale-edges', rounds, edges);
  const children: ChildProcess[] = [];
  const watches: ProcessWatch[] = [];
  try {
    const rootServe = await serve(serveArgs(dir, 'root', config, rootKits), dir);
    children.push(rootServe.child);
    const rootWatch = new ProcessWatch(rootServe.child.pid as number);
    watches.push(rootWatch);
    const edgeServes: Served[] = [];
    const sims: Simulated[] = [];
    for (const id of edgeIds) {
      const edge = await serve([...serveArgs(dir, id, config, join(dir, `kits-${id}`)), '--role', 'edge', '--key', join(rootKits, 'participants', id, 'kit.json'), '--upstream', rootServe.url], dir);
      children.push(edge.child);
      edgeServes.push(edge);
      const sim = simulate(join(dir, `kits-${id}`), group, edge.url, dir);
      children.push(sim.child);
      sims.push(sim);
    }
    const edgeWatch = new ProcessWatch(edgeServes[0].child.pid as number);
    watches.push(edgeWatch);
    await Promise.all(sims.map((s) => s.ready));
    const rootCpuAtReady = rootWatch.lastCpuSeconds;
    const edgeCpuAtReady = edgeWatch.lastCpuSeconds;
    const delays = await Promise.all(sims.map((s) => s.done));
    const code = await rootServe.exit;
    if (code !== 0) throw new Error(`the root exited with ${code}: ${rootServe.output()}`);
    for (const [k, edge] of edgeServes.entries()) {
      const edgeCode = await edge.exit;
      if (edgeCode !== 0) throw new Error(`${edgeIds[k]} exited with ${edgeCode}: ${edge.output()}`);
    }
    return {
      layout: 'edges',
      participants,
      edges,
      rounds,
      ...summary(dir, 'root', delays),
      rootCpuPerRound: (rootWatch.lastCpuSeconds - rootCpuAtReady) / rounds,
      rootPeakRssMb: rootWatch.peakRssMb,
      edgeCpuPerRound: (edgeWatch.lastCpuSeconds - edgeCpuAtReady) / rounds,
      edgePeakRssMb: edgeWatch.peakRssMb,
    };
  } finally {
    for (const watch of watches) watch.stop();
    for (const child of children) child.kill();
  }
}

/** One job at N simulated participants on one flat coordinator, then the same across edges: round latency, CPU and memory of the root and of one edge. */
export async function benchScale(): Promise<BenchResult> {
  const { participants, flatParticipants, edges, rounds } = size();
  const dir = mkdtempSync(join(tmpdir(), 'cn-bench-scale-'));
  try {
    const flat = await flatRun(dir, flatParticipants, rounds);
    const tiered = await edgeRun(dir, participants, edges, rounds);
    const rows = [flat, tiered].map((r) => ({
      ...r,
      latencyToFlat: r.latencyP50 / flat.latencyP50,
      overheadToFlat: r.overheadP50 / flat.overheadP50,
      rootCpuToFlat: r.rootCpuPerRound / flat.rootCpuPerRound,
      rootRssToFlat: r.rootPeakRssMb / flat.rootPeakRssMb,
      ...(r.edgePeakRssMb !== undefined ? { edgeRssToFlat: r.edgePeakRssMb / flat.rootPeakRssMb, edgeCpuToFlat: (r.edgeCpuPerRound as number) / flat.rootCpuPerRound } : {}),
    }));
    const header = 'layout  participants  edges  rounds  params  p50 s  p99 s  x flat  overhead p50 s  x flat  root CPU s/round  x flat  root peak RSS MiB  x flat  edge CPU s/round  x flat root  edge peak RSS MiB  x flat root';
    const cell = (v: number | undefined, digits: number, width: number): string => (v === undefined ? '-' : v.toFixed(digits)).padStart(width);
    const table = rows.map(
      (r) =>
        `${r.layout.padEnd(6)}  ${String(r.participants).padStart(12)}  ${String(r.edges).padStart(5)}  ${String(r.rounds).padStart(6)}  ${String(r.numParams).padStart(6)}  ${cell(r.latencyP50, 2, 5)}  ${cell(r.latencyP99, 2, 5)}  ${cell(r.latencyToFlat, 2, 6)}  ${cell(r.overheadP50, 3, 14)}  ${cell(r.overheadToFlat, 2, 6)}  ${cell(r.rootCpuPerRound, 2, 16)}  ${cell(r.rootCpuToFlat, 2, 6)}  ${cell(r.rootPeakRssMb, 0, 17)}  ${cell(r.rootRssToFlat, 2, 6)}  ${cell(r.edgeCpuPerRound, 2, 16)}  ${cell('edgeCpuToFlat' in r ? r.edgeCpuToFlat : undefined, 2, 11)}  ${cell(r.edgePeakRssMb, 0, 17)}  ${cell('edgeRssToFlat' in r ? r.edgeRssToFlat : undefined, 2, 11)}`,
    );
    return {
      name: 'scale',
      description: `simulated participants (bench/network-clients.ts: the participant runtime, training replaced by a seeded delay under ${MAX_TRAINING_MS} ms), 100k parameters, plain FedAvg over loopback with mutual TLS and signed frames: ${flatParticipants} on one flat coordinator, then ${participants} on a root with ${edges} edges (serve --role edge) of ${participants / edges} each; x flat: against the flat coordinator in the same run; every process shares this machine's cores`,
      rows,
      table: [header, ...table].join('\n'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
