import type { Dataset, ModelSpec } from '../ml/index.js';
import { LocalModel, train, trainDpSgd } from '../ml/index.js';
import { clipL2, SecureNoiseSource, SeededNoiseSource, type NoiseSource } from '../privacy/dp/index.js';
import { attackedWeights, flipLabels, type ClientAttack } from './attacks.js';
import type { ClientPrivacy } from './privacy-plan.js';

/** The local training a client does in one round, as the coordinator asks for it. */
export interface LocalTrainingPlan {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'sgd' | 'adam' | 'momentum';
  momentum: number;
  proximalMu: number;
}

/** One client's work in one round. */
export interface ClientTask {
  clientId: string;
  round: number;
  globalWeights: Float32Array;
  plan: LocalTrainingPlan;
  /** Seed of the client's shuffling this round, derived from the job seed. */
  seed: number;
  /** Differential privacy the client applies itself (DP-SGD or local DP), if any. */
  privacy?: ClientPrivacy;
  /** Simulation only: the attack this client runs, when the job marks it malicious. */
  attack?: ClientAttack;
}

/** What a client sends back after local training. */
export interface ClientResult {
  clientId: string;
  weights: Float32Array;
  numExamples: number;
  loss: number;
  seconds: number;
}

/**
 * Trains one client's task on a model object that is reused across tasks; the model's own
 * weights are overwritten by the task's global weights first, so reuse cannot leak state.
 */
export async function runClientTask(model: LocalModel, honestData: Dataset, task: ClientTask): Promise<ClientResult> {
  model.setWeights(task.globalWeights);
  const { plan, privacy, attack } = task;
  const data = attack?.kind === 'label-flip' ? flipLabels(honestData) : honestData;
  const optimizer = { learningRate: plan.learningRate, optimizer: plan.optimizer, momentum: plan.momentum };
  const summary =
    privacy?.mode === 'sample'
      ? await trainDpSgd(model, data, {
          ...optimizer,
          samplingRate: privacy.samplingRate as number,
          steps: privacy.steps,
          l2NormClip: privacy.clipNorm,
          noiseMultiplier: privacy.noiseMultiplier,
          noise: noiseSourceFor(privacy, task.seed),
          // Amplification by subsampling needs the batches to be secret: only the insecure test mode replays them.
          seed: privacy.noise === 'seeded-insecure' ? task.seed : undefined,
        })
      : await train(model, data, {
          ...optimizer,
          epochs: plan.epochs,
          batchSize: plan.batchSize,
          seed: task.seed,
          proximalMu: plan.proximalMu,
          globalWeights: plan.proximalMu > 0 ? task.globalWeights : undefined,
        });
  const trained = model.getWeights();
  const honest = privacy?.mode === 'local' ? localDpUpdate(task.globalWeights, trained, privacy, noiseSourceFor(privacy, task.seed)) : trained;
  // The attack replaces what leaves the node, after the honest pipeline (local DP included).
  const weights = attack ? attackedWeights(task.globalWeights, honest, attack, task.seed) : honest;
  return {
    clientId: task.clientId,
    weights,
    numExamples: summary.numExamples,
    loss: summary.loss,
    seconds: summary.seconds,
  };
}

function noiseSourceFor(privacy: ClientPrivacy, seed: number): NoiseSource {
  return privacy.noise === 'seeded-insecure' ? new SeededNoiseSource(seed ^ 0x5eed) : new SecureNoiseSource();
}

/**
 * Local DP: the client clips its model delta to L2 norm C and adds N(0, (zC)^2) per coordinate
 * before the update leaves the node, so nothing downstream (coordinator included) sees it un-noised.
 */
export function localDpUpdate(global: Float32Array, trained: Float32Array, privacy: Pick<ClientPrivacy, 'clipNorm' | 'noiseMultiplier'>, noise: NoiseSource): Float32Array {
  const delta = new Float64Array(global.length);
  for (let k = 0; k < delta.length; k++) delta[k] = trained[k] - global[k];
  const clipped = clipL2(delta, privacy.clipNorm);
  const draws = noise.gaussian(delta.length, privacy.noiseMultiplier * privacy.clipNorm);
  const out = new Float32Array(global.length);
  for (let k = 0; k < out.length; k++) out[k] = global[k] + clipped[k] + draws[k];
  delta.fill(0);
  clipped.fill(0);
  return out;
}

/** Builds the reusable model a client runner trains on. */
export async function createWorkingModel(spec: ModelSpec): Promise<LocalModel> {
  return LocalModel.create(spec, { seed: 0 });
}
