import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { CipherNexusError } from '../core/errors.js';
import { edgeJobConfig, type PreparedCoordinatedJob, type RoundBase, type RoundReport } from '../fl/index.js';
import { EdgeUplink, type UpstreamEnd, type UpstreamTask } from '../client/edge-uplink.js';
import type { ParticipantKit } from '../identity/index.js';
import type { ServerHeader } from '../protocol/index.js';
import { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './coordinator-server.js';

/** The upstream coordinator runs another job than the one this edge was given (`--config`). */
export class EdgeUpstreamMismatchError extends CipherNexusError {
  constructor(what: string) {
    super('EDGE_UPSTREAM_MISMATCH', `the upstream coordinator's job differs from this edge's --config in ${what}; start the edge with the job config the root serves`);
  }
}

/** How an edge aggregator is started: a coordinator for its own participants plus its link to the tier above. */
export interface EdgeOptions extends Omit<CoordinatorOptions, 'roundBase'> {
  /** The root's job, as its config file reads; the edge derives its group's job from it (`edgeJobConfig`). */
  prepared: PreparedCoordinatedJob;
  /** The edge's participant kit for the root's job. */
  upstreamKit: ParticipantKit;
  /** Overrides the upstream kit's coordinator address. */
  upstreamUrl?: string;
  /** Participants the edge waits for before each round (its group); all of them are folded. */
  minParticipants: number;
}

/** An edge that is serving: its coordinator, its upstream link, and how the upstream job ended. */
export interface RunningEdge extends RunningCoordinator {
  uplink: EdgeUplink;
  /** Settles when the upstream coordinator announces the job's end. */
  upstreamDone: Promise<UpstreamEnd>;
}

/**
 * Starts an edge aggregator: each round of the root's job it runs one round for its own participants on
 * the root's global model, folds their updates with FedAvg's weighting, and answers the root with the
 * weighted mean, weighing the sum of its participants' examples.
 */
export async function startEdge(options: EdgeOptions): Promise<RunningEdge> {
  const { upstreamKit, upstreamUrl, minParticipants, ...coordinator } = options;
  const config = edgeJobConfig(options.prepared.config, minParticipants);
  const prepared = { ...options.prepared, config };
  const uplink = new EdgeUplink({ kit: upstreamKit, ...(upstreamUrl ? { serverUrl: upstreamUrl } : {}) });
  const expectedPlan = { ...config.training, proximalMu: config.strategy.name === 'fedprox' ? config.strategy.mu : 0 };
  const checkWelcome = (welcome: ServerHeader<'welcome'>): void => {
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(welcome.spec)), JSON.parse(JSON.stringify(prepared.spec)))) throw new EdgeUpstreamMismatchError('the model');
    if (!isDeepStrictEqual(welcome.data, JSON.parse(JSON.stringify(prepared.data)))) throw new EdgeUpstreamMismatchError('the data rules');
  };
  const checkTask = (task: ServerHeader<'task'>): void => {
    if (task.protection.kind !== 'none') {
      throw new EdgeUpstreamMismatchError(`its protection ('${task.protection.kind}'): it runs inside each edge group, so start the root with --role root`);
    }
    if (task.privacy) throw new EdgeUpstreamMismatchError(`its differential privacy ('${task.privacy.mode}'): it runs and is accounted inside each edge group, so start the root with --role root`);
    if (!isDeepStrictEqual(task.plan, expectedPlan)) throw new EdgeUpstreamMismatchError(`the training plan (the root asks for ${JSON.stringify(task.plan)}, the config says ${JSON.stringify(expectedPlan)})`);
  };
  // The upstream task each edge round answers, by the edge round's number.
  const answering = new Map<number, { task: UpstreamTask; startedAt: number }>();
  let rounds = 0;
  // An upstream task whose edge round failed (too few of the group answered) is run again while the root waits for it.
  let unanswered: UpstreamTask | undefined;
  const roundBase: RoundBase = async ({ declared }, signal) => {
    // The edge says hello upstream once its group is there: its declared weight is the group's examples.
    uplink.start([...declared.values()].reduce((s, n) => s + n, 0), checkWelcome);
    const task = unanswered && !uplink.taskWaiting ? unanswered : await uplink.nextTask(signal);
    if (!task) return undefined;
    checkTask(task.header);
    unanswered = task;
    answering.set(++rounds, { task, startedAt: performance.now() });
    return task.weights;
  };
  const running = await startCoordinator({ ...coordinator, prepared, roundBase });
  const { storage } = options;
  const answer = async (report: RoundReport): Promise<void> => {
    const pending = answering.get(report.round);
    if (!pending) return;
    answering.delete(report.round);
    if (unanswered === pending.task) unanswered = undefined;
    const job = await storage.jobs.get(running.job.jobId);
    const round = (await storage.rounds.list({ jobId: running.job.jobId })).find((r) => r.number === report.round);
    const version = job?.modelId && round ? await storage.models.getVersion(job.modelId, report.modelVersion) : undefined;
    if (!round || !version) throw new Error(`round ${report.round} or its model v${report.modelVersion} is not in the edge's store`);
    const folded = (await storage.rounds.listUpdates(round.id)).reduce((s, u) => s + u.numExamples, 0);
    uplink.answer(pending.task, version.weights, folded, (performance.now() - pending.startedAt) / 1000);
  };
  running.job.on('round', (report: RoundReport) => {
    answer(report).catch((error: Error) => running.events.emit('security', { at: Date.now(), kind: 'internal_error', detail: `the edge could not answer round ${report.round} upstream: ${error.message}` }));
  });
  const close = running.close;
  return {
    ...running,
    uplink,
    upstreamDone: uplink.done,
    close: async () => {
      uplink.stop();
      await close();
    },
  };
}
