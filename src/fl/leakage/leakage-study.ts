import { InvalidInputError } from '../../core/errors.js';
import { LocalModel, subset, type Dataset, type MlpSpec } from '../../ml/index.js';
import type { NoiseSource } from '../../privacy/dp/index.js';
import { ckksView } from './ckks-view.js';
import { dpSgdDelta, localDpDelta, plainDelta, secAggDpContribution, type LeakageClient } from './client-update.js';
import { reconstruct, scoreImage, type AttackerKnowledge, type Reconstructions, type Score } from './gradient-leakage.js';
import { secAggView } from './secagg-view.js';

/**
 * The leakage study of issue 16: n clients each take one SGD step on one image of their own, and the
 * attacks run against what the coordinator sees of the first `targets` of them under each privacy
 * mode. Individual views (plain delta, masked input, ciphertext, DP-SGD and local-DP deltas) are
 * attacked per target; aggregate views (SecAgg+ sum, CKKS mean, SecAgg+ sum under client-level DP)
 * once, scored against every target and, to show what an aggregate of single images gives away,
 * against every client's image.
 */

/** What the coordinator sees, mode by mode. */
export type LeakageView = 'plain' | 'secagg-masked' | 'secagg-sum' | 'secagg-dp-sum' | 'ckks-ciphertext' | 'ckks-mean' | 'dp-sgd' | 'local-dp';

/** All views, in the order the study reports them. */
export const LEAKAGE_VIEWS: readonly LeakageView[] = ['plain', 'secagg-masked', 'secagg-sum', 'secagg-dp-sum', 'ckks-ciphertext', 'ckks-mean', 'dp-sgd', 'local-dp'];

/** Parameters of `runLeakageStudy`. */
export interface LeakageStudyParameters {
  /** One image per client, in client order (at least 2). */
  examples: Dataset;
  /** Image width in pixels. */
  width: number;
  spec: MlpSpec;
  /** Seed of the global model's initial weights. */
  modelSeed: number;
  /** How many clients, from the first, are attacked one by one. */
  targets: number;
  learningRate: number;
  /** Clip C and noise multiplier σ of the DP modes. */
  dp: { clipNorm: number; noiseMultiplier: number; delta?: number };
  /** Adam steps of the gradient matching. */
  iterations?: number;
  /** The views to run; all by default. */
  views?: readonly LeakageView[];
  /** Where DP noise comes from, per draw; node:crypto by default (tests pass a seeded source). */
  noise?: (draw: number) => NoiseSource;
}

/** One target's result under one view. */
export interface TargetResult {
  client: number;
  analytic: Score;
  matching: Score;
  reconstructions: Reconstructions;
}

/** One view's results. */
export interface ViewResult {
  view: LeakageView;
  /** ε at δ of the release, for the DP views. */
  epsilon?: number;
  targets: TargetResult[];
  /** Means over the targets. */
  analytic: Score;
  matching: Score;
  /** The attack with the higher mean SSIM, and that SSIM: what the attacker achieves. */
  best: 'analytic' | 'matching';
  ssim: number;
  /** Aggregate views: the client whose image one of the two reconstructions resembles most, and how much. */
  closestClient?: { client: number; attack: 'analytic' | 'matching'; ssim: number };
}

/** The study's results. */
export interface LeakageStudy {
  views: ViewResult[];
  /** The targets' images. */
  originals: Float32Array[];
  /** A guess without any update: the mean image of all clients, scored against each target and averaged. */
  prior: Score;
  clients: number;
  parameters: number;
}

