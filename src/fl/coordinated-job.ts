import { InvalidInputError } from '../core/errors.js';
import { parseWithSchema, type Storage } from '../core/index.js';
import { loadCsvDataset, type Dataset, type ModelSpec } from '../ml/index.js';
import { modelSpecFor } from './federated-job.js';
import { JobConfigSchema, type JobConfig, type JobConfigInput } from './job-config.js';
import { JobDriver, type RoundBase } from './job-driver.js';
import type { ParticipantChannel } from './participant-channel.js';

/** A job whose participants run elsewhere: the coordinator holds only the model and a held-out set. */
export interface PreparedCoordinatedJob {
  config: JobConfig;
  spec: ModelSpec;
  /** The coordinator's held-out data, for evaluating each round's model. */
  test: Dataset;
  /** How a participant reads its own CSV so that its features match the model (sent in the welcome). */
  data: ParticipantDataOptions;
  /** Ledger name of the participants' data for differential privacy: `privacy.dp.dataset`, else the job's name. */
  datasetId: string;
}

/** What a participant needs to load its local CSV the way the job expects. */
export interface ParticipantDataOptions {
  labelColumn: string | number;
  features?: (string | number)[];
  header: boolean | 'auto';
  delimiter: string;
  featureShape?: number[];
  scale: { kind: 'none' } | { kind: 'divide'; by: number } | { kind: 'minmax' };
  /** Min-max statistics from the coordinator's held-out set, so every participant scales alike. */
  stats?: { min: number[]; max: number[] };
  /** Class names in label order when labels are text, so a participant's labels map to the same outputs. */
  labels?: string[];
  numClasses: number;
}

/** Validates a job config for a coordinator and loads its held-out set; training data stays with the participants. */
export async function prepareCoordinatedJob(input: JobConfigInput | unknown): Promise<PreparedCoordinatedJob> {
  const config = parseWithSchema(input, JobConfigSchema, 'config');
  if (config.adversaries) {
    throw new InvalidInputError('CONFIG_UNSUPPORTED_REMOTE', "config field 'adversaries': simulated attackers exist only in simulation (`cipher-nexus train`); remove it to serve the job to remote participants");
  }
  const d = config.data;
  const loaded = await loadCsvDataset(d.test, { labelColumn: d.labelColumn, features: d.features, header: d.header, delimiter: d.delimiter, featureShape: d.featureShape, scale: d.scale });
  const spec = modelSpecFor(config, loaded.dataset);
  const data: ParticipantDataOptions = {
    labelColumn: d.labelColumn,
    ...(d.features ? { features: d.features } : {}),
    header: d.header,
    delimiter: d.delimiter,
    ...(d.featureShape ? { featureShape: d.featureShape } : {}),
    scale: d.scale,
    ...(loaded.stats ? { stats: { min: Array.from(loaded.stats.min), max: Array.from(loaded.stats.max) } } : {}),
    ...(loaded.labels ? { labels: loaded.labels } : {}),
    numClasses: loaded.dataset.numClasses,
  };
  return { config, spec, test: loaded.dataset, data, datasetId: config.privacy.dp?.dataset ?? config.name };
}

/**
 * Opens a served job on the job driver: taken over from the store when a coordinator restarts, updates kept until their
 * round closes. An edge (`roundBase` given) always starts a new job: its rounds exist only as answers to its upstream's.
 */
export function openCoordinatedJob(prepared: PreparedCoordinatedJob, storage: Storage, channel: ParticipantChannel, roundBase?: RoundBase): Promise<JobDriver> {
  return JobDriver.open({ ...prepared, ...(prepared.data.labels ? { classNames: prepared.data.labels } : {}) }, storage, channel, { resume: !roundBase, durable: true, openMembership: true, ...(roundBase ? { roundBase } : {}) });
}

