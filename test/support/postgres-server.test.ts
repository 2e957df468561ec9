import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const server = new URL('./postgres-server.ts', import.meta.url).href;

/** A process that starts a test PostgreSQL, prints where it is, and waits to be stopped. */
function startInChild(): Promise<{ url: string; folder: string; pid: number; exit: Promise<number | null> }> {
  const script = `import(${JSON.stringify(server)}).then(async (m) => { const p = await m.startTestPostgres(); console.log(JSON.stringify({ url: p.url, folder: p.folder })); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ ...(JSON.parse(line) as { url: string; folder: string }), pid: child.pid as number, exit });
    });
    child.on('exit', (code) => reject(new Error(`the child exited (${code}) before the server was up`)));
  });
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('the test PostgreSQL from npm', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('serves a database, and on %s is stopped and its folder removed', async (signal) => {
    const started = await startInChild();
    expect(existsSync(started.folder)).toBe(true);
    expect(await reachable(started.url)).toBe(true);
    process.kill(started.pid, signal);
    await started.exit;
    expect(existsSync(started.folder)).toBe(false);
    expect(await reachable(started.url)).toBe(false);
  }, 60_000);
});