/** Runs the study; see the module comment. */
export async function runLeakageStudy(parameters: LeakageStudyParameters): Promise<LeakageStudy> {
  const { examples, width, spec } = parameters;
  const n = examples.numExamples;
  if (n < 2 || parameters.targets < 1 || parameters.targets > n) {
    throw new InvalidInputError('LEAKAGE_STUDY_INVALID', `the study needs at least 2 clients and 1 to ${n} targets; got ${n} clients and ${parameters.targets} targets`);
  }
  const views = new Set(parameters.views ?? LEAKAGE_VIEWS);
  const model = await LocalModel.create(spec, { seed: parameters.modelSeed });
  try {
    const globalWeights = model.getWeights();
    const knowledge: AttackerKnowledge = { spec, globalWeights, shapes: model.layerShapes(), iterations: parameters.iterations };
    const clients: LeakageClient[] = Array.from({ length: n }, (_, i) => ({ model, globalWeights, example: subset(examples, [i]), learningRate: parameters.learningRate }));
    const images = clients.map((c) => c.example.features);
    const targets = Array.from({ length: parameters.targets }, (_, i) => i);
    let draws = 0;
    const dp = (): typeof parameters.dp & { noise?: NoiseSource } => ({ ...parameters.dp, ...(parameters.noise ? { noise: parameters.noise(draws++) } : {}) });

    const deltas: Float32Array[] = [];
    for (const c of clients) deltas.push(await plainDelta(c));
    const results: ViewResult[] = [];
    const individual = async (view: LeakageView, observe: (client: number) => Promise<{ update: Float32Array; epsilon?: number }>): Promise<void> => {
      if (!views.has(view)) return;
      const rows: TargetResult[] = [];
      let epsilon: number | undefined;
      for (const client of targets) {
        const observed = await observe(client);
        epsilon = observed.epsilon;
        const reconstructions = await reconstruct(observed.update, knowledge);
        rows.push({ client, reconstructions, analytic: scoreImage(images[client], reconstructions.analytic, width), matching: scoreImage(images[client], reconstructions.matching, width) });
      }
      results.push(summarise(view, rows, epsilon));
    };
    const aggregate = async (view: LeakageView, observed: Float32Array, epsilon?: number): Promise<void> => {
      const reconstructions = await reconstruct(observed, knowledge);
      const rows = targets.map((client) => ({ client, reconstructions, analytic: scoreImage(images[client], reconstructions.analytic, width), matching: scoreImage(images[client], reconstructions.matching, width) }));
      const candidates = images.flatMap((image, client) => (['analytic', 'matching'] as const).map((attack) => ({ client, attack, ssim: scoreImage(image, reconstructions[attack], width).ssim })));
      const closestClient = candidates.reduce((a, b) => (b.ssim > a.ssim ? b : a));
      results.push({ ...summarise(view, rows, epsilon), closestClient });
    };

    await individual('plain', async (i) => ({ update: deltas[i] }));
    if (views.has('secagg-masked') || views.has('secagg-sum')) {
      // SecAggParticipant masks its delta weighted by its share of the examples: 1/n each here.
      const secagg = secAggView({ contributions: deltas.map((d) => d.map((v) => v / n)) });
      await individual('secagg-masked', async (i) => ({ update: secagg.masked[i] }));
      if (views.has('secagg-sum')) await aggregate('secagg-sum', secagg.sum);
    }
    if (views.has('secagg-dp-sum')) {
      const shares = deltas.map((d) => secAggDpContribution(d, dp(), n));
      await aggregate('secagg-dp-sum', secAggView({ contributions: shares.map((s) => s.update) }).sum, shares[0].epsilon);
    }
    if (views.has('ckks-ciphertext') || views.has('ckks-mean')) {
      const ckks = await ckksView({ updates: deltas });
      await individual('ckks-ciphertext', async (i) => ({ update: ckks.ciphertexts[i] }));
      if (views.has('ckks-mean')) await aggregate('ckks-mean', ckks.mean);
    }
    await individual('dp-sgd', (i) => dpSgdDelta(clients[i], dp()));
    await individual('local-dp', (i) => localDpDelta(clients[i], dp()));

    const mean = new Float32Array(images[0].length);
    for (const image of images) for (let j = 0; j < mean.length; j++) mean[j] += image[j] / n;
    const priors = targets.map((i) => scoreImage(images[i], mean, width));
    return {
      views: LEAKAGE_VIEWS.flatMap((v) => results.filter((r) => r.view === v)),
      originals: targets.map((i) => images[i]),
      prior: averageScore(priors),
      clients: n,
      parameters: globalWeights.length,
    };
  } finally {
    model.dispose();
  }
}

function summarise(view: LeakageView, rows: TargetResult[], epsilon: number | undefined): ViewResult {
  const analytic = averageScore(rows.map((r) => r.analytic));
  const matching = averageScore(rows.map((r) => r.matching));
  const best = matching.ssim > analytic.ssim ? 'matching' : 'analytic';
  return { view, ...(epsilon === undefined ? {} : { epsilon }), targets: rows, analytic, matching, best, ssim: Math.max(analytic.ssim, matching.ssim) };
}

function averageScore(scores: readonly Score[]): Score {
  return { mse: scores.reduce((s, x) => s + x.mse, 0) / scores.length, ssim: scores.reduce((s, x) => s + x.ssim, 0) / scores.length };
}
