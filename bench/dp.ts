import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { openStorage } from '../src/core/index.js';
import { demoConfig, jobStreams, prepareJob, runJob, type JobConfigInput } from '../src/fl/index.js';
import { LocalModel, concat, initBackend, train, trainDpSgd, validateModelSpec } from '../src/ml/index.js';
import { SecureNoiseSource, computeEpsilon, defaultGridStep, gaussianMechanism } from '../src/privacy/dp/index.js';
import type { BenchResult } from './bench-result.js';

const EPOCHS = 3;

/** Seconds per epoch of plain training and of DP-SGD on the pooled optdigits data, same model and expected batch. */
async function slowdown(model: 'mlp' | 'cnn'): Promise<Record<string, unknown>> {
  const prepared = await prepareJob(demoConfig());
  const pooled = concat([...prepared.clients.values()]);
  const spec = validateModelSpec(
    model === 'mlp'
      ? prepared.spec
      : { type: 'cnn', inputShape: [8, 8, 1], conv: [{ filters: 8, kernelSize: 3, pool: 2 }], dense: [32], numClasses: 10 },
  );
  const data = model === 'mlp' ? pooled : { ...pooled, featureShape: [8, 8, 1] };
  await initBackend();
  const batchSize = 64;
  const q = batchSize / data.numExamples;
  const seed = jobStreams(1).initSeed;
  const plainModel = await LocalModel.create(spec, { seed });
  const dpModel = await LocalModel.create(spec, { seed });
  // One warm-up epoch each so that neither figure includes kernel compilation.
  await train(plainModel, data, { epochs: 1, batchSize, learningRate: 0.05, optimizer: 'momentum', seed: 1 });
  await trainDpSgd(dpModel, data, { epochs: 1, samplingRate: q, noiseMultiplier: 1, l2NormClip: 1, learningRate: 0.05, optimizer: 'momentum', noise: new SecureNoiseSource() });
  const plain = await train(plainModel, data, { epochs: EPOCHS, batchSize, learningRate: 0.05, optimizer: 'momentum', seed: 2 });
  const dp = await trainDpSgd(dpModel, data, { epochs: EPOCHS, samplingRate: q, noiseMultiplier: 1, l2NormClip: 1, learningRate: 0.05, optimizer: 'momentum', noise: new SecureNoiseSource() });
  plainModel.dispose();
  dpModel.dispose();
  return {
    kind: 'slowdown',
    model,
    params: plainModel.numParams,
    examples: data.numExamples,
    expectedBatch: batchSize,
    plainSecondsPerEpoch: plain.seconds / EPOCHS,
    dpSecondsPerEpoch: dp.seconds / EPOCHS,
    ratio: dp.seconds / plain.seconds,
  };
}

/** The demo's DP-SGD job at one noise multiplier (0: the same job without DP, the baseline). */
async function curvePoint(noiseMultiplier: number): Promise<Record<string, unknown>> {
  const base = demoConfig({ dp: true });
  const dp = base.privacy?.dp as NonNullable<NonNullable<JobConfigInput['privacy']>['dp']>;
  const config: JobConfigInput =
    noiseMultiplier === 0
      ? { ...base, privacy: {} }
      : { ...base, privacy: { dp: { ...dp, noiseMultiplier, budget: { epsilon: 1000 }, dataset: `bench-${noiseMultiplier}` } } };
  const storage = openStorage({ path: ':memory:' });
  try {
    const report = await runJob(await prepareJob(config), storage);
    return {
      kind: 'curve',
      noiseMultiplier,
      rounds: report.rounds.length,
      epsilon: report.privacy?.epsilon ?? null,
      delta: report.privacy?.delta ?? null,
      accuracy: report.final.accuracy,
      seconds: report.seconds,
    };
  } finally {
    await storage.close();
  }
}

/** How long `cipher-nexus dp epsilon` takes for the TF Privacy MNIST vector, in-process and as a command. */
function calculator(): Record<string, unknown> {
  const start = performance.now();
  const { epsilon } = computeEpsilon(256 / 60000, 1.1, 14062, 1e-5, 'classic');
  const libraryMs = performance.now() - start;
  const cli = new URL('../dist/cli/main.js', import.meta.url);
  const t = performance.now();
  execFileSync(process.execPath, [cli.pathname, 'dp', 'epsilon', '--sampling-rate', String(256 / 60000), '--noise-multiplier', '1.1', '--steps', '14062', '--delta', '1e-5', '--json']);
  const commandMs = performance.now() - t;
  const t0 = performance.now();
  execFileSync(process.execPath, ['-e', '0']);
  const nodeStartMs = performance.now() - t0;
  return { kind: 'calculator', epsilon, libraryMs, commandMs, nodeStartMs };
}

