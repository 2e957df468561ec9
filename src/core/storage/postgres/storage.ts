import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { StateError } from '../../errors.js';
import { Mutex } from '../../mutex.js';
import { SharedExclusiveLock } from '../../shared-exclusive-lock.js';
import type { Migration } from '../migrations.js';
import { parsePostgresUrl, postgresPoolConfig, type PostgresConnectionOptions, type PostgresTarget } from '../postgres-connection.js';
import { applyPostgresMigrations, POSTGRES_MIGRATIONS } from '../postgres-migrations.js';
import type {
  JobRepository,
  ModelRepository,
  NodeRepository,
  PrivacyRepository,
  RoundRepository,
  Storage,
  TaskRepository,
} from '../repository.js';
import type { MarketRepository } from '../market-repository.js';
import { PostgresModelStore } from '../model-store/postgres-model-store.js';
import { jobRepository } from './jobs.js';
import { modelRepository } from './models.js';
import { nodeRepository } from './nodes.js';
import { marketRepository } from './market.js';
import { privacyRepository } from './privacy.js';
import { translate, type Query } from './query.js';
import { roundRepository } from './rounds.js';
import { taskRepository } from './tasks.js';

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
  readonly market: MarketRepository;
  readonly modelStore: PostgresModelStore;
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
    const run = <T>(step: (query: Query) => Promise<T>): Promise<T> => this.run(step);
    this.nodes = nodeRepository(run);
    this.tasks = taskRepository(run);
    this.jobs = jobRepository(run);
    this.modelStore = new PostgresModelStore(run);
    this.models = modelRepository(run, this.modelStore);
    this.rounds = roundRepository(run);
    this.privacy = privacyRepository(run);
    this.market = marketRepository(run);
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
}
