import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { InvalidInputError, NotFoundError, StateError } from '../errors.js';
import { Mutex } from '../mutex.js';
import { SharedExclusiveLock } from '../shared-exclusive-lock.js';
import type { Migration } from './migrations.js';
import {
  connectionFailure,
  describeTarget,
  parsePostgresUrl,
  postgresPoolConfig,
  type PostgresConnectionOptions,
  type PostgresTarget,
} from './postgres-connection.js';
import { applyPostgresMigrations, POSTGRES_MIGRATIONS } from './postgres-migrations.js';
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

/** Options of the PostgreSQL store. */
export interface PostgresStorageOptions extends PostgresConnectionOptions {
  /** Schema steps to apply at open; defaults to the shipped schema. */
  migrations?: readonly Migration[];
}

/**
 * Advisory-lock class every outermost transaction holds (second key: the schema's hashtext), so that
 * transactions on one schema run one at a time across processes, as SQLite's BEGIN IMMEDIATE makes
 * them: callers rely on it for read-check-write steps (a privacy charge checked against the budget,
 * the next round number). Single calls outside a transaction do not take it.
 */
const TRANSACTION_LOCK = 0x434e_5458; // 'CNTX'

type Query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

/**
 * A transaction (or savepoint) in progress: its connection, and a mutex so that the calls `fn` makes
 * run one at a time on it. Inactive once ended; calls that still carry it then run outside.
 */
interface Scope {
  readonly query: Query;
  readonly mutex: Mutex;
  readonly depth: number;
  active: boolean;
}

/** True when `error` is PostgreSQL's `sqlstate` on the named constraint. */
function violated(error: unknown, sqlstate: string, constraint: string): boolean {
  return error instanceof pg.DatabaseError && error.code === sqlstate && error.constraint === constraint;
}

const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

/**
 * The store on a PostgreSQL server, for deployments that outgrow one machine: a connection pool,
 * the schema migrated at open, and the same behaviour as the SQLite store call for call.
 */
export class PostgresStorage implements Storage {
  readonly nodes: NodeRepository;
  readonly tasks: TaskRepository;
  readonly jobs: JobRepository;
  readonly models: ModelRepository;
  readonly rounds: RoundRepository;
  readonly privacy: PrivacyRepository;
  /** Schema versions applied when this storage was opened (empty if the schema was current). */
  readonly appliedMigrations: readonly number[];

  private readonly pool: pg.Pool;
  private readonly target: PostgresTarget;
  /**
   * Calls outside a transaction share the pool; a transaction holds this exclusively, so calls made
   * after it started wait for it as they would with SQLite's single connection.
   */
  private readonly lock = new SharedExclusiveLock();
  private readonly scopes = new AsyncLocalStorage<Scope>();
  private readonly poolQuery: Query;
  private closed = false;

