import { openStorage } from '../src/core/index.js';
import { AggregationEnclave, aggregationEnclaveBundle, demoConfig, prepareJob, runJob, type JobConfigInput, type JobReport } from '../src/fl/index.js';

/** One job's per-round figures, plain or with the enclave aggregating. */
export interface RoundFigures {
  /** Median wall time of a round, s (training, encryption, transfer, aggregation, evaluation). */
  roundSeconds: number;
  /** Median time to combine a round's updates, s: the strategy in process, or IPC + decryption + strategy in the enclave. */
  aggregateSeconds: number;
  finalAccuracy: number;
}

/** What {@link enclaveRoundOverhead} measured: the same job in simulation without and with `privacy.tee: simulated`, in one run. */
export interface EnclaveRoundOverhead {
  clients: number;
  rounds: number;
  strategy: string;
  parameters: number;
  /** Bundling the enclave program (esbuild), once per process, s. */
  bundleSeconds: number;
  /** Starting the enclave process and initialising it (bundle already made), s. */
  launchSeconds: number;
  plain: RoundFigures;
  tee: RoundFigures;
  /** tee / plain. */
  roundRatio: number;
  aggregateRatio: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function figures(report: JobReport): RoundFigures {
  return { roundSeconds: median(report.rounds.map((r) => r.seconds)), aggregateSeconds: median(report.rounds.map((r) => r.aggregateSeconds)), finalAccuracy: report.final.accuracy };
}

/**
 * The round overhead of aggregating in a simulated enclave against plain aggregation: the same seeded
 * job (optdigits, in process) run twice, plain first. A call `bench/tee.ts` can make; the one-off
 * costs (bundling, launching) are measured apart from the rounds.
 */
export async function enclaveRoundOverhead(options: { clients?: number; rounds?: number; hidden?: number[]; strategy?: JobConfigInput['strategy'] } = {}): Promise<EnclaveRoundOverhead> {
  const clients = options.clients ?? 4;
  const rounds = options.rounds ?? 3;
  const strategy = options.strategy ?? { name: 'krum', f: 0, m: 2 };
  const config: JobConfigInput = { ...demoConfig({ clients, rounds, seed: 3 }), execution: { mode: 'in-process' }, model: { type: 'mlp', hidden: options.hidden ?? [64] }, strategy };
  let started = performance.now();
  await aggregationEnclaveBundle();
  const bundleSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const probe = await AggregationEnclave.launch({ strategy });
  const launchSeconds = (performance.now() - started) / 1000;
  await probe.destroy();
  const run = async (privacy: JobConfigInput['privacy']): Promise<JobReport> => {
    const storage = openStorage({ path: ':memory:' });
    try {
      return await runJob(await prepareJob({ ...config, privacy }), storage);
    } finally {
      await storage.close();
    }
  };
  const plainReport = await run({});
  const teeReport = await run({ tee: 'simulated' });
  const plain = figures(plainReport);
  const tee = figures(teeReport);
  const hidden = options.hidden ?? [64];
  const layers = [64, ...hidden, 10];
  const parameters = layers.slice(1).reduce((sum, width, i) => sum + layers[i] * width + width, 0);
  return { clients, rounds, strategy: strategy.name, parameters, bundleSeconds, launchSeconds, plain, tee, roundRatio: tee.roundSeconds / plain.roundSeconds, aggregateRatio: tee.aggregateSeconds / plain.aggregateSeconds };
}
