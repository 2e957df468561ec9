import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditTrail, connectStorage } from '../core/index.js';
import { buildProgram } from './program.js';
import { runInProcess, type CliOutcome } from '../../test/support/cli-in-process.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-backup-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command line as `cipher-nexus` would: its stdout, stderr and exit code. */
const cli = (args: string[]): Promise<CliOutcome> => runInProcess(buildProgram(), args);

describe('cipher-nexus backup', () => {
  it('creates, lists, verifies and restores a backup; a flipped byte is refused in one line with exit 2 and nothing restored', async () => {
    const db = join(dir, 'coord', 'cn.db');
    const storage = await connectStorage(db);
    await storage.jobs.upsert({ id: 'j1', name: 'job', config: {}, status: 'running', modelId: null, report: null, createdAt: 1, finishedAt: null });
    await storage.close();
    // Where `serve --db` writes its trail by default: the backup finds it there.
    const trail = await AuditTrail.open(join(dir, 'coord', 'audit.jsonl'));
    await trail.append('job.started', 'coordinator', { job: 'j1' });
    await trail.close();
    const backups = join(dir, 'backups');

    const created = await cli(['--db', db, 'backup', 'create', '--dir', backups, '--name', 'first']);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toMatch(/audit +1 entries/);
    expect((await cli(['backup', 'list', '--dir', backups])).stdout).toMatch(/^first +\S+ +\d+ +sqlite/m);
    expect(await cli(['backup', 'verify', 'first', '--dir', backups])).toMatchObject({ code: 0 });

    const target = join(dir, 'restored', 'cn.db');
    const restored = await cli(['backup', 'restore', join(backups, 'first'), '--to', target]);
    expect(restored.code).toBe(0);
    expect(existsSync(join(dir, 'restored', 'audit.jsonl'))).toBe(true);
    const reopened = await connectStorage(target);
    expect((await reopened.jobs.get('j1'))?.status).toBe('running');
    await reopened.close();

    const database = join(backups, 'first', 'database.sqlite');
    const bytes = readFileSync(database);
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(database, bytes);
    const verify = await cli(['backup', 'verify', 'first', '--dir', backups]);
    expect(verify.code).toBe(2);
    expect(verify.stderr.trim().split('\n')).toHaveLength(1);
    expect(verify.stderr).toMatch(/^error \[BACKUP_CORRUPT\]: .*database part 'database\.sqlite' was altered/);
    const refused = await cli(['backup', 'restore', 'first', '--dir', backups, '--to', join(dir, 'never', 'cn.db')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('nothing was restored');
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});
