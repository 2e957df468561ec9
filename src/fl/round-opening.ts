import { createHash } from 'node:crypto';
import type { NodeManager } from '../core/index.js';
import { selectClients } from './client-selection.js';
import type { RoundIncentives } from './incentives.js';
import type { JobConfig } from './job-config.js';
import type { JobMembership } from './job-membership.js';
import { jobStreams } from './job-streams.js';
import type { RemoteTask } from './participant-channel.js';
import type { RoundCharge } from './privacy-plan.js';
import { CkksCollection } from './protection/ckks.js';
import { PlainCollection } from './protection/plain.js';
import type { RoundCollection, RoundContext } from './protection/round-collection.js';
import { SecAggCollection } from './protection/secagg.js';
import { TeeCollection } from './protection/tee.js';
import type { AggregationEnclave } from './protection/tee-enclave.js';
import type { IncentivesReport } from './report.js';
import type { TrainingManager } from './training-manager.js';

/**
 * Whether a round a previous coordinator process left open resumes with the updates it stored. Only a plain round of
 * a job that names its members does: a protected round's shares or ciphertexts cannot combine with a new round's, and
 * an anonymous round's updates were admitted by nullifiers held in memory, so after a restart a member could add a
 * second update to the same round.
 */
export function resumesAfterRestart(privacy: JobConfig['privacy']): boolean {
  return !(privacy.secagg || privacy.he || privacy.tee || privacy.anonymous);
}

/** What choosing a round's participants reads and changes. */
export interface SelectionInput {
  config: JobConfig;
  jobId: string;
  nodes: NodeManager;
  membership: JobMembership;
  incentives: RoundIncentives | undefined;
  /** Participants may join at any time: a selection short of participants waits for the next join instead of failing. */
  openMembership: boolean;
  /** Rounds the job has opened so far (finalised or not). */
  previousRounds: number;
  /** The job's refusals so far; the incentives' refusals of this round are added. */
  refused: IncentivesReport['refused'];
  signal: AbortSignal;
}

/** This round's participants among the connected nodes (stake and reputation with incentives); undefined when someone left meanwhile. */
export async function selectParticipants(input: SelectionInput): Promise<string[] | undefined> {
  const { config, jobId, nodes, membership, incentives, previousRounds, refused } = input;
  let candidates = (await nodes.listNodes()).filter((n) => membership.has(n.id) && !membership.isExcluded(n.id) && n.labels.job === jobId);
  let weights: Record<string, number> | undefined;
  if (incentives) {
    // Stake can fall between rounds (a slash, an unstake request): a node below the minimum leaves the job.
    const refusals = await incentives.admit(candidates.map((n) => n.id));
    for (const refusal of refusals) {
      refused.push({ ...refusal, round: previousRounds + 1 });
      membership.exclude(refusal.clientId);
      await nodes.unregisterNode(refusal.clientId);
    }
    candidates = candidates.filter((n) => !membership.isExcluded(n.id));
    weights = await incentives.selectionWeights(candidates.map((n) => n.id));
  }
  try {
    return selectClients(candidates, { ...config.selection, requirements: { cpuCores: 0 }, ...(weights ? { weights } : {}) }, jobStreams(config.seed + previousRounds).selection);
  } catch (error) {
    // Someone left between waking up and selecting: wait for enough participants again (across machines).
    if ((error as { code?: string }).code !== 'SELECTION_INSUFFICIENT' || !input.openMembership) throw error;
    await membership.nextJoin(input.signal);
    return undefined;
  }
}

/** The protection that collects the round's updates, as the job's privacy config asks: an enclave, CKKS, secure aggregation, or plain. */
export function collectionFor(ctx: RoundContext, config: JobConfig, jobId: string, identityKeys: Map<string, Uint8Array>, enclave?: AggregationEnclave): RoundCollection {
  const { secagg, he, heParams, heCommittee, heStageSeconds } = config.privacy;
  if (enclave) return new TeeCollection(ctx, enclave, jobId);
  if (he) return new CkksCollection(ctx, jobId, { preset: heParams, committee: heCommittee, identityKeys, stageMs: heStageSeconds * 1000 });
  if (!secagg) return new PlainCollection(ctx);
  const dp = config.privacy.dp;
  return new SecAggCollection(ctx, {
    clip: secagg.clip,
    gamma: secagg.gamma,
    delta: secagg.delta,
    identityKeys,
    stageMs: secagg.stageSeconds * 1000,
    ...(dp?.mode === 'client' ? { dp: { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise: dp.noise, ...(dp.gridStep === undefined ? {} : { gridStep: dp.gridStep }) } } : {}),
  });
}

/** What the round's tasks are built from. */
export interface TaskInput {
  config: JobConfig;
  jobId: string;
  roundId: string;
  round: { number: number; participants: string[]; deadline: number };
  base: { version: number; sha256: string };
  charge: RoundCharge | undefined;
  collection: RoundCollection;
  manager: TrainingManager;
}

/** Each selected participant's task for the round: the base model, the training plan, its seed, privacy and protection. */
export function tasksFor({ config, jobId, roundId, round, base, charge, collection, manager }: TaskInput): Map<string, RemoteTask> {
  const tasks = new Map<string, RemoteTask>();
  for (const id of round.participants) {
    const privacy = charge?.cost.clientPlans.get(id);
    tasks.set(id, {
      jobId,
      roundId,
      round: round.number,
      modelVersion: base.version,
      sha256: base.sha256,
      plan: { ...config.training, proximalMu: manager.fitInstructions(round.number).proximalMu },
      seed: taskSeed(config.seed, round.number, id),
      deadline: round.deadline,
      ...(privacy ? { privacy } : {}),
      ...(config.compression.kind !== 'none' ? { compression: config.compression } : {}),
      protection: collection.taskProtection(id),
      releaseLoss: collection.individualUpdatesVisible && !config.privacy.dp,
    });
  }
  return tasks;
}

/** A participant's shuffling seed for a round, the same after a coordinator restart and in simulation. */
export function taskSeed(jobSeed: number, round: number, participantId: string): number {
  return createHash('sha256').update(`${jobSeed}/${round}/${participantId}`).digest().readUInt32BE(0);
}
