import { randomUUID } from 'node:crypto';
import { NodeManager, TaskScheduler, type Storage } from '../core/index.js';
import { LocalModel, initBackend } from '../ml/index.js';
import type { CoordinatorJob, JobDriverOptions } from './job-driver.js';
import { jobStreams } from './job-streams.js';
import { ModelRegistry } from './model-registry.js';
import { ModelValidator } from './model-validator.js';
import { JobPrivacy, noiseSourceFor } from './privacy-plan.js';
import { EnclaveAggregated } from './protection/tee.js';
import { AggregationEnclave } from './protection/tee-enclave.js';
import { DpFixedClipping, createStrategy } from './strategies/index.js';
import { TrainingManager } from './training-manager.js';

/** A job's records in the store and the services its rounds run on, as the driver takes them up. */
export interface JobState {
  jobId: string;
  /** True when a running job of the same name was taken over. */
  resumed: boolean;
  modelId: string;
  createdAt: number;
  manager: TrainingManager;
  registry: ModelRegistry;
  nodes: NodeManager;
  scheduler: TaskScheduler;
  /** Participants and their examples, for client-level DP's sampling rate (updated as they join). */
  federation: Map<string, number>;
  privacy: JobPrivacy | undefined;
  /** The job's aggregation enclave under `privacy.tee`: it runs the strategy (and client-level DP) on the decrypted updates. */
  enclave: AggregationEnclave | undefined;
}

/** Takes over the store's running job of this name (with `resume`), or creates a new job with a fresh model. */
export async function startJob(job: CoordinatorJob, storage: Storage, options: JobDriverOptions): Promise<JobState> {
  const { config, spec } = job;
  await initBackend();
  const registry = new ModelRegistry(storage);
  const nodes = new NodeManager(storage);
  const scheduler = new TaskScheduler(storage, nodes);
  const streams = jobStreams(config.seed);
  const initial = await LocalModel.create(spec, { seed: streams.initSeed });
  const weights = initial.getWeights();
  initial.dispose();
  const dp = config.privacy.dp;
  const base = createStrategy(config.strategy);
  // Client-level DP clips and noises on the coordinator, before the strategy sees anything; under
  // secure aggregation the participants do it (SecAggParticipant), since the coordinator cannot; with
  // an enclave, the enclave does it together with the strategy.
  const enclave = config.privacy.tee
    ? await AggregationEnclave.launch(
        {
          strategy: config.strategy,
          ...(dp?.mode === 'client' ? { dp: { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise: dp.noise, seed: streams.initSeed, ...(dp.gridStep === undefined ? {} : { gridStep: dp.gridStep }) } } : {}),
        },
        { resources: { memoryMb: config.privacy.teeMemoryMb } },
      )
    : undefined;
  const strategy = enclave
    ? new EnclaveAggregated(base)
    : dp?.mode === 'client' && !config.privacy.secagg
      ? new DpFixedClipping(base, { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise: noiseSourceFor(dp.noise, streams.initSeed), gridStep: dp.gridStep })
      : base;
  const manager = new TrainingManager(storage, registry, strategy, {
    validator: new ModelValidator({ expectedLength: weights.length, thresholds: config.validation }),
    streaming: options.durable,
    durable: options.durable,
  });
  const running = options.resume ? (await storage.jobs.list()).find((j) => j.status === 'running' && j.name === config.name && j.modelId) : undefined;
  let jobId: string;
  let modelId: string;
  let createdAt: number;
  if (running) {
    jobId = running.id;
    modelId = running.modelId as string;
    createdAt = running.createdAt;
    // FedAdam's and FedYogi's moments continue where the previous process left them.
    await manager.restoreStrategyState(modelId);
  } else {
    jobId = `job-${randomUUID()}`;
    createdAt = Date.now();
    modelId = await storage.transaction(async () => {
      const id = await registry.registerModel({ name: config.name, architecture: spec, hyperparameters: { ...config.training, strategy: config.strategy }, initialWeights: weights });
      await storage.jobs.upsert({ id: jobId, name: config.name, config, status: 'running', modelId: id, report: null, createdAt, finishedAt: null });
      return id;
    });
  }
  const federation = new Map<string, number>();
  const privacy = dp ? await JobPrivacy.open(storage, dp, { jobId, datasetId: job.datasetId, federation, training: config.training }) : undefined;
  // A job taken over continues its own epsilon from the ledger's record of its rounds.
  if (privacy && running) await privacy.resume();
  return { jobId, resumed: Boolean(running), modelId, createdAt, manager, registry, nodes, scheduler, federation, privacy, enclave };
}
