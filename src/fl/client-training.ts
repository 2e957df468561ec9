import type { Dataset, ModelSpec } from '../ml/index.js';
import { LocalModel, train } from '../ml/index.js';

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
export async function runClientTask(model: LocalModel, data: Dataset, task: ClientTask): Promise<ClientResult> {
  model.setWeights(task.globalWeights);
  const summary = await train(model, data, {
    epochs: task.plan.epochs,
    batchSize: task.plan.batchSize,
    learningRate: task.plan.learningRate,
    optimizer: task.plan.optimizer,
    momentum: task.plan.momentum,
    proximalMu: task.plan.proximalMu,
    globalWeights: task.plan.proximalMu > 0 ? task.globalWeights : undefined,
    seed: task.seed,
  });
  return {
    clientId: task.clientId,
    weights: model.getWeights(),
    numExamples: summary.numExamples,
    loss: summary.loss,
    seconds: summary.seconds,
  };
}

/** Builds the reusable model a client runner trains on. */
export async function createWorkingModel(spec: ModelSpec): Promise<LocalModel> {
  return LocalModel.create(spec, { seed: 0 });
}
