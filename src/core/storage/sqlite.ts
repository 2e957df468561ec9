import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { NotFoundError, StateError } from '../errors.js';
import { Mutex } from '../mutex.js';
import { applyMigrations, MIGRATIONS, type Migration } from './migrations.js';
import type {
  JobRecord,
  JobRepository,
  ModelRecord,
  ModelRepository,
  ModelVersionRecord,
  NodeRecord,
  NodeRepository,
  PrivacyBudgetRecord,
  PrivacyChargeRecord,
  PrivacyRepository,
  PrivacyScope,
  RoundRecord,
  RoundRepository,
  Storage,
  TaskRecord,
  TaskRepository,
  TaskStatus,
  UpdateRecord,
} from './repository.js';

/** Options of the embedded SQLite store. */
export interface SqliteStorageOptions {
  /** Database file, or ':memory:' for a throw-away store. Missing parent directories are created. */
  path: string;
  /** How long a write waits for another process's lock before failing, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /** Schema steps to apply at open; defaults to the shipped schema. */
  migrations?: readonly Migration[];
}

/**
 * Where a storage call runs. Outside any transaction that is the root scope; inside
 * `transaction(fn)` it is that transaction's own scope, so calls made by `fn` run inside it
 * while everyone else waits on the root.
 */
interface Scope {
  readonly mutex: Mutex;
  readonly depth: number;
  active: boolean;
}

type Db = Database.Database;

const BIG_ENDIAN_HOST = endianness() === 'BE';

