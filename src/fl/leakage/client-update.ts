import { LocalModel, train, trainDpSgd, type Dataset } from '../../ml/index.js';
import { SecureNoiseSource, clipL2, epsilonOfEvents, type NoiseSource, type PrivacyEvent } from '../../privacy/dp/index.js';
import { localDpUpdate } from '../client-training.js';
import { distributedGaussianShare } from '../protection/secagg.js';

/**
 * What one client sends after one local step on a batch of one image, computed by the project's own
 * training code: the plain weight delta (`train`, one SGD step, so delta = −lr · gradient), the delta
 * of one DP-SGD step (`trainDpSgd`: the example's gradient clipped to C, discrete Gaussian noise of
 * σC added), and the locally noised delta (`localDpUpdate`: the whole delta clipped to C and noised
 * before it leaves the node), and a SecAgg+ participant's contribution under client-level DP (its
 * clipped delta plus its share of the distributed discrete Gaussian, as SecAggParticipant masks it).
 */

/** The single-image client: its example, the model it starts from, its step size. */
export interface LeakageClient {
  model: LocalModel;
  globalWeights: Float32Array;
  /** A dataset holding the one image the client trains on. */
  example: Dataset;
  learningRate: number;
}

/** Differential-privacy settings of a DP release: L2 clip C, noise multiplier σ, and δ for the reported ε. */
export interface LeakageDp {
  clipNorm: number;
  noiseMultiplier: number;
  delta?: number;
  noise?: NoiseSource;
}

/** A released update and the ε it costs at δ (one release, accounted by the project's RDP accountant). */
export interface DpRelease {
  update: Float32Array;
  epsilon: number;
  delta: number;
}

/** The plain delta of one SGD step on the client's one image (what a plain coordinator receives, minus the global model). */
export async function plainDelta(client: LeakageClient): Promise<Float32Array> {
  client.model.setWeights(client.globalWeights);
  await train(client.model, client.example, { epochs: 1, batchSize: 1, learningRate: client.learningRate, optimizer: 'sgd', seed: 1 });
  return deltaOf(client);
}

/** The delta of one DP-SGD step (sampling rate 1, so the one image is in the step's batch). */
export async function dpSgdDelta(client: LeakageClient, dp: LeakageDp): Promise<DpRelease> {
  client.model.setWeights(client.globalWeights);
  await trainDpSgd(client.model, client.example, {
    samplingRate: 1,
    steps: 1,
    l2NormClip: dp.clipNorm,
    noiseMultiplier: dp.noiseMultiplier,
    learningRate: client.learningRate,
    optimizer: 'sgd',
    noise: dp.noise ?? new SecureNoiseSource(),
  });
  const delta = dp.delta ?? 1e-5;
  return { update: deltaOf(client), ...epsilonOf({ kind: 'sampled-discrete-gaussian', samplingRate: 1, noiseMultiplier: dp.noiseMultiplier, steps: 1 }, delta) };
}

/** The locally noised delta: one plain SGD step, then the client's own clip and discrete Gaussian noise. */
export async function localDpDelta(client: LeakageClient, dp: LeakageDp): Promise<DpRelease> {
  await plainDelta(client);
  const released = localDpUpdate(client.globalWeights, client.model.getWeights(), { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier }, dp.noise ?? new SecureNoiseSource());
  const update = released.map((v, k) => v - client.globalWeights[k]);
  const delta = dp.delta ?? 1e-5;
  return { update, ...epsilonOf({ kind: 'gaussian', noiseMultiplier: dp.noiseMultiplier, steps: 1 }, delta) };
}

/**
 * A SecAgg+ participant's contribution under client-level DP (McMahan et al. 2018 with the distributed
 * discrete Gaussian of Kairouz, Liu & Steinke 2021): the delta clipped to C plus N_Z(0, (σC)²/n), over
 * n. The sum of n such contributions carries noise σC/n around the mean; ε is that of one Gaussian
 * release of the sum at σ (every participant takes part).
 */
export function secAggDpContribution(delta: Float32Array, dp: LeakageDp, summands: number): DpRelease {
  const clipped = clipL2(Float64Array.from(delta), dp.clipNorm);
  const noisy = distributedGaussianShare(clipped, { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, minSummands: summands }, dp.noise ?? new SecureNoiseSource());
  const update = Float32Array.from(noisy, (v) => v / summands);
  clipped.fill(0);
  noisy.fill(0);
  return { update, ...epsilonOf({ kind: 'gaussian', noiseMultiplier: dp.noiseMultiplier, steps: 1 }, dp.delta ?? 1e-5) };
}

function deltaOf(client: LeakageClient): Float32Array {
  const trained = client.model.getWeights();
  return trained.map((v, k) => v - client.globalWeights[k]);
}

function epsilonOf(event: PrivacyEvent, delta: number): { epsilon: number; delta: number } {
  return { epsilon: epsilonOfEvents([event], delta).epsilon, delta };
}
