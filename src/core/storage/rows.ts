import { endianness } from 'node:os';
import { StateError } from '../errors.js';
import type {
  JobRecord,
  ModelRecord,
  ModelVersionRecord,
  NodeRecord,
  PrivacyBudgetRecord,
  PrivacyChargeRecord,
  PrivacyScope,
  RoundRecord,
  StrategyStateRecord,
  TaskRecord,
  TaskStatus,
  UpdateRecord,
} from './repository.js';

/**
 * The rows of the storage schema as a SQL driver returns them, and their conversion to and from
 * records. Both adapters store the same columns under the same names (JSON as text, weights by
 * their model-store digest, payloads as bytes, integers as 64-bit), so one set of conversions serves both.
 */

const BIG_ENDIAN_HOST = endianness() === 'BE';

/** The store's form of weights: little-endian float32, byte for byte. */
export function encodeWeights(weights: Float32Array): Buffer {
  const bytes = Buffer.from(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  return BIG_ENDIAN_HOST ? bytes.swap32() : bytes;
}

/** Weights back from their stored bytes; a length that is not a multiple of 4 means a damaged database. */
export function decodeWeights(blob: Uint8Array, modelId: string, version: number): Float32Array {
  if (blob.byteLength % 4 !== 0) {
    throw new StateError(
      'STORAGE_CORRUPT',
      `weights of model '${modelId}' version ${version} are ${blob.byteLength} bytes, not a whole number of float32 values; restore the database from a backup`,
    );
  }
  // Copy into a fresh buffer: the Buffer we get may be a view at an unaligned offset of a larger one.
  const weights = new Float32Array(blob.byteLength / 4);
  const bytes = new Uint8Array(weights.buffer);
  bytes.set(blob);
  if (BIG_ENDIAN_HOST) Buffer.from(weights.buffer).swap32();
  return weights;
}

/** A byte payload as a driver parameter, without copying it. */
export function encodeBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** JSON text for an `unknown` field; SQL NULL stands for `undefined` so that `null` survives a round trip. */
export function toJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** The inverse of `toJson`. */
export function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

/** JSON has no Infinity, and an RDP curve can be infinite at high orders: null stands for it. */
export const encodeRdp = (rdp: readonly number[]): string =>
  JSON.stringify(rdp.map((value) => (value === Infinity ? null : value)));

/** The inverse of `encodeRdp`. */
export const decodeRdp = (text: string): number[] => (JSON.parse(text) as (number | null)[]).map((value) => value ?? Infinity);

export interface NodeRow {
  id: string;
  status: NodeRecord['status'];
  resources: string;
  labels: string;
  registered_at: number;
  last_heartbeat: number;
}

export interface TaskRow {
  id: string;
  type: string;
  priority: number;
  requirements: string;
  status: TaskStatus;
  node_id: string | null;
  attempts: number;
  max_attempts: number;
  payload: string | null;
  result: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface JobRow {
  id: string;
  name: string;
  config: string | null;
  status: JobRecord['status'];
  model_id: string | null;
  report: string | null;
  created_at: number;
  finished_at: number | null;
}

export interface ModelRow {
  id: string;
  name: string;
  architecture: string | null;
  hyperparameters: string;
  latest_version: number;
  created_at: number;
}

export interface VersionRow {
  model_id: string;
  version: number;
  sha256: string;
  parent_version: number | null;
  /** The model-store blob of the weights; null once garbage collection removed them. */
  weights_digest?: string | null;
  metrics: string;
  round_id: string | null;
  created_at: number;
}

export interface RoundRow {
  id: string;
  job_id: string;
  model_id: string;
  number: number;
  status: RoundRecord['status'];
  participants: string;
  quorum: number;
  deadline: number;
  base_version: number;
  result_version: number | null;
  metrics: string;
  started_at: number;
  finished_at: number | null;
  error: string | null;
}

/** An update as listed: its payload column is never selected. */
export interface UpdateRow {
  round_id: string;
  client_id: string;
  num_examples: number;
  sha256: string;
  metrics: string;
  received_at: number;
}

export interface PrivacyBudgetRow {
  scope_kind: PrivacyScope['kind'];
  scope_id: string;
  epsilon: number;
  delta: number;
  created_at: number;
  updated_at: number;
}

export interface PrivacyChargeRow {
  id: string;
  scope_kind: PrivacyScope['kind'];
  scope_id: string;
  job_id: string;
  round: number;
  events: string;
  orders: string;
  rdp: string;
  epsilon_after: number;
  delta: number;
  conversion: string;
  created_at: number;
}

/** A node from its row. */
export const nodeFromRow = (row: NodeRow): NodeRecord => ({
  id: row.id,
  status: row.status,
  resources: JSON.parse(row.resources),
  labels: JSON.parse(row.labels),
  registeredAt: row.registered_at,
  lastHeartbeat: row.last_heartbeat,
});

/** A task from its row. */
export const taskFromRow = (row: TaskRow): TaskRecord => ({
  id: row.id,
  type: row.type,
  priority: row.priority,
  requirements: JSON.parse(row.requirements),
  status: row.status,
  nodeId: row.node_id,
  attempts: row.attempts,
  maxAttempts: row.max_attempts,
  payload: fromJson(row.payload),
  result: fromJson(row.result),
  error: row.error,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** A job from its row. */
export const jobFromRow = (row: JobRow): JobRecord => ({
  id: row.id,
  name: row.name,
  config: fromJson(row.config),
  status: row.status,
  modelId: row.model_id,
  report: fromJson(row.report),
  createdAt: row.created_at,
  finishedAt: row.finished_at,
});

/** A model from its row. */
export const modelFromRow = (row: ModelRow): ModelRecord => ({
  id: row.id,
  name: row.name,
  architecture: fromJson(row.architecture),
  hyperparameters: JSON.parse(row.hyperparameters),
  latestVersion: row.latest_version,
  createdAt: row.created_at,
});

/** A model version's metadata from its row; the weights are decoded separately. */
export const versionMetaFromRow = (row: VersionRow): Omit<ModelVersionRecord, 'weights'> => ({
  modelId: row.model_id,
  version: row.version,
  sha256: row.sha256,
  parentVersion: row.parent_version,
  metrics: JSON.parse(row.metrics),
  roundId: row.round_id,
  createdAt: row.created_at,
});

/** A round from its row. */
export const roundFromRow = (row: RoundRow): RoundRecord => ({
  id: row.id,
  jobId: row.job_id,
  modelId: row.model_id,
  number: row.number,
  status: row.status,
  participants: JSON.parse(row.participants),
  quorum: row.quorum,
  deadline: row.deadline,
  baseVersion: row.base_version,
  resultVersion: row.result_version,
  metrics: JSON.parse(row.metrics),
  startedAt: row.started_at,
  finishedAt: row.finished_at,
  error: row.error,
});

/** An update, without its payload, from its row. */
export const updateFromRow = (row: UpdateRow): UpdateRecord => ({
  roundId: row.round_id,
  clientId: row.client_id,
  numExamples: row.num_examples,
  sha256: row.sha256,
  metrics: JSON.parse(row.metrics),
  receivedAt: row.received_at,
});

/** A privacy budget from its row. */
export const privacyBudgetFromRow = (row: PrivacyBudgetRow): PrivacyBudgetRecord => ({
  scope: { kind: row.scope_kind, id: row.scope_id },
  epsilon: row.epsilon,
  delta: row.delta,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** A privacy charge from its row. */
export const privacyChargeFromRow = (row: PrivacyChargeRow): PrivacyChargeRecord => ({
  id: row.id,
  scope: { kind: row.scope_kind, id: row.scope_id },
  jobId: row.job_id,
  round: row.round,
  events: JSON.parse(row.events),
  orders: JSON.parse(row.orders),
  rdp: decodeRdp(row.rdp),
  epsilonAfter: row.epsilon_after,
  delta: row.delta,
  conversion: row.conversion,
  createdAt: row.created_at,
});

export interface StrategyStateRow {
  model_id: string;
  strategy: string;
  version: number;
  state: Buffer;
  updated_at: number;
}

export function strategyStateFromRow(row: StrategyStateRow): StrategyStateRecord {
  // A fresh copy: the driver's Buffer may be a view into a larger one.
  return { modelId: row.model_id, strategy: row.strategy, version: row.version, state: new Uint8Array(row.state), updatedAt: row.updated_at };
}
