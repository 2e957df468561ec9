import pg from 'pg';
import { InvalidInputError, StateError } from '../../errors.js';
import { connectionFailure, describeTarget, type PostgresTarget } from '../postgres-connection.js';

/** A query on the store's connection, its errors translated for the user. */
export type Query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

/** Runs one storage call in the caller's scope: on a pooled connection, or inside the caller's transaction. */
export type Run = <T>(step: (query: Query) => Promise<T>) => Promise<T>;

/** True when `error` is PostgreSQL's `sqlstate` on the named constraint. */
export function violated(error: unknown, sqlstate: string, constraint: string): boolean {
  return error instanceof pg.DatabaseError && error.code === sqlstate && error.constraint === constraint;
}

/** SQLSTATE of a duplicate key. */
export const UNIQUE_VIOLATION = '23505';
/** SQLSTATE of a reference to a missing row. */
export const FOREIGN_KEY_VIOLATION = '23503';

/**
 * The error a user should see for a driver error: connection failures name the server and what to
 * check, values PostgreSQL cannot hold say so, a lock held too long by another process says so;
 * anything else (constraint violations, which callers map themselves) passes through.
 */
export function translate(error: unknown, target: PostgresTarget): unknown {
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
