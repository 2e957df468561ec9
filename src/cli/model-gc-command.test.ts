import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStorage } from '../core/index.js';
import { buildProgram } from './program.js';
import { runInProcess, type CliOutcome } from '../../test/support/cli-in-process.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-gc-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command line as `cipher-nexus` would: its stdout, stderr and exit code. */
const cli = (args: string[]): Promise<CliOutcome> => runInProcess(buildProgram(), args);

describe('cipher-nexus models gc', () => {
  it('reports what a dry run would free without freeing it, then frees it and says so', async () => {
    const db = join(dir, 'cn.db');
    const storage = await connectStorage(db);
    await storage.models.insertModel({ id: 'm1', name: 'mlp', architecture: null, hyperparameters: {}, latestVersion: 0, createdAt: 1 });
    for (const version of [1, 2, 3]) {
      await storage.models.insertVersion({ modelId: 'm1', version, sha256: `v${version}`, parentVersion: version > 1 ? version - 1 : null, weights: new Float32Array(256).fill(version), metrics: {}, roundId: null, createdAt: version });
    }
    await storage.close();

    const dry = await cli(['--db', db, 'models', 'gc', '--dry-run']);
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(dry.stdout).toBe(`would free 2.0 KiB in 2 blob(s) of folder ${db}-models: weights of 2 version(s) nothing needs would be dropped, 1 blob(s) kept for 1 version(s) (dry run: nothing changed)\n`);
    const freed = await cli(['--db', db, 'models', 'gc', '--json']);
    expect(freed.code).toBe(0);
    expect(JSON.parse(freed.stdout)).toEqual({ store: `folder ${db}-models`, dryRun: false, versionsKept: 1, versionsDropped: 2, blobsDeleted: 2, bytesFreed: 2048, blobsKept: 1 });
    expect((await cli(['--db', db, 'models', 'gc'])).stdout).toMatch(/^freed 0 B in 0 blob\(s\)/);

    const shown = JSON.parse((await cli(['--db', db, 'models', 'show', 'm1', '--json'])).stdout) as { versions: { version: number; weights: string }[] };
    expect(shown.versions.map((v) => [v.version, v.weights])).toEqual([[1, 'collected'], [2, 'collected'], [3, 'stored']]);
    expect((await cli(['--db', db, 'models', 'show', 'm1'])).stdout).toMatch(/^ +3 +2 +v3 +- +stored$/m);
    const reopened = await connectStorage(db);
    expect((await reopened.modelStore.list()).length).toBe(1);
    expect((await reopened.models.listVersions('m1')).map((v) => v.version)).toEqual([1, 2, 3]);
    await reopened.close();
  });

  it('refuses bad input in one line with exit 2, creating no database', async () => {
    const missing = join(dir, 'nowhere', 'cn.db');
    const absent = await cli(['--db', missing, 'models', 'gc']);
    expect(absent.code).toBe(2);
    expect(absent.stderr).toMatch(/^error \[STORAGE_NOT_FOUND\]: [^\n]+\n$/);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    for (const args of [['models', 'gc', '--keep-all'], ['models', 'gc', 'everything']]) {
      const refused = await cli(['--db', join(dir, 'cn.db'), ...args]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/^error: [^\n]+\n$/);
    }
  });
});
