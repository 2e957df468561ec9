/**
 * The storage contract of Cipher Nexus. Every method is async so that the embedded SQLite adapter
 * and a PostgreSQL adapter can stand behind the same interface. JSON-valued fields are stored as
 * JSON text; weights are raw little-endian float32 bytes in the storage's content-addressed model store.
 */

import type { MarketRepository } from './market-repository.js';
import type { ModelStore } from './model-store/model-store.js';

export type * from './market-repository.js';

export type NodeStatus = 'online' | 'busy' | 'offline';

/** Resources a compute node reports with each heartbeat. */
export interface ResourceMetrics {
  cpuCores: number;
  memoryMb: number;
  gpuCount?: number;
  /** Fraction of CPU in use, 0..1. */
  cpuLoad?: number;
  /** Fraction of memory in use, 0..1. */
  memoryLoad?: number;
  bandwidthMbps?: number;
}

export interface NodeRecord {
  id: string;
  status: NodeStatus;
  resources: ResourceMetrics;
  /** Free-form labels (organisation, region, data set names). */
  labels: Record<string, string>;
  registeredAt: number;
  lastHeartbeat: number;
}

export type TaskStatus = 'pending' | 'assigned' | 'completed' | 'failed';

/** What a task needs from the node that runs it. */
export interface ResourceRequirements {
  cpuCores?: number;
  memoryMb?: number;
  gpuCount?: number;
}

export interface TaskRecord {
  id: string;
  type: string;
  priority: number;
  requirements: ResourceRequirements;
  status: TaskStatus;
  nodeId: string | null;
  attempts: number;
  maxAttempts: number;
  payload: unknown;
  result: unknown;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}

export type JobStatus = 'running' | 'completed' | 'failed';

export interface JobRecord {
  id: string;
  name: string;
  config: unknown;
  status: JobStatus;
  modelId: string | null;
  report: unknown;
  createdAt: number;
  finishedAt: number | null;
}

export interface ModelRecord {
  id: string;
  name: string;
  architecture: unknown;
  hyperparameters: Record<string, unknown>;
  latestVersion: number;
  createdAt: number;
}

export interface ModelVersionRecord {
  modelId: string;
  version: number;
  sha256: string;
  parentVersion: number | null;
  weights: Float32Array;
  metrics: Record<string, number>;
  roundId: string | null;
  createdAt: number;
}

export type RoundStatus = 'open' | 'aggregating' | 'finalized' | 'failed';

export interface RoundRecord {
  id: string;
  jobId: string;
  modelId: string;
  number: number;
  status: RoundStatus;
  participants: string[];
  quorum: number;
  deadline: number;
  baseVersion: number;
  resultVersion: number | null;
  metrics: Record<string, number>;
  startedAt: number;
  finishedAt: number | null;
  error: string | null;
}

export interface UpdateRecord {
  roundId: string;
  clientId: string;
  numExamples: number;
  sha256: string;
  metrics: Record<string, number>;
  receivedAt: number;
  /**
   * The update's bytes, kept until the round is finalised so that a coordinator restarted mid-round
   * can rebuild its aggregate; never returned by listUpdates (read one at a time with getUpdatePayload).
   */
  payload?: Uint8Array;
}

export interface NodeRepository {
  upsert(node: NodeRecord): Promise<void>;
  get(id: string): Promise<NodeRecord | undefined>;
  list(): Promise<NodeRecord[]>;
  delete(id: string): Promise<boolean>;
}

export interface TaskRepository {
  upsert(task: TaskRecord): Promise<void>;
  get(id: string): Promise<TaskRecord | undefined>;
  list(filter?: { status?: TaskStatus; nodeId?: string }): Promise<TaskRecord[]>;
}

export interface JobRepository {
  upsert(job: JobRecord): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  list(): Promise<JobRecord[]>;
}

export interface ModelRepository {
  insertModel(model: ModelRecord): Promise<void>;
  getModel(id: string): Promise<ModelRecord | undefined>;
  listModels(): Promise<ModelRecord[]>;
  /**
   * Stores a version and moves the model's `latestVersion` to it. The model must exist
   * (MODEL_NOT_FOUND); a version number is stored once (MODEL_VERSION_DUPLICATE).
   */
  insertVersion(version: ModelVersionRecord): Promise<void>;
  getVersion(modelId: string, version: number): Promise<ModelVersionRecord | undefined>;
  /** Versions without their weights, oldest first. */
  listVersions(modelId: string): Promise<Omit<ModelVersionRecord, 'weights'>[]>;
  /**
   * Keeps the server strategy's state (e.g. FedAdam's moments) as of a model version, replacing the
   * previous one, so a restarted coordinator continues the optimiser instead of restarting it.
   * The model must exist (MODEL_NOT_FOUND).
   */
  putStrategyState(state: StrategyStateRecord): Promise<void>;
  getStrategyState(modelId: string): Promise<StrategyStateRecord | undefined>;
  /** Which model-store blob holds each version's weights (null once collected), by model then version. */
  listWeightReferences(): Promise<WeightReference[]>;
  /**
   * Forgets a version's weights so that garbage collection may delete their blob; the version's record
   * and lineage stay, and getVersion then fails with MODEL_WEIGHTS_COLLECTED. False when there was none.
   */
  dropWeights(modelId: string, version: number): Promise<boolean>;
}

