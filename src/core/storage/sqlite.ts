import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { NotFoundError, StateError } from '../errors.js';
import { Mutex } from '../mutex.js';
import { applyMigrations, MIGRATIONS, type Migration } from './migrations.js';
import type {
  JobRepository,
  ModelRepository,
  NodeRepository,
  PrivacyRepository,
  RoundRepository,
  Storage,
  TaskRepository,
} from './repository.js';
import {
  decodeWeights,
  encodeBytes,
  encodeRdp,
  encodeWeights,
  jobFromRow,
  modelFromRow,
  nodeFromRow,
  privacyBudgetFromRow,
  privacyChargeFromRow,
  roundFromRow,
  strategyStateFromRow,
  taskFromRow,
  toJson,
  updateFromRow,
  versionMetaFromRow,
  type JobRow,
  type ModelRow,
  type NodeRow,
  type PrivacyBudgetRow,
  type PrivacyChargeRow,
  type RoundRow,
  type StrategyStateRow,
  type TaskRow,
  type UpdateRow,
  type VersionRow,
} from './rows.js';

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
/** The connection as repository steps use it. */
type Connection = Pick<Db, 'prepare' | 'transaction'>;

function isSqliteError(error: unknown, code: string): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === code;
}

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
  /** Every statement is compiled once per SQL text and reused: compiling cost about 0.5 ms per accepted update. */
  private readonly connection: Connection;
  private readonly root: Scope = { mutex: new Mutex(), depth: 0, active: true };
  private readonly scopes = new AsyncLocalStorage<Scope>();
  private closed = false;

  constructor(options: SqliteStorageOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    try {
      // Model weights and update payloads are blobs of hundreds of KB: 64 KiB pages store one in a few
      // pages instead of a hundred-page overflow chain (3x faster to write). Only takes effect on a new file.
      this.db.pragma('page_size = 65536');
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
    const statements = new Map<string, Database.Statement>();
    this.connection = {
      prepare: ((source: string) => {
        let statement = statements.get(source);
        if (!statement) {
          statement = this.db.prepare(source);
          statements.set(source, statement);
        }
        return statement;
      }) as Db['prepare'],
      transaction: this.db.transaction.bind(this.db) as Db['transaction'],
    };
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
  private run<T>(step: (db: Connection) => T): Promise<T> {
    return this.currentScope().mutex.runExclusive(() => {
      this.assertOpen();
      return step(this.connection);
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
      putStrategyState: (state) =>
        this.run((db) => {
          if (!db.prepare('SELECT 1 FROM models WHERE id = ?').get(state.modelId)) throw new NotFoundError('model', state.modelId);
          db.prepare(
            `INSERT INTO strategy_states (model_id, strategy, version, state, updated_at) VALUES (@modelId, @strategy, @version, @state, @updatedAt)
             ON CONFLICT (model_id) DO UPDATE SET strategy = excluded.strategy, version = excluded.version, state = excluded.state, updated_at = excluded.updated_at`,
          ).run({ modelId: state.modelId, strategy: state.strategy, version: state.version, state: encodeBytes(state.state), updatedAt: state.updatedAt });
        }),
      getStrategyState: (modelId) =>
        this.run((db) => {
          const row = db.prepare('SELECT * FROM strategy_states WHERE model_id = ?').get(modelId) as StrategyStateRow | undefined;
          return row && strategyStateFromRow(row);
        }),
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
              payload: update.payload ? encodeBytes(update.payload) : null,
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
