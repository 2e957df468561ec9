import type { LayerShape, MlpSpec } from '../../ml/index.js';
import { firstLayerOf, inferLabel, invertFirstLayer } from './first-layer-inversion.js';
import { matchGradients } from './gradient-matching.js';
import { mse, ssim } from './image-similarity.js';

/**
 * Both gradient-inversion attacks against one observed update: the analytic first-layer inversion
 * (Phong et al. 2017) and gradient matching (DLG / iDLG with Geiping et al.'s cosine distance). The
 * attacker knows the model, the global weights, that the client took one SGD step on one example,
 * and that pixels lie in [0, 1]; it never sees the original, which is used only to score the result.
 */

/** What the attacker knows besides the observed update. */
export interface AttackerKnowledge {
  spec: MlpSpec;
  globalWeights: Float32Array;
  shapes: readonly LayerShape[];
  /** Adam steps of the gradient-matching attack; 200 by default. */
  iterations?: number;
  /** Seed of the gradient-matching attack's starting noise. */
  seed?: number;
}

/** Both attacks' reconstructions of one update. */
export interface Reconstructions {
  analytic: Float32Array;
  matching: Float32Array;
  /** Cosine distance the gradient matching ended at (0: the dummy's gradient points as the observed one). */
  distance: number;
  /** The label the update gives away (iDLG). */
  label: number;
}

/** One reconstruction's distance to the original. */
export interface Score {
  mse: number;
  ssim: number;
}

/** Both attacks on one update, scored. */
export interface LeakageOutcome {
  reconstructions: Reconstructions;
  analytic: Score;
  matching: Score;
}

/** Runs both attacks on `observed`, what the coordinator reads as the client's delta. */
export async function reconstruct(observed: Float32Array, knowledge: AttackerKnowledge): Promise<Reconstructions> {
  // Values a view cannot carry as numbers (an overflowed decode) are read as 0, as an attacker would.
  const update = observed.map((v) => (Number.isFinite(v) ? v : 0));
  const analytic = invertFirstLayer(firstLayerOf(update, knowledge.shapes)).map(unitBox);
  const label = inferLabel(update, knowledge.shapes);
  const matched = await matchGradients({ ...knowledge, update, label });
  return { analytic, matching: matched.input, distance: matched.distance, label };
}

/** MSE and SSIM of a reconstruction against the original image (`width` pixels a row). */
export function scoreImage(original: Float32Array, image: Float32Array, width: number): Score {
  return { mse: mse(original, image), ssim: ssim(original, image, { width }) };
}

/** Reconstructs `observed` and scores both attacks against `original`. */
export async function attackUpdate(observed: Float32Array, knowledge: AttackerKnowledge, original: Float32Array, width: number): Promise<LeakageOutcome> {
  const reconstructions = await reconstruct(observed, knowledge);
  return { reconstructions, analytic: scoreImage(original, reconstructions.analytic, width), matching: scoreImage(original, reconstructions.matching, width) };
}

/** Pixels are known to lie in [0, 1]: the attacker clips its estimate to that box. */
function unitBox(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