/** The store's on-disk form of weights: little-endian float32, byte for byte. */
function encodeWeights(weights: Float32Array): Buffer {
  const bytes = Buffer.from(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  return BIG_ENDIAN_HOST ? bytes.swap32() : bytes;
}

function decodeWeights(blob: Buffer, modelId: string, version: number): Float32Array {
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

/** JSON text for an `unknown` field; SQL NULL stands for `undefined` so that `null` survives a round trip. */
function toJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

function isSqliteError(error: unknown, code: string): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === code;
}

interface NodeRow {
  id: string;
  status: NodeRecord['status'];
  resources: string;
  labels: string;
  registered_at: number;
  last_heartbeat: number;
}

interface TaskRow {
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

interface JobRow {
  id: string;
  name: string;
  config: string | null;
  status: JobRecord['status'];
  model_id: string | null;
  report: string | null;
  created_at: number;
  finished_at: number | null;
}

interface ModelRow {
  id: string;
  name: string;
  architecture: string | null;
  hyperparameters: string;
  latest_version: number;
  created_at: number;
}

interface VersionRow {
  model_id: string;
  version: number;
  sha256: string;
  parent_version: number | null;
  weights?: Buffer;
  metrics: string;
  round_id: string | null;
  created_at: number;
}

interface RoundRow {
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

interface UpdateRow {
  round_id: string;
  client_id: string;
  num_examples: number;
  sha256: string;
  metrics: string;
  received_at: number;
}

const nodeFromRow = (row: NodeRow): NodeRecord => ({
  id: row.id,
  status: row.status,
  resources: JSON.parse(row.resources),
  labels: JSON.parse(row.labels),
  registeredAt: row.registered_at,
  lastHeartbeat: row.last_heartbeat,
});

const taskFromRow = (row: TaskRow): TaskRecord => ({
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

const jobFromRow = (row: JobRow): JobRecord => ({
  id: row.id,
  name: row.name,
  config: fromJson(row.config),
  status: row.status,
  modelId: row.model_id,
  report: fromJson(row.report),
  createdAt: row.created_at,
  finishedAt: row.finished_at,
});

const modelFromRow = (row: ModelRow): ModelRecord => ({
  id: row.id,
  name: row.name,
  architecture: fromJson(row.architecture),
  hyperparameters: JSON.parse(row.hyperparameters),
  latestVersion: row.latest_version,
  createdAt: row.created_at,
});

const versionMetaFromRow = (row: VersionRow): Omit<ModelVersionRecord, 'weights'> => ({
  modelId: row.model_id,
  version: row.version,
  sha256: row.sha256,
  parentVersion: row.parent_version,
  metrics: JSON.parse(row.metrics),
  roundId: row.round_id,
  createdAt: row.created_at,
});

const roundFromRow = (row: RoundRow): RoundRecord => ({
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

const updateFromRow = (row: UpdateRow): UpdateRecord => ({
  roundId: row.round_id,
  clientId: row.client_id,
  numExamples: row.num_examples,
  sha256: row.sha256,
  metrics: JSON.parse(row.metrics),
  receivedAt: row.received_at,
});

interface PrivacyBudgetRow {
  scope_kind: PrivacyScope['kind'];
  scope_id: string;
  epsilon: number;
  delta: number;
  created_at: number;
  updated_at: number;
}

interface PrivacyChargeRow {
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

const privacyBudgetFromRow = (row: PrivacyBudgetRow): PrivacyBudgetRecord => ({
  scope: { kind: row.scope_kind, id: row.scope_id },
  epsilon: row.epsilon,
  delta: row.delta,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** JSON has no Infinity, and an RDP curve can be infinite at high orders: null stands for it. */
const encodeRdp = (rdp: readonly number[]): string => JSON.stringify(rdp.map((value) => (value === Infinity ? null : value)));

const decodeRdp = (text: string): number[] => (JSON.parse(text) as (number | null)[]).map((value) => value ?? Infinity);

const privacyChargeFromRow = (row: PrivacyChargeRow): PrivacyChargeRecord => ({
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

/** The embedded store: one better-sqlite3 connection in WAL mode, schema migrated at open. */
export class SqliteStorage implements Storage {
  readonly nodes: NodeRepository;
  readonly tasks: TaskRepository;
  readonly jobs: JobRepository;
  readonly models: ModelRepository;
  readonly rounds: RoundRepository;
  readonly privacy: PrivacyRepository;
  /** Schema versions applied when this storage was opened (empty if the file was current). */
  readonly appliedMigrations: readonly number[];

  private readonly db: Db;
  private readonly root: Scope = { mutex: new Mutex(), depth: 0, active: true };
  private readonly scopes = new AsyncLocalStorage<Scope>();
  private closed = false;

  constructor(options: SqliteStorageOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    try {
      this.db.pragma('journal_mode = WAL');
      // NORMAL is durable against application crashes in WAL mode and avoids an fsync per commit.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      this.appliedMigrations = applyMigrations(this.db, options.migrations ?? MIGRATIONS);
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.nodes = this.nodeRepository();
    this.tasks = this.taskRepository();
    this.jobs = this.jobRepository();
    this.models = this.modelRepository();
    this.rounds = this.roundRepository();
    this.privacy = this.privacyRepository();
  }

  /** Runs `fn` atomically; nested calls from inside `fn` become savepoints instead of waiting. */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    const parent = this.currentScope();
    return parent.mutex.runExclusive(async () => {
      this.assertOpen();
      const scope: Scope = { mutex: new Mutex(), depth: parent.depth + 1, active: true };
      const savepoint = `cn_tx_${scope.depth}`;
      this.db.exec(parent === this.root ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${savepoint}`);
      try {
        const result = await this.scopes.run(scope, fn);
        this.db.exec(parent === this.root ? 'COMMIT' : `RELEASE ${savepoint}`);
        return result;
      } catch (error) {
        // Some SQLite errors already rolled the whole transaction back; rolling back again would throw.
        if (this.db.inTransaction) {
          this.db.exec(parent === this.root ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
        }
        throw error;
      } finally {
        scope.active = false;
      }
    });
  }

  /** Waits for queued work, then closes the connection; later calls fail with STORAGE_CLOSED. */
  close(): Promise<void> {
    if (this.currentScope() !== this.root) {
      return Promise.reject(
        new StateError('STORAGE_CLOSE_IN_TRANSACTION', 'close() was called inside a transaction; close the storage after the transaction returns'),
      );
    }
    return this.root.mutex.runExclusive(() => {
      if (this.closed) return;
      this.closed = true;
      this.db.close();
    });
  }

  private currentScope(): Scope {
    const scope = this.scopes.getStore();
    return scope?.active ? scope : this.root;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new StateError('STORAGE_CLOSED', 'the storage is closed; open it again with openStorage()');
    }
  }

  /** Runs one synchronous database step in the caller's scope, queued behind running transactions. */
  private run<T>(step: (db: Db) => T): Promise<T> {
    return this.currentScope().mutex.runExclusive(() => {
      this.assertOpen();
      return step(this.db);
    });
  }

  private nodeRepository(): NodeRepository {
    return {
      upsert: (node) =>
        this.run((db) => {
          db.prepare(
            `INSERT INTO nodes (id, status, resources, labels, registered_at, last_heartbeat)
             VALUES (@id, @status, @resources, @labels, @registeredAt, @lastHeartbeat)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, resources = excluded.resources,
               labels = excluded.labels, registered_at = excluded.registered_at, last_heartbeat = excluded.last_heartbeat`,
          ).run({
            id: node.id,
            status: node.status,
            resources: JSON.stringify(node.resources),
            labels: JSON.stringify(node.labels),
            registeredAt: node.registeredAt,
            lastHeartbeat: node.lastHeartbeat,
          });
        }),
      get: (id) =>
        this.run((db) => {
          const row = db.prepare('SELECT * FROM nodes WHERE id = ?').get(id) as NodeRow | undefined;
          return row && nodeFromRow(row);
        }),
      list: () =>
        this.run((db) => (db.prepare('SELECT * FROM nodes ORDER BY registered_at, id').all() as NodeRow[]).map(nodeFromRow)),
      delete: (id) => this.run((db) => db.prepare('DELETE FROM nodes WHERE id = ?').run(id).changes > 0),
    };
  }

  private taskRepository(): TaskRepository {
    return {
      upsert: (task) =>
        this.run((db) => {
          db.prepare(
            `INSERT INTO tasks (id, type, priority, requirements, status, node_id, attempts, max_attempts,
               payload, result, error, created_at, updated_at)
             VALUES (@id, @type, @priority, @requirements, @status, @nodeId, @attempts, @maxAttempts,
               @payload, @result, @error, @createdAt, @updatedAt)
             ON CONFLICT (id) DO UPDATE SET type = excluded.type, priority = excluded.priority,
               requirements = excluded.requirements, status = excluded.status, node_id = excluded.node_id,
               attempts = excluded.attempts, max_attempts = excluded.max_attempts, payload = excluded.payload,
               result = excluded.result, error = excluded.error, created_at = excluded.created_at,
               updated_at = excluded.updated_at`,
          ).run({
            id: task.id,
            type: task.type,
            priority: task.priority,
            requirements: JSON.stringify(task.requirements),
            status: task.status,
            nodeId: task.nodeId,
            attempts: task.attempts,
            maxAttempts: task.maxAttempts,
            payload: toJson(task.payload),
            result: toJson(task.result),
            error: task.error,
            createdAt: task.createdAt,
            updatedAt: task.updatedAt,
          });
        }),
      get: (id) =>
        this.run((db) => {
          const row = db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
          return row && taskFromRow(row);
        }),
      list: (filter = {}) =>
        this.run((db) => {
          const rows = db
            .prepare(
              `SELECT * FROM tasks
               WHERE (@status IS NULL OR status = @status) AND (@nodeId IS NULL OR node_id = @nodeId)
               ORDER BY created_at, rowid`,
            )
            .all({ status: filter.status ?? null, nodeId: filter.nodeId ?? null }) as TaskRow[];
          return rows.map(taskFromRow);
        }),
    };
  }

  private jobRepository(): JobRepository {
    return {
      upsert: (job) =>
        this.run((db) => {
          db.prepare(
            `INSERT INTO jobs (id, name, config, status, model_id, report, created_at, finished_at)
             VALUES (@id, @name, @config, @status, @modelId, @report, @createdAt, @finishedAt)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, config = excluded.config,
               status = excluded.status, model_id = excluded.model_id, report = excluded.report,
               created_at = excluded.created_at, finished_at = excluded.finished_at`,
          ).run({
            id: job.id,
            name: job.name,
            config: toJson(job.config),
            status: job.status,
            modelId: job.modelId,
            report: toJson(job.report),
            createdAt: job.createdAt,
            finishedAt: job.finishedAt,
          });
        }),
      get: (id) =>
        this.run((db) => {
          const row = db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
          return row && jobFromRow(row);
        }),
      list: () =>
        this.run((db) => (db.prepare('SELECT * FROM jobs ORDER BY created_at, rowid').all() as JobRow[]).map(jobFromRow)),
    };
  }

  private modelRepository(): ModelRepository {
    return {
      insertModel: (model) =>
        this.run((db) => {
          try {
            db.prepare(
              `INSERT INTO models (id, name, architecture, hyperparameters, latest_version, created_at)
               VALUES (@id, @name, @architecture, @hyperparameters, @latestVersion, @createdAt)`,
            ).run({
              id: model.id,
              name: model.name,
              architecture: toJson(model.architecture),
              hyperparameters: JSON.stringify(model.hyperparameters),
              latestVersion: model.latestVersion,
              createdAt: model.createdAt,
            });
          } catch (error) {
            if (isSqliteError(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) {
              throw new StateError('MODEL_DUPLICATE', `model '${model.id}' already exists; choose another id or add a version to it`, {
                id: model.id,
              });
            }
            throw error;
          }
        }),
      getModel: (id) =>
        this.run((db) => {
          const row = db.prepare('SELECT * FROM models WHERE id = ?').get(id) as ModelRow | undefined;
          return row && modelFromRow(row);
        }),
      listModels: () =>
        this.run((db) =>
          (db.prepare('SELECT * FROM models ORDER BY created_at, rowid').all() as ModelRow[]).map(modelFromRow),
        ),
      insertVersion: (version) =>
        this.run((db) =>
          db.transaction(() => {
            if (!db.prepare('SELECT 1 FROM models WHERE id = ?').get(version.modelId)) {
              throw new NotFoundError('model', version.modelId);
            }
            try {
              db.prepare(
                `INSERT INTO model_versions (model_id, version, sha256, parent_version, weights, metrics, round_id, created_at)
                 VALUES (@modelId, @version, @sha256, @parentVersion, @weights, @metrics, @roundId, @createdAt)`,
              ).run({
                modelId: version.modelId,
                version: version.version,
                sha256: version.sha256,
                parentVersion: version.parentVersion,
                weights: encodeWeights(version.weights),
                metrics: JSON.stringify(version.metrics),
                roundId: version.roundId,
                createdAt: version.createdAt,
              });
            } catch (error) {
              if (isSqliteError(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) {
                throw new StateError(
                  'MODEL_VERSION_DUPLICATE',
                  `model '${version.modelId}' already has version ${version.version}; versions are immutable, store the next number instead`,
                  { modelId: version.modelId, version: version.version },
                );
              }
              throw error;
            }
            // MAX keeps `latestVersion` pointing at the newest one if an older version is back-filled.
            db.prepare('UPDATE models SET latest_version = MAX(latest_version, ?) WHERE id = ?').run(
              version.version,
              version.modelId,
            );
          })(),
        ),
      getVersion: (modelId, version) =>
        this.run((db) => {
          const row = db.prepare('SELECT * FROM model_versions WHERE model_id = ? AND version = ?').get(modelId, version) as
            | (VersionRow & { weights: Buffer })
            | undefined;
          return row && { ...versionMetaFromRow(row), weights: decodeWeights(row.weights, modelId, version) };
        }),
      listVersions: (modelId) =>
        this.run((db) =>
          (
            db
              .prepare(
                `SELECT model_id, version, sha256, parent_version, metrics, round_id, created_at
                 FROM model_versions WHERE model_id = ? ORDER BY version`,
              )
              .all(modelId) as VersionRow[]
          ).map(versionMetaFromRow),
        ),
    };
  }

  private roundRepository(): RoundRepository {
    return {
      upsert: (round) =>
        this.run((db) =>
          db.transaction(() => {
            // Checked here, not left to the foreign key, so the error can name the missing model.
            if (!db.prepare('SELECT 1 FROM models WHERE id = ?').get(round.modelId)) {
              throw new NotFoundError('model', round.modelId);
            }
            db.prepare(
              `INSERT INTO rounds (id, job_id, model_id, number, status, participants, quorum, deadline,
                 base_version, result_version, metrics, started_at, finished_at, error)
               VALUES (@id, @jobId, @modelId, @number, @status, @participants, @quorum, @deadline,
                 @baseVersion, @resultVersion, @metrics, @startedAt, @finishedAt, @error)
               ON CONFLICT (id) DO UPDATE SET job_id = excluded.job_id, model_id = excluded.model_id,
                 number = excluded.number, status = excluded.status, participants = excluded.participants,
                 quorum = excluded.quorum, deadline = excluded.deadline, base_version = excluded.base_version,
                 result_version = excluded.result_version, metrics = excluded.metrics,
                 started_at = excluded.started_at, finished_at = excluded.finished_at, error = excluded.error`,
            ).run({
              id: round.id,
              jobId: round.jobId,
              modelId: round.modelId,
              number: round.number,
              status: round.status,
              participants: JSON.stringify(round.participants),
              quorum: round.quorum,
              deadline: round.deadline,
              baseVersion: round.baseVersion,
              resultVersion: round.resultVersion,
              metrics: JSON.stringify(round.metrics),
              startedAt: round.startedAt,
              finishedAt: round.finishedAt,
              error: round.error,
            });
          })(),
        ),
      get: (id) =>
        this.run((db) => {
          const row = db.prepare('SELECT * FROM rounds WHERE id = ?').get(id) as RoundRow | undefined;
          return row && roundFromRow(row);
        }),
      list: (filter = {}) =>
        this.run((db) => {
          const rows = db
            .prepare('SELECT * FROM rounds WHERE (@jobId IS NULL OR job_id = @jobId) ORDER BY job_id, number, rowid')
            .all({ jobId: filter.jobId ?? null }) as RoundRow[];
          return rows.map(roundFromRow);
        }),
      insertUpdate: (update) =>
        this.run((db) => {
          if (!db.prepare('SELECT 1 FROM rounds WHERE id = ?').get(update.roundId)) {
            throw new NotFoundError('round', update.roundId);
          }
          try {
            db.prepare(
              `INSERT INTO updates (round_id, client_id, num_examples, sha256, metrics, received_at, payload)
               VALUES (@roundId, @clientId, @numExamples, @sha256, @metrics, @receivedAt, @payload)`,
            ).run({
              roundId: update.roundId,
              clientId: update.clientId,
              numExamples: update.numExamples,
              sha256: update.sha256,
              metrics: JSON.stringify(update.metrics),
              receivedAt: update.receivedAt,
              payload: update.payload ? Buffer.from(update.payload.buffer, update.payload.byteOffset, update.payload.byteLength) : null,
            });
          } catch (error) {
            if (isSqliteError(error, 'SQLITE_CONSTRAINT_UNIQUE')) {
              throw new StateError(
                'UPDATE_DUPLICATE',
                `client '${update.clientId}' already submitted an update to round '${update.roundId}'; each client submits once per round`,
                { roundId: update.roundId, clientId: update.clientId },
              );
            }
            throw error;
          }
        }),
      listUpdates: (roundId) =>
        this.run((db) =>
          (
            db
              .prepare('SELECT round_id, client_id, num_examples, sha256, metrics, received_at FROM updates WHERE round_id = ? ORDER BY received_at, rowid')
              .all(roundId) as UpdateRow[]
          ).map(updateFromRow),
        ),
      getUpdatePayload: (roundId, clientId) =>
        this.run((db) => {
          const row = db.prepare('SELECT payload FROM updates WHERE round_id = ? AND client_id = ?').get(roundId, clientId) as
            | { payload: Buffer | null }
            | undefined;
          return row?.payload ? new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength) : undefined;
        }),
      clearUpdatePayloads: (roundId) =>
        this.run((db) => db.prepare('UPDATE updates SET payload = NULL WHERE round_id = ? AND payload IS NOT NULL').run(roundId).changes),
    };
  }

  private privacyRepository(): PrivacyRepository {
    return {
      setBudget: (budget) =>
        this.run((db) => {
          db.prepare(
            `INSERT INTO privacy_budgets (scope_kind, scope_id, epsilon, delta, created_at, updated_at)
             VALUES (@kind, @id, @epsilon, @delta, @createdAt, @updatedAt)
             ON CONFLICT (scope_kind, scope_id) DO UPDATE SET epsilon = excluded.epsilon, delta = excluded.delta,
               updated_at = excluded.updated_at`,
          ).run({
            kind: budget.scope.kind,
            id: budget.scope.id,
            epsilon: budget.epsilon,
            delta: budget.delta,
            createdAt: budget.createdAt,
            updatedAt: budget.updatedAt,
          });
        }),
      getBudget: (scope) =>
        this.run((db) => {
          const row = db
            .prepare('SELECT * FROM privacy_budgets WHERE scope_kind = ? AND scope_id = ?')
            .get(scope.kind, scope.id) as PrivacyBudgetRow | undefined;
          return row && privacyBudgetFromRow(row);
        }),
      listBudgets: () =>
        this.run((db) =>
          (db.prepare('SELECT * FROM privacy_budgets ORDER BY scope_kind, scope_id').all() as PrivacyBudgetRow[]).map(
            privacyBudgetFromRow,
          ),
        ),
      insertCharge: (charge) =>
        this.run((db) => {
          const { kind, id } = charge.scope;
          if (!db.prepare('SELECT 1 FROM privacy_budgets WHERE scope_kind = ? AND scope_id = ?').get(kind, id)) {
            throw new NotFoundError('privacy_budget', `${kind}:${id}`);
          }
          try {
            db.prepare(
              `INSERT INTO privacy_charges (id, scope_kind, scope_id, job_id, round, events, orders, rdp,
                 epsilon_after, delta, conversion, created_at)
               VALUES (@id, @kind, @scopeId, @jobId, @round, @events, @orders, @rdp,
                 @epsilonAfter, @delta, @conversion, @createdAt)`,
            ).run({
              id: charge.id,
              kind,
              scopeId: id,
              jobId: charge.jobId,
              round: charge.round,
              events: JSON.stringify(charge.events),
              orders: JSON.stringify(charge.orders),
              rdp: encodeRdp(charge.rdp),
              epsilonAfter: charge.epsilonAfter,
              delta: charge.delta,
              conversion: charge.conversion,
              createdAt: charge.createdAt,
            });
          } catch (error) {
            if (isSqliteError(error, 'SQLITE_CONSTRAINT_UNIQUE')) {
              throw new StateError(
                'PRIVACY_CHARGE_DUPLICATE',
                `round ${charge.round} of job '${charge.jobId}' is already charged to ${kind} '${id}'; a re-run releases again, so charge it under a new round number`,
                { scope: charge.scope, jobId: charge.jobId, round: charge.round },
              );
            }
            throw error;
          }
        }),
      listCharges: (scope) =>
        this.run((db) =>
          (
            db
              .prepare('SELECT * FROM privacy_charges WHERE scope_kind = ? AND scope_id = ? ORDER BY created_at, rowid')
              .all(scope.kind, scope.id) as PrivacyChargeRow[]
          ).map(privacyChargeFromRow),
        ),
    };
  }
}
