import type { Storage } from '../core/index.js';
import type { RoundRecord } from '../core/storage/repository.js';
import { evaluate, type LocalModel } from '../ml/index.js';
import { roundContributions, type RoundIncentives } from './incentives.js';
import type { CoordinatorJob } from './job-driver.js';
import { detectPoisoning } from './poisoning-detector.js';
import type { RoundCharge } from './privacy-plan.js';
import type { CollectedRound } from './protection/round-collection.js';
import type { RoundReport } from './report.js';
import type { TrainingManager } from './training-manager.js';

/** What closing a round reads: the job, the round and what its protection collected. */
export interface ClosingInput {
  job: CoordinatorJob;
  jobId: string;
  storage: Storage;
  manager: TrainingManager;
  incentives: RoundIncentives | undefined;
  /** A model of the job's architecture to evaluate the round's weights with. */
  evaluator: LocalModel;
  round: RoundRecord;
  /** The weights the round started from, which the poisoning detector compares each update with. */
  base: Float32Array;
  collected: CollectedRound;
  charge: RoundCharge | undefined;
  /** performance.now() when the round began. */
  roundStart: number;
  /** performance.now() when its tasks went out. */
  sentAt: number;
}

/**
 * Closes a round whose updates were combined: evaluates the new model on the held-out set, runs the
 * poisoning detector, records the metrics (with any accuracy drop), settles the incentives, and
 * reports the round.
 */
export async function closeRound(input: ClosingInput): Promise<RoundReport> {
  const { job, jobId, storage, manager, incentives, evaluator, round, base, collected, charge, roundStart, sentAt } = input;
  const { config, test } = job;
  // From the tasks going out to the round's updates being combined: the participants' training, the transfers and the protection's stages.
  const collectSeconds = (performance.now() - sentAt) / 1000 - collected.finalized.aggregateSeconds;
  const accepted = await storage.rounds.listUpdates(round.id);
  const evalStart = performance.now();
  evaluator.setWeights(collected.finalized.weights);
  const metrics = await evaluate(evaluator, test, { batchSize: 512 });
  const evaluateSeconds = (performance.now() - evalStart) / 1000;
  const { enabled: _enabled, ...detectorOptions } = config.detection;
  const flagged = 'updates' in collected && collected.updates && collected.updates.length > 0 ? detectPoisoning(base, collected.updates, detectorOptions) : undefined;
  const flagMetrics = flagged ? Object.fromEntries([['flagged', new Set(flagged.map((f) => f.clientId)).size], ...flagged.map((f) => [`flagged:${f.clientId}:${f.reason}`, f.score])]) : {};
  const previous = (await storage.rounds.list({ jobId })).filter((r) => r.status === 'finalized' && r.number < round.number && Number.isFinite(r.metrics.accuracy)).sort((a, b) => b.number - a.number)[0]?.metrics.accuracy;
  const margin = config.validation.maxAccuracyDrop;
  const accuracyDrop = previous !== undefined && previous - metrics.accuracy > margin ? { previous, margin } : undefined;
  await manager.recordMetrics(round.id, { accuracy: metrics.accuracy, loss: metrics.loss, ...flagMetrics, ...(accuracyDrop ? { accuracyDrop: accuracyDrop.previous - metrics.accuracy } : {}) });
  const settlement = incentives ? await incentives.settle(round.number, roundContributions(jobId, round.number, accepted, flagged ?? [])) : undefined;
  const losses = accepted.filter((u) => u.metrics.loss !== undefined);
  const lossExamples = losses.reduce((s, u) => s + u.numExamples, 0);
  return {
    round: round.number,
    accuracy: metrics.accuracy,
    loss: metrics.loss,
    participants: round.participants,
    seconds: (performance.now() - roundStart) / 1000,
    trainSeconds: Math.max(0, collectSeconds),
    aggregateSeconds: collected.finalized.aggregateSeconds,
    evaluateSeconds,
    ...(lossExamples > 0 ? { trainLoss: losses.reduce((s, u) => s + (u.metrics.loss as number) * u.numExamples, 0) / lossExamples } : {}),
    modelVersion: collected.finalized.version.version,
    bytesPerClient: collected.bytesPerClient,
    ...(charge ? { epsilon: charge.epsilon, epsilonRound: charge.epsilonRound } : {}),
    ...(flagged ? { flagged } : {}),
    ...(settlement ? { settlement } : {}),
    ...(accuracyDrop ? { accuracyDrop } : {}),
  };
}
