import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PACKAGE_DATA_DIR } from '../src/fl/job-config.js';
import { runLeakageStudy, type LeakageView, type ViewResult } from '../src/fl/leakage/index.js';
import { loadCsvDataset, subset, type MlpSpec } from '../src/ml/index.js';
import type { BenchResult } from './bench-result.js';
import { greyPng, imageGrid } from './png.js';

/**
 * Issue 16's leakage study on the digits model: 10 clients, one optdigits image and one SGD step
 * (lr 0.1) each, the first TARGETS attacked one by one under every privacy mode; then DP-SGD and local
 * DP again at smaller noise multipliers, to find the epsilon at which the attack starts to work. Writes
 * docs/leakage/<view>.png and <view>-sigma-<σ>.png (row 1 the originals, row 2 the analytic inversion, row 3
 * gradient matching).
 */
const CLIENTS = 10;
const TARGETS = 10;
const ITERATIONS = 200;
const SPEC: MlpSpec = { type: 'mlp', inputShape: [64], hidden: [128, 64], activation: 'relu', numClasses: 10 };
const SWEEP = [0.3, 0.1, 0.03, 0.01];
const OUT = new URL('../docs/leakage/', import.meta.url);

const DESCRIPTIONS: Record<LeakageView, string> = {
  plain: "plain: the client's weight delta",
  'secagg-masked': "SecAgg+: the client's masked input",
  'secagg-sum': 'SecAgg+: the unmasked sum of 10 clients',
  'secagg-dp-sum': 'SecAgg+ with client-level DP: the sum',
  'ckks-ciphertext': "CKKS: the client's ciphertext coefficients",
  'ckks-mean': 'CKKS: the decrypted mean of 10 clients',
  'dp-sgd': "DP-SGD: the client's noised delta",
  'local-dp': "local DP: the client's noised delta",
};

/** docs/leakage/<name>.png: the originals, then the analytic and the matching reconstructions. */
function writeGrid(name: string, originals: Float32Array[], v: ViewResult): void {
  const grid = imageGrid([originals, v.targets.map((t) => t.reconstructions.analytic), v.targets.map((t) => t.reconstructions.matching)], 8, 8);
  writeFileSync(new URL(`${name}.png`, OUT), greyPng(grid.pixels, grid.width, grid.height));
}

/** Runs the study and writes its figures. */
export async function benchLeakage(): Promise<BenchResult> {
  const { dataset } = await loadCsvDataset(resolve(PACKAGE_DATA_DIR, 'optdigits', 'optdigits.tes'), { labelColumn: 64, header: false, scale: { kind: 'divide', by: 16 } });
  const common = { examples: subset(dataset, Array.from({ length: CLIENTS }, (_, i) => i)), width: 8, spec: SPEC, modelSeed: 7, targets: TARGETS, learningRate: 0.1, iterations: ITERATIONS };
  const started = performance.now();
  const study = await runLeakageStudy({ ...common, dp: { clipNorm: 1, noiseMultiplier: 1 } });
  const studySeconds = (performance.now() - started) / 1000;
  const plain = study.views.find((v) => v.view === 'plain') as ViewResult;

  mkdirSync(OUT, { recursive: true });
  for (const v of study.views) writeGrid(v.view, study.originals, v);
  const row = (v: ViewResult, noiseMultiplier?: number): Record<string, unknown> => ({
    view: v.view,
    ...(noiseMultiplier === undefined ? {} : { noiseMultiplier }),
    ...(v.epsilon === undefined ? {} : { epsilon: v.epsilon }),
    analyticMse: v.analytic.mse,
    analyticSsim: v.analytic.ssim,
    matchingMse: v.matching.mse,
    matchingSsim: v.matching.ssim,
    best: v.best,
    ssim: v.ssim,
    ssimOfPlain: v.ssim / plain.ssim,
    ...(v.closestClient ? { closestClient: v.closestClient.client, closestAttack: v.closestClient.attack, closestSsim: v.closestClient.ssim } : {}),
  });
  const rows = study.views.map((v) => row(v, v.epsilon === undefined ? undefined : 1));
  rows.push({ view: 'prior', analyticMse: study.prior.mse, analyticSsim: study.prior.ssim, matchingMse: study.prior.mse, matchingSsim: study.prior.ssim, ssim: study.prior.ssim, ssimOfPlain: study.prior.ssim / plain.ssim });
  for (const noiseMultiplier of SWEEP) {
    const swept = await runLeakageStudy({ ...common, dp: { clipNorm: 1, noiseMultiplier }, views: ['dp-sgd', 'local-dp'] });
    rows.push(...swept.views.map((v) => row(v, noiseMultiplier)));
    for (const v of swept.views) writeGrid(`${v.view}-sigma-${noiseMultiplier}`, swept.originals, v);
  }

  const f = (x: unknown, digits = 3): string => (typeof x === 'number' ? x.toFixed(digits) : '');
  const lines = [
    `| view | sigma | epsilon | analytic MSE | analytic SSIM | matching MSE | matching SSIM | attacker's SSIM | of plain | closest client SSIM |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    ...rows.map(
      (r) =>
        `| ${r.view === 'prior' ? 'prior: the mean image, no update' : DESCRIPTIONS[r.view as LeakageView]} | ${f(r.noiseMultiplier, 2)} | ${f(r.epsilon, 1)} | ${f(r.analyticMse)} | ${f(r.analyticSsim)} | ${f(r.matchingMse)} | ${f(r.matchingSsim)} | ${f(r.ssim)} | ${f(r.ssimOfPlain, 2)} | ${f(r.closestSsim)} |`,
    ),
  ];
  return {
    name: 'leakage',
    description: `gradient inversion on the digits MLP (${study.parameters} parameters), ${CLIENTS} one-image clients, means over ${TARGETS} targets, ${ITERATIONS} matching steps; study ${studySeconds.toFixed(1)} s; figures in docs/leakage/`,
    rows,
    table: lines.join('\n'),
  };
}
