import type Database from 'better-sqlite3';

/** The connection as repository steps use it. */
export type Connection = Pick<Database.Database, 'prepare' | 'transaction'>;

/** Runs one synchronous database step in the caller's scope, queued behind running transactions. */
export type Run = <T>(step: (db: Connection) => T) => Promise<T>;

/** True when better-sqlite3 raised `error` with SQLite's extended result `code`. */
export function isSqliteError(error: unknown, code: string): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === code;
}

/**
 * `db` as repository steps use it. Every statement is compiled once per SQL text and reused:
 * compiling cost about 0.5 ms per accepted update.
 */
export function cachedConnection(db: Database.Database): Connection {
  const statements = new Map<string, Database.Statement>();
  return {
    prepare: ((source: string) => {
      let statement = statements.get(source);
      if (!statement) {
        statement = db.prepare(source);
        statements.set(source, statement);
      }
      return statement;
    }) as Database.Database['prepare'],
    transaction: db.transaction.bind(db) as Database.Database['transaction'],
  };
}