  /** Connects, migrates the schema if needed, and returns the store (STORAGE_UNREACHABLE if the server cannot be used). */
  static async open(options: PostgresStorageOptions): Promise<PostgresStorage> {
    const target = parsePostgresUrl(options.url);
    const pool = new pg.Pool(postgresPoolConfig(options));
    // A pooled idle connection that drops (a server restart) is reported here and removed by pg; the
    // next call opens a new one. Without a listener the event would crash the process.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        const applied = await applyPostgresMigrations(client, options.migrations ?? POSTGRES_MIGRATIONS);
        client.release();
        return new PostgresStorage(pool, target, applied);
      } catch (error) {
        client.release(true);
        throw error;
      }
    } catch (error) {
      await pool.end();
      throw translate(error, target);
    }
  }

  private constructor(pool: pg.Pool, target: PostgresTarget, appliedMigrations: readonly number[]) {
    this.pool = pool;
    this.target = target;
    this.appliedMigrations = appliedMigrations;
    this.poolQuery = this.queryOn(pool);
    this.nodes = this.nodeRepository();
    this.tasks = this.taskRepository();
    this.jobs = this.jobRepository();
    this.models = this.modelRepository();
    this.rounds = this.roundRepository();
    this.privacy = this.privacyRepository();
  }

  /** Runs `fn` atomically on one connection; nested calls from inside `fn` become savepoints instead of waiting. */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    const parent = this.currentScope();
    if (!parent) return this.lock.runExclusive(() => this.outermost(fn));
    return parent.mutex.runExclusive(() => (parent.active ? this.nested(parent, fn) : this.transaction(fn)));
  }

  /** Waits for running calls and transactions, then closes every connection; later calls fail with STORAGE_CLOSED. */
  close(): Promise<void> {
    if (this.currentScope()) {
      return Promise.reject(
        new StateError('STORAGE_CLOSE_IN_TRANSACTION', 'close() was called inside a transaction; close the storage after the transaction returns'),
      );
    }
    return this.lock.runExclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.pool.end();
    });
  }

  private async outermost<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    const client = await this.pool.connect().catch((error: unknown) => {
      throw translate(error, this.target);
    });
    // While checked out the pool no longer listens; a connection that drops between two queries
    // would otherwise crash the process instead of failing the next query.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    const scope: Scope = { query: this.queryOn(client), mutex: new Mutex(), depth: 1, active: true };
    try {
      await scope.query('BEGIN');
      await scope.query('SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [TRANSACTION_LOCK]);
      const result = await this.scopes.run(scope, fn);
      const committed = await this.end(scope, 'COMMIT');
      // PostgreSQL answers COMMIT of a transaction that an error aborted with ROLLBACK, not an error.
      if (committed.command === 'ROLLBACK') {
        throw new StateError('STORAGE_TRANSACTION_ABORTED', 'the transaction was aborted by an earlier database error and nothing was saved; run it again');
      }
      client.off('error', ignore);
      client.release();
      return result;
    } catch (error) {
      // ROLLBACK also ends a transaction whose COMMIT failed; a connection that cannot even roll back is discarded.
      const broken = await this.end(scope, 'ROLLBACK').then(
        () => undefined,
        (failure: unknown) => (failure instanceof Error ? failure : new Error(String(failure))),
      );
      client.off('error', ignore);
      client.release(broken);
      throw error;
    }
  }

  private async nested<T>(parent: Scope, fn: () => Promise<T>): Promise<T> {
    const depth = parent.depth + 1;
    const savepoint = `cn_tx_${depth}`;
    const scope: Scope = { query: parent.query, mutex: new Mutex(), depth, active: true };
    await parent.query(`SAVEPOINT ${savepoint}`);
    try {
      const result = await this.scopes.run(scope, fn);
      await this.end(scope, `RELEASE SAVEPOINT ${savepoint}`);
      return result;
    } catch (error) {
      // If even this fails the connection is unusable, and the outermost COMMIT will say so.
      await this.end(scope, `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`).catch(() => undefined);
      throw error;
    }
  }

  /** Ends `scope` with `sql` once the calls already queued in it have run; calls queued later run outside it. */
  private end(scope: Scope, sql: string): Promise<pg.QueryResult> {
    return scope.mutex.runExclusive(() => {
      scope.active = false;
      return scope.query(sql);
    });
  }

  private currentScope(): Scope | undefined {
    const scope = this.scopes.getStore();
    return scope?.active ? scope : undefined;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new StateError('STORAGE_CLOSED', 'the storage is closed; open it again with connectStorage()');
    }
  }

  private queryOn(executor: pg.Pool | pg.PoolClient): Query {
    return async <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
      try {
        return await executor.query<R>(text, values);
      } catch (error) {
        throw translate(error, this.target);
      }
    };
  }

  /**
   * Runs one storage call in the caller's scope. Outside a transaction it takes a pooled connection.
   * Inside one it runs under a savepoint: a failed statement aborts a whole PostgreSQL transaction,
   * whereas in SQLite it undoes only itself, and callers catch such errors (a duplicate update) and go on.
   */
  private run<T>(step: (query: Query) => Promise<T>): Promise<T> {
    const scope = this.currentScope();
    if (!scope) {
      return this.lock.runShared(() => {
        this.assertOpen();
        return step(this.poolQuery);
      });
    }
    return scope.mutex.runExclusive(async () => {
      if (!scope.active) return this.run(step);
      await scope.query('SAVEPOINT cn_call');
      try {
        const result = await step(scope.query);
        await scope.query('RELEASE SAVEPOINT cn_call');
        return result;
      } catch (error) {
        // If even this fails the connection is unusable, and the outermost COMMIT will say so.
        await scope.query('ROLLBACK TO SAVEPOINT cn_call; RELEASE SAVEPOINT cn_call').catch(() => undefined);
        throw error;
      }
    });
  }

  private nodeRepository(): NodeRepository {
    return {
      upsert: (node) =>
        this.run(async (query) => {
          await query(
            `INSERT INTO nodes (id, status, resources, labels, registered_at, last_heartbeat)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, resources = EXCLUDED.resources,
               labels = EXCLUDED.labels, registered_at = EXCLUDED.registered_at, last_heartbeat = EXCLUDED.last_heartbeat`,
            [node.id, node.status, JSON.stringify(node.resources), JSON.stringify(node.labels), node.registeredAt, node.lastHeartbeat],
          );
        }),
      get: (id) =>
        this.run(async (query) => {
          const { rows } = await query<NodeRow>('SELECT * FROM nodes WHERE id = $1', [id]);
          return rows[0] && nodeFromRow(rows[0]);
        }),
      list: () =>
        this.run(async (query) => (await query<NodeRow>('SELECT * FROM nodes ORDER BY registered_at, id')).rows.map(nodeFromRow)),
      delete: (id) => this.run(async (query) => ((await query('DELETE FROM nodes WHERE id = $1', [id])).rowCount ?? 0) > 0),
    };
  }

  private taskRepository(): TaskRepository {
    return {
      upsert: (task) =>
        this.run(async (query) => {
          await query(
            `INSERT INTO tasks (id, type, priority, requirements, status, node_id, attempts, max_attempts,
               payload, result, error, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, priority = EXCLUDED.priority,
               requirements = EXCLUDED.requirements, status = EXCLUDED.status, node_id = EXCLUDED.node_id,
               attempts = EXCLUDED.attempts, max_attempts = EXCLUDED.max_attempts, payload = EXCLUDED.payload,
               result = EXCLUDED.result, error = EXCLUDED.error, created_at = EXCLUDED.created_at,
               updated_at = EXCLUDED.updated_at`,
            [
              task.id,
              task.type,
              task.priority,
              JSON.stringify(task.requirements),
              task.status,
              task.nodeId,
              task.attempts,
              task.maxAttempts,
              toJson(task.payload),
              toJson(task.result),
              task.error,
              task.createdAt,
              task.updatedAt,
            ],
          );
        }),
      get: (id) =>
        this.run(async (query) => {
          const { rows } = await query<TaskRow>('SELECT * FROM tasks WHERE id = $1', [id]);
          return rows[0] && taskFromRow(rows[0]);
        }),
      list: (filter = {}) =>
        this.run(async (query) => {
          const { rows } = await query<TaskRow>(
            `SELECT * FROM tasks
             WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR node_id = $2)
             ORDER BY created_at, seq`,
            [filter.status ?? null, filter.nodeId ?? null],
          );
          return rows.map(taskFromRow);
        }),
    };
  }

  private jobRepository(): JobRepository {
    return {
      upsert: (job) =>
        this.run(async (query) => {
          await query(
            `INSERT INTO jobs (id, name, config, status, model_id, report, created_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, config = EXCLUDED.config,
               status = EXCLUDED.status, model_id = EXCLUDED.model_id, report = EXCLUDED.report,
               created_at = EXCLUDED.created_at, finished_at = EXCLUDED.finished_at`,
            [job.id, job.name, toJson(job.config), job.status, job.modelId, toJson(job.report), job.createdAt, job.finishedAt],
          );
        }),
      get: (id) =>
        this.run(async (query) => {
          const { rows } = await query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
          return rows[0] && jobFromRow(rows[0]);
        }),
      list: () => this.run(async (query) => (await query<JobRow>('SELECT * FROM jobs ORDER BY created_at, seq')).rows.map(jobFromRow)),
    };
  }

  private modelRepository(): ModelRepository {
    return {
      insertModel: (model) =>
        this.run(async (query) => {
          try {
            await query(
              `INSERT INTO models (id, name, architecture, hyperparameters, latest_version, created_at)
               VALUES ($1, $2, $3, $4, $5, $6)`,
              [model.id, model.name, toJson(model.architecture), JSON.stringify(model.hyperparameters), model.latestVersion, model.createdAt],
            );
          } catch (error) {
            if (violated(error, UNIQUE_VIOLATION, 'models_pkey')) {
              throw new StateError('MODEL_DUPLICATE', `model '${model.id}' already exists; choose another id or add a version to it`, {
                id: model.id,
              });
            }
            throw error;
          }
        }),
      getModel: (id) =>
        this.run(async (query) => {
          const { rows } = await query<ModelRow>('SELECT * FROM models WHERE id = $1', [id]);
          return rows[0] && modelFromRow(rows[0]);
        }),
      listModels: () =>
        this.run(async (query) => (await query<ModelRow>('SELECT * FROM models ORDER BY created_at, seq')).rows.map(modelFromRow)),
      insertVersion: (version) =>
        this.run(async (query) => {
          try {
            // One statement, so it is atomic without a transaction of its own. GREATEST keeps
            // `latestVersion` pointing at the newest one if an older version is back-filled.
            await query(
              `WITH inserted AS (
                 INSERT INTO model_versions (model_id, version, sha256, parent_version, weights, metrics, round_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 RETURNING model_id, version
               )
               UPDATE models SET latest_version = GREATEST(models.latest_version, inserted.version)
               FROM inserted WHERE models.id = inserted.model_id`,
              [
                version.modelId,
                version.version,
                version.sha256,
                version.parentVersion,
                encodeWeights(version.weights),
                JSON.stringify(version.metrics),
                version.roundId,
                version.createdAt,
              ],
            );
          } catch (error) {
            if (violated(error, FOREIGN_KEY_VIOLATION, 'model_versions_model_fkey')) throw new NotFoundError('model', version.modelId);
            if (violated(error, UNIQUE_VIOLATION, 'model_versions_pkey')) {
              throw new StateError(
                'MODEL_VERSION_DUPLICATE',
                `model '${version.modelId}' already has version ${version.version}; versions are immutable, store the next number instead`,
                { modelId: version.modelId, version: version.version },
              );
            }
            throw error;
          }
        }),
      getVersion: (modelId, version) =>
        this.run(async (query) => {
          const { rows } = await query<VersionRow & { weights: Buffer }>(
            'SELECT * FROM model_versions WHERE model_id = $1 AND version = $2',
            [modelId, version],
          );
          return rows[0] && { ...versionMetaFromRow(rows[0]), weights: decodeWeights(rows[0].weights, modelId, version) };
        }),
      listVersions: (modelId) =>
        this.run(async (query) => {
          const { rows } = await query<VersionRow>(
            `SELECT model_id, version, sha256, parent_version, metrics, round_id, created_at
             FROM model_versions WHERE model_id = $1 ORDER BY version`,
            [modelId],
          );
          return rows.map(versionMetaFromRow);
        }),
      putStrategyState: (state) =>
        this.run(async (query) => {
          try {
            await query(
              `INSERT INTO strategy_states (model_id, strategy, version, state, updated_at) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (model_id) DO UPDATE SET strategy = EXCLUDED.strategy, version = EXCLUDED.version, state = EXCLUDED.state,
                 updated_at = EXCLUDED.updated_at`,
              [state.modelId, state.strategy, state.version, encodeBytes(state.state), state.updatedAt],
            );
          } catch (error) {
            if (violated(error, FOREIGN_KEY_VIOLATION, 'strategy_states_model_fkey')) throw new NotFoundError('model', state.modelId);
            throw error;
          }
        }),
      getStrategyState: (modelId) =>
        this.run(async (query) => {
          const { rows } = await query<StrategyStateRow>('SELECT * FROM strategy_states WHERE model_id = $1', [modelId]);
          return rows[0] && strategyStateFromRow(rows[0]);
        }),
    };
  }

  private roundRepository(): RoundRepository {
    return {
      upsert: (round) =>
        this.run(async (query) => {
          try {
            await query(
              `INSERT INTO rounds (id, job_id, model_id, number, status, participants, quorum, deadline,
                 base_version, result_version, metrics, started_at, finished_at, error)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
               ON CONFLICT (id) DO UPDATE SET job_id = EXCLUDED.job_id, model_id = EXCLUDED.model_id,
                 number = EXCLUDED.number, status = EXCLUDED.status, participants = EXCLUDED.participants,
                 quorum = EXCLUDED.quorum, deadline = EXCLUDED.deadline, base_version = EXCLUDED.base_version,
                 result_version = EXCLUDED.result_version, metrics = EXCLUDED.metrics,
                 started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, error = EXCLUDED.error`,
              [
                round.id,
                round.jobId,
                round.modelId,
                round.number,
                round.status,
                JSON.stringify(round.participants),
                round.quorum,
                round.deadline,
                round.baseVersion,
                round.resultVersion,
                JSON.stringify(round.metrics),
                round.startedAt,
                round.finishedAt,
                round.error,
              ],
            );
          } catch (error) {
            if (violated(error, FOREIGN_KEY_VIOLATION, 'rounds_model_fkey')) throw new NotFoundError('model', round.modelId);
            throw error;
          }
        }),
      get: (id) =>
        this.run(async (query) => {
          const { rows } = await query<RoundRow>('SELECT * FROM rounds WHERE id = $1', [id]);
          return rows[0] && roundFromRow(rows[0]);
        }),
      list: (filter = {}) =>
        this.run(async (query) => {
          const { rows } = await query<RoundRow>(
            'SELECT * FROM rounds WHERE ($1::text IS NULL OR job_id = $1) ORDER BY job_id, number, seq',
            [filter.jobId ?? null],
          );
          return rows.map(roundFromRow);
        }),
      insertUpdate: (update) =>
        this.run(async (query) => {
          try {
            await query(
              `INSERT INTO updates (round_id, client_id, num_examples, sha256, metrics, received_at, payload)
               VALUES ($1, $2, $3, $4, $5, $6, $7)`,
              [
                update.roundId,
                update.clientId,
                update.numExamples,
                update.sha256,
                JSON.stringify(update.metrics),
                update.receivedAt,
                update.payload ? encodeBytes(update.payload) : null,
              ],
            );
          } catch (error) {
            if (violated(error, FOREIGN_KEY_VIOLATION, 'updates_round_fkey')) throw new NotFoundError('round', update.roundId);
            if (violated(error, UNIQUE_VIOLATION, 'updates_round_client_key')) {
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
        this.run(async (query) => {
          const { rows } = await query<UpdateRow>(
            `SELECT round_id, client_id, num_examples, sha256, metrics, received_at
             FROM updates WHERE round_id = $1 ORDER BY received_at, seq`,
            [roundId],
          );
          return rows.map(updateFromRow);
        }),
      getUpdatePayload: (roundId, clientId) =>
        this.run(async (query) => {
          const { rows } = await query<{ payload: Buffer | null }>('SELECT payload FROM updates WHERE round_id = $1 AND client_id = $2', [
            roundId,
            clientId,
          ]);
          // A copy: pg may hand a small bytea back as a view into its shared allocation pool.
          return rows[0]?.payload ? new Uint8Array(rows[0].payload) : undefined;
        }),
      clearUpdatePayloads: (roundId) =>
        this.run(
          async (query) => (await query('UPDATE updates SET payload = NULL WHERE round_id = $1 AND payload IS NOT NULL', [roundId])).rowCount ?? 0,
        ),
    };
  }

  private privacyRepository(): PrivacyRepository {
    return {
      setBudget: (budget) =>
        this.run(async (query) => {
          await query(
            `INSERT INTO privacy_budgets (scope_kind, scope_id, epsilon, delta, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (scope_kind, scope_id) DO UPDATE SET epsilon = EXCLUDED.epsilon, delta = EXCLUDED.delta,
               updated_at = EXCLUDED.updated_at`,
            [budget.scope.kind, budget.scope.id, budget.epsilon, budget.delta, budget.createdAt, budget.updatedAt],
          );
        }),
      getBudget: (scope) =>
        this.run(async (query) => {
          const { rows } = await query<PrivacyBudgetRow>('SELECT * FROM privacy_budgets WHERE scope_kind = $1 AND scope_id = $2', [
            scope.kind,
            scope.id,
          ]);
          return rows[0] && privacyBudgetFromRow(rows[0]);
        }),
      listBudgets: () =>
        this.run(async (query) =>
          (await query<PrivacyBudgetRow>('SELECT * FROM privacy_budgets ORDER BY scope_kind, scope_id')).rows.map(privacyBudgetFromRow),
        ),
      insertCharge: (charge) =>
        this.run(async (query) => {
          const { kind, id } = charge.scope;
          try {
            await query(
              `INSERT INTO privacy_charges (id, scope_kind, scope_id, job_id, round, events, orders, rdp,
                 epsilon_after, delta, conversion, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
              [
                charge.id,
                kind,
                id,
                charge.jobId,
                charge.round,
                JSON.stringify(charge.events),
                JSON.stringify(charge.orders),
                encodeRdp(charge.rdp),
                charge.epsilonAfter,
                charge.delta,
                charge.conversion,
                charge.createdAt,
              ],
            );
          } catch (error) {
            if (violated(error, FOREIGN_KEY_VIOLATION, 'privacy_charges_budget_fkey')) throw new NotFoundError('privacy_budget', `${kind}:${id}`);
            if (violated(error, UNIQUE_VIOLATION, 'privacy_charges_scope_round_key')) {
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
        this.run(async (query) => {
          const { rows } = await query<PrivacyChargeRow>(
            'SELECT * FROM privacy_charges WHERE scope_kind = $1 AND scope_id = $2 ORDER BY created_at, seq',
            [scope.kind, scope.id],
          );
          return rows.map(privacyChargeFromRow);
        }),
    };
  }
}

/**
 * The error a user should see for a driver error: connection failures name the server and what to
 * check, values PostgreSQL cannot hold say so, a lock held too long by another process says so;
 * anything else (constraint violations, which callers map themselves) passes through.
 */
function translate(error: unknown, target: PostgresTarget): unknown {
  const unreachable = connectionFailure(error, target);
  if (unreachable) return unreachable;
  if (!(error instanceof pg.DatabaseError)) return error;
  // Class 22 is "data exception": a fractional or oversized number for an int8 column, NUL in text.
  if (error.code?.startsWith('22')) {
    return new InvalidInputError(
      'STORAGE_VALUE_INVALID',
      `PostgreSQL at ${describeTarget(target)} refused a value: ${error.message}; integer fields (timestamps, counts, versions) must be whole numbers within 64 bits, and text must not contain NUL characters`,
      { sqlstate: error.code },
    );
  }
  if (error.code === '55P03') {
    return new StateError(
      'STORAGE_BUSY',
      `another process held a lock on the store at ${describeTarget(target)} for longer than busyTimeoutMs; retry, or raise busyTimeoutMs`,
      { sqlstate: error.code },
    );
  }
  return error;
}
