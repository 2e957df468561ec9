import type { Dataset, ModelSpec } from '../ml/index.js';
import { LocalModel, train, trainDpSgd } from '../ml/index.js';
import { clipL2, gaussianMechanism, type NoiseSource } from '../privacy/dp/index.js';
import { Rng } from '../core/rng.js';
import { attackedWeights, flipLabels, type ClientAttack } from './attacks.js';
import { UpdateCompressor, decompress, type ParsedCompressionConfig } from './compression/index.js';
import { noiseSourceFor, type ClientPrivacy } from './privacy-plan.js';

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
  /** How the client compresses its delta, and the error-feedback residual it kept from its last round. */
  compression?: ParsedCompressionConfig;
  residual?: Float32Array;
}

/** What a client sends back after local training. */
export interface ClientResult {
  clientId: string;
  /** The client's new weights; empty when the update travels compressed. */
  weights: Float32Array;
  numExamples: number;
  loss: number;
  seconds: number;
  /** The compressed delta that leaves the node, and the residual the client keeps for next round. */
  compressed?: Uint8Array;
  residual?: Float32Array;
}

/**
 * Trains one client's task on a model object that is reused across tasks; the model's own
 * weights are overwritten by the task's global weights first, so reuse cannot leak state.
 * `yieldEveryMs` gives the event loop a turn that often while it trains (a participant's agent,
 * which must keep answering its coordinator); the caller must then not train this model twice at once.
 */
export async function runClientTask(model: LocalModel, honestData: Dataset, task: ClientTask, pace: { yieldEveryMs?: number } = {}): Promise<ClientResult> {
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
          noise: noiseSourceFor(privacy.noise, task.seed),
          gridStep: privacy.gridStep,
          // Amplification by subsampling needs the batches to be secret: only the insecure test mode replays them.
          seed: privacy.noise === 'seeded-insecure' ? task.seed : undefined,
          ...pace,
        })
      : await train(model, data, {
          ...optimizer,
          epochs: plan.epochs,
          batchSize: plan.batchSize,
          seed: task.seed,
          proximalMu: plan.proximalMu,
          globalWeights: plan.proximalMu > 0 ? task.globalWeights : undefined,
          ...pace,
        });
  const trained = model.getWeights();
  const honest = privacy?.mode === 'local' ? localDpUpdate(task.globalWeights, trained, privacy, noiseSourceFor(privacy.noise, task.seed)) : trained;
  // The attack replaces what leaves the node, after the honest pipeline (local DP included).
  const weights = attack ? attackedWeights(task.globalWeights, honest, attack, task.seed) : honest;
  const result = { clientId: task.clientId, numExamples: summary.numExamples, loss: summary.loss, seconds: summary.seconds };
  if (!task.compression || task.compression.kind === 'none') return { ...result, weights };
  const delta = new Float32Array(weights.length);
  for (let k = 0; k < delta.length; k++) delta[k] = weights[k] - task.globalWeights[k];
  const compressor = new UpdateCompressor(task.compression, task.residual);
  const compressed = compressor.compress(delta, new Rng(task.seed ^ 0xc0de));
  return { ...result, weights: new Float32Array(0), compressed, residual: compressor.residual() };
}

/** Coordinator side of compression: the client's weights rebuilt from its compressed delta. */
export function decodeCompressed(result: ClientResult, global: Float32Array): ClientResult {
  if (!result.compressed) return result;
  const delta = decompress(result.compressed, { expectedLength: global.length });
  const weights = new Float32Array(global.length);
  for (let k = 0; k < weights.length; k++) weights[k] = global[k] + delta[k];
  return { ...result, weights };
}


/**
 * Local DP: the client clips its model delta to L2 norm C, rounds it to the grid and adds the exact
 * discrete Gaussian (`gaussianMechanism`) before the update leaves the node, so nothing downstream
 * (coordinator included) sees it un-noised or sees floating-point noise.
 */
export function localDpUpdate(global: Float32Array, trained: Float32Array, privacy: Pick<ClientPrivacy, 'clipNorm' | 'noiseMultiplier' | 'gridStep'>, noise: NoiseSource): Float32Array {
  const delta = new Float64Array(global.length);
  for (let k = 0; k < delta.length; k++) delta[k] = trained[k] - global[k];
  const clipped = clipL2(delta, privacy.clipNorm);
  const released = gaussianMechanism(clipped, { l2Sensitivity: privacy.clipNorm, noiseMultiplier: privacy.noiseMultiplier, gridStep: privacy.gridStep }, noise);
  const out = new Float32Array(global.length);
  for (let k = 0; k < out.length; k++) out[k] = global[k] + released[k];
  delta.fill(0);
  clipped.fill(0);
  released.fill(0);
  return out;
}

/** Builds the reusable model a client runner trains on. */
export async function createWorkingModel(spec: ModelSpec): Promise<LocalModel> {
  return LocalModel.create(spec, { seed: 0 });
}
