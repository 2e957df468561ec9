import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../src/core/index.js';
import { demoConfig, jobStreams, prepareJob, runJob, type JobReport } from '../src/fl/index.js';
import { LocalModel, concat, evaluate, initBackend, train } from '../src/ml/index.js';
import type { BenchResult } from './bench-result.js';

/** Samples the process's resident set size while `fn` runs and returns its peak in MiB. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakRssMb: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 25);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, peakRssMb: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function federated(mode: 'in-process' | 'workers'): Promise<{ report: JobReport; peakRssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cn-bench-'));
  const storage = await openStorage({ path: join(dir, 'bench.db') });
  try {
    const config = { ...demoConfig(), execution: { mode } };
    const prepared = await prepareJob(config);
    const { value, peakRssMb } = await withPeakRss(() => runJob(prepared, storage));
    return { report: value, peakRssMb };
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Centralised training of the same model, from the same initial weights, on the pooled client data for the same number of epochs. */
async function centralised(): Promise<{ seconds: number; accuracy: number; loss: number; epochs: number; peakRssMb: number }> {
  const prepared = await prepareJob(demoConfig());
  const { config, spec, test, clients } = prepared;
  await initBackend();
  const pooled = concat([...clients.values()]);
  const model = await LocalModel.create(spec, { seed: jobStreams(config.seed).initSeed });
  const epochs = config.rounds * config.training.epochs;
  const { value, peakRssMb } = await withPeakRss(async () => {
    const start = performance.now();
    await train(model, pooled, { ...config.training, proximalMu: 0, epochs, seed: config.seed });
    const seconds = (performance.now() - start) / 1000;
    return { seconds, ...(await evaluate(model, test, { batchSize: 512 })) };
  });
  model.dispose();
  return { seconds: value.seconds, accuracy: value.accuracy, loss: value.loss, epochs, peakRssMb };
}

/** Federated demo job against centralised training of the same model on the pooled data. */
export async function benchFl(): Promise<BenchResult> {
  const central = await centralised();
  const rows = [];
  for (const mode of ['in-process', 'workers'] as const) {
    const { report, peakRssMb } = await federated(mode);
    const n = report.rounds.length;
    const trainingSeconds = report.timings.trainSeconds + report.timings.aggregateSeconds + report.timings.evaluateSeconds;
    rows.push({
      mode,
      workers: report.execution.workers,
      rounds: n,
      clients: report.participants.length,
      epochs: central.epochs,
      roundSeconds: report.rounds.reduce((s, r) => s + r.seconds, 0) / n,
      trainSecondsPerRound: report.timings.trainSeconds / n,
      aggregateSecondsPerRound: report.timings.aggregateSeconds / n,
      evaluateSecondsPerRound: report.timings.evaluateSeconds / n,
      engineSecondsPerRound: (report.rounds.reduce((s, r) => s + r.seconds, 0) - trainingSeconds) / n,
      jobSeconds: report.seconds,
      accuracy: report.final.accuracy,
      peakRssMb,
      centralisedSeconds: central.seconds,
      centralisedAccuracy: central.accuracy,
      centralisedPeakRssMb: central.peakRssMb,
      timeRatio: report.seconds / central.seconds,
      accuracyGap: central.accuracy - report.final.accuracy,
    });
  }
  const header = 'mode        workers  round s  train s  aggr ms  eval ms  engine ms  job s  central s  ratio  acc     central acc  peak MiB';
  const lines = rows.map(
    (r) =>
      `${r.mode.padEnd(10)}  ${String(r.workers).padStart(7)}  ${r.roundSeconds.toFixed(3).padStart(7)}  ${r.trainSecondsPerRound.toFixed(3).padStart(7)}  ${(r.aggregateSecondsPerRound * 1000).toFixed(2).padStart(7)}  ${(r.evaluateSecondsPerRound * 1000).toFixed(1).padStart(7)}  ${(r.engineSecondsPerRound * 1000).toFixed(1).padStart(9)}  ${r.jobSeconds.toFixed(2).padStart(5)}  ${r.centralisedSeconds.toFixed(2).padStart(9)}  ${r.timeRatio.toFixed(2).padStart(5)}  ${r.accuracy.toFixed(4)}  ${r.centralisedAccuracy.toFixed(4).padStart(11)}  ${r.peakRssMb.toFixed(0).padStart(8)}`,
  );
  return {
    name: 'fl',
    description: `federated demo job (${rows[0].clients} clients, ${rows[0].rounds} rounds, Dirichlet 0.5) against centralised training for ${central.epochs} epochs on the pooled data`,
    rows,
    table: [header, ...lines].join('\n'),
  };
}