/** The model-store blob a version's weights are in; `digest` is null once they were collected. */
export interface WeightReference {
  modelId: string;
  version: number;
  digest: string | null;
}

/** A server strategy's saved state: which strategy, as of which model version, and its bytes. */
export interface StrategyStateRecord {
  modelId: string;
  strategy: string;
  version: number;
  state: Uint8Array;
  updatedAt: number;
}

export interface RoundRepository {
  /** Creates or replaces a round; its model must exist (MODEL_NOT_FOUND), its job need not. */
  upsert(round: RoundRecord): Promise<void>;
  get(id: string): Promise<RoundRecord | undefined>;
  list(filter?: { jobId?: string }): Promise<RoundRecord[]>;
  /**
   * Records an accepted update; the round must exist (ROUND_NOT_FOUND), and a second update from the
   * same client in a round is refused by the store (UPDATE_DUPLICATE).
   */
  insertUpdate(update: UpdateRecord): Promise<void>;
  /** A round's accepted updates in arrival order, without their payloads. */
  listUpdates(roundId: string): Promise<UpdateRecord[]>;
  /** One accepted update's stored bytes, or undefined when none were kept (or they were cleared). */
  getUpdatePayload(roundId: string, clientId: string): Promise<Uint8Array | undefined>;
  /** Drops a round's stored update bytes once its aggregate is safely stored; returns how many were dropped. */
  clearUpdatePayloads(roundId: string): Promise<number>;
}

/** What a privacy budget covers: one data set, or one participant across every job it joins. */
export type PrivacyScopeKind = 'dataset' | 'participant';

export interface PrivacyScope {
  kind: PrivacyScopeKind;
  id: string;
}

/** The (epsilon, delta) a scope may spend over its lifetime. */
export interface PrivacyBudgetRecord {
  scope: PrivacyScope;
  /** Greater than 0. */
  epsilon: number;
  /** In (0, 1). */
  delta: number;
  createdAt: number;
  updatedAt: number;
}

/** One round's privacy cost charged to one scope, kept as Renyi DP so that charges compose exactly. */
export interface PrivacyChargeRecord {
  id: string;
  scope: PrivacyScope;
  jobId: string;
  /** Round number within the job, >= 0. */
  round: number;
  /** The accountant events of this charge, as JSON-safe values. */
  events: unknown[];
  /** The RDP orders `rdp` is given at. */
  orders: number[];
  /** RDP of this charge alone, one value per order; may hold Infinity. */
  rdp: number[];
  /** The scope's total epsilon right after this charge, at `delta` under `conversion`. */
  epsilonAfter: number;
  delta: number;
  /** How RDP was converted to (epsilon, delta), e.g. 'improved'. */
  conversion: string;
  createdAt: number;
}

export interface PrivacyRepository {
  /** Creates or replaces a scope's budget; a replaced budget keeps its `createdAt`. */
  setBudget(budget: PrivacyBudgetRecord): Promise<void>;
  getBudget(scope: PrivacyScope): Promise<PrivacyBudgetRecord | undefined>;
  /** Every budget, ordered by scope kind then id. */
  listBudgets(): Promise<PrivacyBudgetRecord[]>;
  /**
   * Records a charge; its scope must have a budget (PRIVACY_BUDGET_NOT_FOUND), and a scope is
   * charged once per job and round (PRIVACY_CHARGE_DUPLICATE).
   */
  insertCharge(charge: PrivacyChargeRecord): Promise<void>;
  /** A scope's charges, oldest first. */
  listCharges(scope: PrivacyScope): Promise<PrivacyChargeRecord[]>;
}

/** The storage a Cipher Nexus process uses; open one with `openStorage`. */
export interface Storage {
  readonly nodes: NodeRepository;
  readonly tasks: TaskRepository;
  readonly jobs: JobRepository;
  readonly models: ModelRepository;
  readonly rounds: RoundRepository;
  readonly privacy: PrivacyRepository;
  readonly market: MarketRepository;
  /** Where model weights live, content-addressed: files beside SQLite, large objects in PostgreSQL. */
  readonly modelStore: ModelStore;
  /** Runs `fn` atomically: everything it wrote is kept, or nothing is. Calls are serialised. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