/**
 * The Box–Muller sampler the noise sources used before the exact one (floating-point N(0, sigma^2)
 * from node:crypto uniforms, two draws per pair): kept here only as the baseline of `sampler`.
 */
function boxMuller(n: number, sigma: number): Float64Array {
  const out = new Float64Array(n);
  const words = new Uint32Array(2 * Math.ceil(n / 2));
  randomFillSync(words);
  for (let k = 0; k < n; k += 2) {
    const radius = sigma * Math.sqrt(-2 * Math.log((words[k] + 0.5) / 2 ** 32));
    const angle = 2 * Math.PI * ((words[k + 1] + 0.5) / 2 ** 32);
    out[k] = radius * Math.cos(angle);
    if (k + 1 < n) out[k + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** Milliseconds to noise a 100k-parameter update: the exact discrete Gaussian mechanism (round to the grid, CKS 2020 sampler) against Box–Muller, best of five each, in the same run. */
export function benchNoiseSampler(): Record<string, unknown> {
  const d = 100_000;
  const update = new Float64Array(d).map((_, k) => Math.sin(k) * 1e-3);
  const source = new SecureNoiseSource();
  const best = (f: () => void): number => {
    let min = Infinity;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      f();
      min = Math.min(min, performance.now() - t);
    }
    return min;
  };
  const discreteMs = best(() => gaussianMechanism(update, { l2Sensitivity: 1, noiseMultiplier: 1 }, source));
  const boxMullerMs = best(() => {
    const noise = boxMuller(d, 1);
    for (let k = 0; k < d; k++) noise[k] += update[k];
  });
  return { kind: 'sampler', parameters: d, gridStep: defaultGridStep(1, d), discreteMs, boxMullerMs, ratio: discreteMs / boxMullerMs };
}

/** DP-SGD cost against plain training, and the accuracy/epsilon curve of the demo job. */
export async function benchDp(): Promise<BenchResult> {
  const rows: Record<string, unknown>[] = [await slowdown('mlp'), await slowdown('cnn')];
  for (const sigma of [0, 0.7, 1.0, 1.5, 2.5]) rows.push(await curvePoint(sigma));
  rows.push(calculator());
  rows.push(benchNoiseSampler());
  const f = (x: unknown, d: number): string => (typeof x === 'number' ? x.toFixed(d) : '-');
  const lines = [
    'DP-SGD against plain training, seconds per epoch on the pooled optdigits data (expected batch 64):',
    'model  params  plain s/epoch  DP-SGD s/epoch  ratio',
    ...rows
      .filter((r) => r.kind === 'slowdown')
      .map((r) => `${String(r.model).padEnd(5)}  ${String(r.params).padStart(6)}  ${f(r.plainSecondsPerEpoch, 3).padStart(13)}  ${f(r.dpSecondsPerEpoch, 3).padStart(14)}  ${f(r.ratio, 2).padStart(5)}`),
    '',
    'accuracy against epsilon, demo job with sample-level DP-SGD (q 0.05, C 1, 30 rounds of 20 steps, delta 1e-5):',
    'noise multiplier  epsilon  accuracy  seconds',
    ...rows
      .filter((r) => r.kind === 'curve')
      .map((r) => `${(r.noiseMultiplier === 0 ? 'none' : f(r.noiseMultiplier, 1)).padStart(16)}  ${(r.epsilon === null ? 'inf' : f(r.epsilon, 2)).padStart(7)}  ${f(r.accuracy, 4).padStart(8)}  ${f(r.seconds, 1).padStart(7)}`),
    '',
    ...rows
      .filter((r) => r.kind === 'calculator')
      .map((r) => `dp epsilon (MNIST vector, eps ${f(r.epsilon, 3)}): ${f(r.libraryMs, 1)} ms in-process, ${f(r.commandMs, 0)} ms as a command (node itself starts in ${f(r.nodeStartMs, 0)} ms)`),
    ...rows
      .filter((r) => r.kind === 'sampler')
      .map((r) => `noise for ${r.parameters} parameters: exact discrete Gaussian ${f(r.discreteMs, 1)} ms, Box-Muller ${f(r.boxMullerMs, 1)} ms (${f(r.ratio, 1)}x)`),
  ];
  return { name: 'dp', description: 'differential privacy: DP-SGD slowdown, accuracy/epsilon curve, calculator latency, exact sampler against Box-Muller', rows, table: lines.join('\n') };
}
