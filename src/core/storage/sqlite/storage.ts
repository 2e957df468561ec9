import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { StateError } from '../../errors.js';
import { Mutex } from '../../mutex.js';
import { applyMigrations, MIGRATIONS, type SqliteMigration } from '../migrations.js';
import { defaultModelStoreDir, FileModelStore } from '../model-store/file-model-store.js';
import { defaultUpdateJournalDir, UpdateJournal } from './update-journal.js';
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
import { cachedConnection, type Connection } from './connection.js';
import { jobRepository } from './jobs.js';
import { modelRepository } from './models.js';
import { nodeRepository } from './nodes.js';
import { marketRepository } from './market.js';
import { privacyRepository } from './privacy.js';
import { roundRepository } from './rounds.js';
import { taskRepository } from './tasks.js';

/** Options of the embedded SQLite store. */
export interface SqliteStorageOptions {
  /** Database file, or ':memory:' for a throw-away store. Missing parent directories are created. */
  path: string;
  /** How long a write waits for another process's lock before failing, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /** Schema steps to apply at open; defaults to the shipped schema. */
  migrations?: readonly SqliteMigration[];
  /**
   * Folder of the model store (weights, content-addressed). Default: `<path>-models` beside the
   * database file; for ':memory:' a temporary folder removed at close.
   */
  modelStoreDir?: string;
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
  /** File work to do once this scope's writes are committed (dropped if they roll back). */
  readonly afterCommit: (() => Promise<unknown>)[];
}

/** The embedded store: one better-sqlite3 connection in WAL mode, schema migrated at open. */
export class SqliteStorage implements Storage {
  readonly nodes: NodeRepository;
  readonly tasks: TaskRepository;
  readonly jobs: JobRepository;
  readonly models: ModelRepository;
  readonly rounds: RoundRepository;
  readonly privacy: PrivacyRepository;
  readonly market: MarketRepository;
  readonly modelStore: FileModelStore;
  /** Schema versions applied when this storage was opened (empty if the file was current). */
  readonly appliedMigrations: readonly number[];

  private readonly db: Database.Database;
  /** Open rounds' update bytes, beside a database file (`<path>-updates`); an in-memory database keeps them in its rows. */
  private readonly updateJournal: UpdateJournal | undefined;
  /** A temporary model store to remove at close (the one of a ':memory:' database). */
  private readonly temporaryStore: string | undefined;
  /** `db` with each statement compiled once and reused. */
  private readonly connection: Connection;
  private readonly root: Scope = { mutex: new Mutex(), depth: 0, active: true, afterCommit: [] };
  private readonly scopes = new AsyncLocalStorage<Scope>();
  private closed = false;

  constructor(options: SqliteStorageOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    // Named, not created: the folder appears with the first blob, so a store that never keeps a model leaves nothing.
    this.temporaryStore = options.modelStoreDir === undefined && options.path === ':memory:' ? join(tmpdir(), `cn-models-${randomUUID()}`) : undefined;
    this.modelStore = new FileModelStore(options.modelStoreDir ?? this.temporaryStore ?? defaultModelStoreDir(options.path), { durable: this.temporaryStore === undefined });
    this.db = new Database(options.path);
    try {
      // Weights live in the model store and update bytes in the journal, so rows are small: SQLite's
      // default 4 KiB pages write a small commit's WAL frames 4x faster than the 64 KiB pages that
      // suited blobs in rows (files made then keep theirs). Only takes effect on a new file.
      this.db.pragma('page_size = 4096');
      this.db.pragma('journal_mode = WAL');
      // NORMAL is durable against application crashes in WAL mode and avoids an fsync per commit.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      this.appliedMigrations = applyMigrations(this.db, options.migrations ?? MIGRATIONS, { modelStore: this.modelStore });
    } catch (error) {
      this.db.close();
      this.removeTemporaryStore();
      throw error;
    }
    this.connection = cachedConnection(this.db);
    const run = <T>(step: (db: Connection) => T): Promise<T> => this.run(step);
    this.nodes = nodeRepository(run);
    this.tasks = taskRepository(run);
    this.jobs = jobRepository(run);
    this.models = modelRepository(run, this.modelStore);
    this.updateJournal = options.path === ':memory:' ? undefined : new UpdateJournal(defaultUpdateJournalDir(options.path));
    this.rounds = roundRepository(run, this.updateJournal && { journal: this.updateJournal, afterCommit: (work) => this.afterCommit(work) });
    this.privacy = privacyRepository(run);
    this.market = marketRepository(run);
  }

  /** Runs `fn` atomically; nested calls from inside `fn` become savepoints instead of waiting. */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    const parent = this.currentScope();
    return parent.mutex.runExclusive(async () => {
      this.assertOpen();
      const scope: Scope = { mutex: new Mutex(), depth: parent.depth + 1, active: true, afterCommit: [] };
      const savepoint = `cn_tx_${scope.depth}`;
      this.db.exec(parent === this.root ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${savepoint}`);
      try {
        const result = await this.scopes.run(scope, fn);
        this.db.exec(parent === this.root ? 'COMMIT' : `RELEASE ${savepoint}`);
        // Committed is committed: a leftover file (a journal that could not be deleted) is only space.
        if (parent === this.root) await Promise.all(scope.afterCommit.map((work) => work().catch(() => undefined)));
        else parent.afterCommit.push(...scope.afterCommit);
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
    return this.root.mutex.runExclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      this.db.close();
      this.removeTemporaryStore();
      await this.updateJournal?.close();
    });
  }

  private removeTemporaryStore(): void {
    if (this.temporaryStore !== undefined) rmSync(this.temporaryStore, { recursive: true, force: true });
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

  /** Runs `work` once the caller's transaction commits (at once outside one); a rollback drops it. */
  private async afterCommit(work: () => Promise<unknown>): Promise<void> {
    const scope = this.currentScope();
    if (scope === this.root) await work();
    else scope.afterCommit.push(work);
  }

  /** Runs one synchronous database step in the caller's scope, queued behind running transactions. */
  private run<T>(step: (db: Connection) => T): Promise<T> {
    return this.currentScope().mutex.runExclusive(() => {
      this.assertOpen();
      return step(this.connection);
    });
  }
}
