import pg from 'pg';
import { CipherNexusError, InvalidInputError } from '../errors.js';

/** How to reach a PostgreSQL store. */
export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:port/database` (or `postgresql://`), with any libpq URL parameters. */
  url: string;
  /** Schema that holds the tables (it must exist); default: the server's search_path, usually `public`. */
  schema?: string;
  /** Most connections the store opens at once. Default 10. */
  poolSize?: number;
  /** How long opening a connection may take before the server counts as unreachable, in ms. Default 10000. */
  connectTimeoutMs?: number;
  /** How long a statement waits for a lock another process holds (its transaction), in ms. Default 5000. */
  busyTimeoutMs?: number;
}

/** The server a URL points at, without its credentials, so that it can be shown in messages. */
export interface PostgresTarget {
  host: string;
  port: number;
  database: string;
}

/** The PostgreSQL server could not be reached, or refused the connection; the message says what to check. */
export class StorageUnreachableError extends CipherNexusError {
  constructor(target: PostgresTarget, reason: string, hint: string) {
    super(
      'STORAGE_UNREACHABLE',
      `cannot reach PostgreSQL at ${describeTarget(target)}: ${reason}; ${hint}`,
      { ...target, reason },
    );
  }
}

/** Unquoted, lower-case identifiers only: they mean the same in SQL and in a search_path setting. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** `host:port/database`, for messages. */
export function describeTarget(target: PostgresTarget): string {
  return `${target.host}:${target.port}/${target.database}`;
}

/** Checks a `postgres://` URL and returns the server it names (InvalidInputError STORAGE_URL_INVALID if malformed). */
export function parsePostgresUrl(url: string): PostgresTarget {
  // Never echo a password: a URL may carry one.
  const shown = url.replace(/(\/\/[^/:@]*:)[^/@]*@/, '$1***@');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidInputError(
      'STORAGE_URL_INVALID',
      `'${shown}' is not a valid PostgreSQL URL; write it as postgres://user:password@host:5432/database (percent-encode special characters in the password)`,
      { url: shown },
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new InvalidInputError('STORAGE_URL_INVALID', `'${shown}' is not a postgres:// or postgresql:// URL`, { url: shown });
  }
  // libpq lets ?host= name the server (or a Unix socket directory) when the authority has none.
  const host = decodeURIComponent(parsed.hostname) || parsed.searchParams.get('host') || 'localhost';
  const port = Number(parsed.port || parsed.searchParams.get('port') || 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidInputError('STORAGE_URL_INVALID', `'${shown}' names port ${port}; use a port between 1 and 65535`, { url: shown });
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres';
  return { host, port, database };
}

/** The pg pool configuration for `options`, validated; integers (int8) come back as JS numbers. */
export function postgresPoolConfig(options: PostgresConnectionOptions): pg.PoolConfig {
  parsePostgresUrl(options.url);
  // Set per connection at startup, so every pooled connection has them before its first query.
  // lock_timeout=0 would wait forever, where SQLite's busy timeout of 0 means "do not wait".
  const startup = [`-c lock_timeout=${Math.max(1, wholeMs(options.busyTimeoutMs ?? 5000, 'busyTimeoutMs'))}`];
  if (options.schema !== undefined) {
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new InvalidInputError(
        'STORAGE_SCHEMA_INVALID',
        `schema '${options.schema}' is not a plain lower-case identifier; use letters a-z, digits and _, starting with a letter or _`,
        { schema: options.schema },
      );
    }
    startup.push(`-c search_path=${options.schema}`);
  }
  // A URL's own `options` parameter would replace the configured one in pg: keep both, ours last so they win.
  const url = new URL(options.url);
  const own = url.searchParams.get('options');
  url.searchParams.delete('options');
  const types = new pg.TypeOverrides();
  // Timestamps in ms and counters are int8; pg hands int8 over as text to avoid precision loss, but
  // the records carry numbers, and better-sqlite3 returns numbers for the same columns.
  types.setTypeParser(pg.types.builtins.INT8, Number);
  return {
    connectionString: own === null ? options.url : url.toString(),
    max: Math.max(1, Math.floor(options.poolSize ?? 10)),
    connectionTimeoutMillis: wholeMs(options.connectTimeoutMs ?? 10_000, 'connectTimeoutMs'),
    options: [own ?? '', ...startup].join(' ').trim(),
    types,
  };
}

const NETWORK_HINT =
  'check that PostgreSQL is running on that host and port and accepts TCP connections (listen_addresses, firewall)';

/**
 * The StorageUnreachableError for an error that means "no usable connection" (a driver network code,
 * or a server refusal at start-up), or undefined if `error` is something else.
 */
export function connectionFailure(error: unknown, target: PostgresTarget): StorageUnreachableError | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (error instanceof pg.DatabaseError) {
    if (code === '3D000') {
      return new StorageUnreachableError(target, error.message, `create it (createdb ${target.database}) or fix the database name in the URL`);
    }
    if (code === '28P01' || code === '28000') {
      return new StorageUnreachableError(target, error.message, "check the user name and password in the URL and the server's pg_hba.conf");
    }
    // Class 08 is connection exceptions; 53300 too many connections; 57P01-57P03 shutdown or start-up.
    if (typeof code === 'string' && (code.startsWith('08') || code === '53300' || /^57P0[1-3]$/.test(code))) {
      return new StorageUnreachableError(target, error.message, 'retry once the server accepts connections again, or lower poolSize');
    }
    return undefined;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new StorageUnreachableError(target, `host '${target.host}' was not found (${code})`, 'check the host name in the URL and DNS');
  }
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)$/.test(code)) {
    return new StorageUnreachableError(target, code, NETWORK_HINT);
  }
  // pg's own messages when a connection times out or drops during start-up carry no code.
  if (/^Connection terminated|timeout expired/i.test(error.message)) {
    return new StorageUnreachableError(target, error.message, NETWORK_HINT);
  }
  return undefined;
}

function wholeMs(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidInputError('STORAGE_OPTION_INVALID', `${name} must be a non-negative number of milliseconds, got ${value}`, { [name]: value });
  }
  return Math.floor(value);
}
