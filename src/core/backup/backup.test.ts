import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AuditTrail, verifyAuditTrail } from '../audit-trail.js';
import { connectStorage, type Storage } from '../storage/index.js';
import { parseDatabaseLocation, type DatabaseLocation } from '../storage/database-location.js';
import { expectCode, job, model, node, round, task } from '../storage/storage-contract.js';
import { createBackup, listBackups, restoreBackup, verifyBackup } from './backup.js';
import { BackupCorruptError, MANIFEST_FILE, manifestHash, readManifest } from './manifest.js';

const url = inject('postgresUrl');
const admin = new pg.Pool({ connectionString: url, max: 2 });
let dir: string;
const schemas: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-backup-'));
});
afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

const freshSchema = async (): Promise<DatabaseLocation> => {
  const schema = `cn_backup_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  schemas.push(schema);
  return parseDatabaseLocation(url, { schema });
};
const open = (location: DatabaseLocation): Promise<Storage> => (location.kind === 'sqlite' ? connectStorage(location.path) : connectStorage(location.url, { schema: location.schema }));

const weights = (seed: number): Float32Array => Float32Array.from({ length: 300 }, (_, i) => Math.sin(seed * 1000 + i));

/** A store with a little of everything, insertion order mattering (two tasks, two rounds, two updates). */
async function fill(storage: Storage): Promise<void> {
  await storage.nodes.upsert(node('n1'));
  await storage.tasks.upsert(task('t2'));
  await storage.tasks.upsert(task('t1', { status: 'assigned', nodeId: 'n1' }));
  await storage.models.insertModel(model('m1'));
  for (const version of [1, 2]) {
    const w = weights(version);
    const { createHash } = await import('node:crypto');
    const sha256 = createHash('sha256').update(new Uint8Array(w.buffer)).digest('hex');
    await storage.models.insertVersion({ modelId: 'm1', version, sha256, parentVersion: version === 1 ? null : 1, weights: w, metrics: { accuracy: 0.5 + version / 10 }, roundId: null, createdAt: 60 + version });
  }
  await storage.jobs.upsert(job('j1', { modelId: 'm1' }));
  await storage.rounds.upsert({ ...round('r1', 'j1', 'm1', 1), status: 'finalized', resultVersion: 2 });
  await storage.rounds.upsert(round('r2', 'j1', 'm1', 2));
  await storage.rounds.insertUpdate({ roundId: 'r2', clientId: 'c3', numExamples: 7, sha256: 'a'.repeat(64), metrics: { loss: 1 }, receivedAt: 300, payload: Uint8Array.of(1, 2, 3) });
  await storage.rounds.insertUpdate({ roundId: 'r2', clientId: 'c1', numExamples: 9, sha256: 'b'.repeat(64), metrics: { loss: 2 }, receivedAt: 301 });
  await storage.privacy.setBudget({ scope: { kind: 'dataset', id: 'd1' }, epsilon: 8, delta: 1e-5, createdAt: 1, updatedAt: 2 });
}

/** Everything `fill` wrote, as the store reads it back. */
async function contents(storage: Storage): Promise<unknown> {
  return {
    nodes: await storage.nodes.list(),
    tasks: await storage.tasks.list(),
    models: await storage.models.listModels(),
    versions: await storage.models.listVersions('m1'),
    weights: Array.from((await storage.models.getVersion('m1', 2))?.weights ?? []),
    jobs: await storage.jobs.list(),
    rounds: await storage.rounds.list({ jobId: 'j1' }),
    updates: await storage.rounds.listUpdates('r2'),
    payload: await storage.rounds.getUpdatePayload('r2', 'c3'),
    budgets: await storage.privacy.listBudgets(),
  };
}

async function trailWith(file: string, n: number): Promise<void> {
  const trail = await AuditTrail.open(file);
  for (let i = 0; i < n; i += 1) await trail.append('round.finalized', 'coordinator', { round: i + 1 });
  await trail.close();
}

describe('backup create, verify and restore', () => {
  it('backs up an SQLite store that stays open, and restores it into a new SQLite file and an empty PostgreSQL schema with the same records', async () => {
    const source = join(dir, 'live.db');
    const storage = await connectStorage(source);
    await fill(storage);
    const audit = join(dir, 'live-audit.jsonl');
    await trailWith(audit, 3);
    const expected = await contents(storage);

    const backup = await createBackup({ database: parseDatabaseLocation(source), auditFile: audit, dir: join(dir, 'backups') });
    // The coordinator keeps writing after the snapshot; the backup does not see it.
    await storage.nodes.upsert(node('n-after'));
    expect(backup.manifest.source.method).toBe('sqlite-online-backup');
    // Both versions' weights are model-store blobs, each a part named by its sha256.
    expect(backup.manifest.parts.map((p) => p.kind).sort()).toEqual(['audit', 'blob', 'blob', 'database', 'model']);
    const blobs = backup.manifest.parts.filter((p) => p.kind === 'blob');
    expect(blobs.map((p) => p.sha256).sort()).toEqual((await storage.modelStore.list()).map((b) => b.digest));
    for (const part of blobs) expect(part.path).toBe(`blobs/sha256/${part.sha256.slice(0, 2)}/${part.sha256}`);
    const modelPart = backup.manifest.parts.find((p) => p.kind === 'model');
    expect(modelPart).toMatchObject({ modelId: 'm1', version: 2 });
    expect(new Float32Array(Uint8Array.from(readFileSync(join(backup.path, modelPart?.path ?? ''))).buffer)).toEqual(weights(2));
    expect(await verifyBackup(backup.path)).toMatchObject({ ok: true, problems: [] });
    expect(listBackups(join(dir, 'backups')).map((b) => b.name)).toEqual([backup.name]);

    const sqliteTarget = parseDatabaseLocation(join(dir, 'restored', 'cn.db'));
    await restoreBackup(backup.path, { database: sqliteTarget, auditFile: join(dir, 'restored', 'audit.jsonl') });
    const pgTarget = await freshSchema();
    await restoreBackup(backup.path, { database: pgTarget, auditFile: join(dir, 'restored-pg-audit.jsonl') });
    for (const target of [sqliteTarget, pgTarget]) {
      const restored = await open(target);
      expect(await contents(restored)).toEqual(expected);
      expect(await restored.modelStore.list()).toEqual(await storage.modelStore.list());
      expect(Array.from((await restored.models.getVersion('m1', 1))?.weights ?? [])).toEqual(Array.from(weights(1)));
      await restored.close();
    }
    expect(verifyAuditTrail(join(dir, 'restored', 'audit.jsonl'))).toMatchObject({ ok: true, entries: 3 });
    await storage.close();
  });

  it.each(['sqlite', 'postgres'] as const)('takes one consistent %s snapshot while transactions keep committing during the backup', async (kind) => {
    const source = kind === 'sqlite' ? parseDatabaseLocation(join(dir, 'busy.db')) : await freshSchema();
    const storage = await open(source);
    await fill(storage);
    // Each transaction adds a node and records the count in a task: a torn copy would disagree with itself.
    let writes = 0;
    let backingUp = true;
    const writer = (async () => {
      while ((backingUp || writes < 5) && writes < 5000) {
        // Let the backup's steps run between commits, as another process's would.
        await new Promise((resolve) => setImmediate(resolve));
        writes += 1;
        const n = writes;
        await storage.transaction(async () => {
          await storage.nodes.upsert(node(`busy-${n}`));
          await storage.tasks.upsert(task('counter', { attempts: n }));
        });
      }
    })();
    const backup = await createBackup({ database: source, dir: join(dir, `busy-${kind}`) });
    backingUp = false;
    await writer;
    await storage.close();
    const target = parseDatabaseLocation(join(dir, `busy-${kind}-restored.db`));
    await restoreBackup(backup.path, { database: target });
    const restored = await open(target);
    const counted = (await restored.tasks.get('counter'))?.attempts ?? 0;
    expect((await restored.nodes.list()).filter((n) => n.id.startsWith('busy-')).length).toBe(counted);
    expect(counted).toBeLessThanOrEqual(writes);
    await restored.close();
  });

  it('backs up PostgreSQL by a snapshot export that restores into SQLite with the same records and order', async () => {
    const source = await freshSchema();
    const storage = await open(source);
    await fill(storage);
    const expected = await contents(storage);
    const backup = await createBackup({ database: source, dir: join(dir, 'pg-backups') });
    await storage.close();
    expect(backup.manifest.source).toMatchObject({ kind: 'postgres', method: 'postgres-snapshot-export' });
    expect(backup.manifest.source.location).not.toContain('@');
    const target = parseDatabaseLocation(join(dir, 'from-pg.db'));
    await restoreBackup(backup.path, { database: target });
    const restored = await open(target);
    expect(await contents(restored)).toEqual(expected);
    await restored.close();
  });

  it('refuses, in verify and in restore, a backup with one flipped byte in any part, and writes nothing', async () => {
    const source = join(dir, 'flip.db');
    const storage = await connectStorage(source);
    await fill(storage);
    await storage.close();
    const audit = join(dir, 'flip-audit.jsonl');
    await trailWith(audit, 2);
    const backup = await createBackup({ database: parseDatabaseLocation(source), auditFile: audit, dir: join(dir, 'flip-backups'), name: 'good' });
    const files = [MANIFEST_FILE, ...readManifest(join(backup.path, MANIFEST_FILE)).parts.map((p) => p.path)];
    expect(files).toHaveLength(6);
    for (const [index, file] of files.entries()) {
      const copy = join(dir, 'flip-backups', `bad-${index}`);
      cpSync(backup.path, copy, { recursive: true });
      const bytes = readFileSync(join(copy, file));
      // A byte in the middle: in the manifest that is inside a value, not JSON syntax.
      const at = Math.floor(bytes.length / 2);
      bytes[at] ^= 0x01;
      writeFileSync(join(copy, file), bytes);
      const check = await verifyBackup(copy);
      expect(check.ok, file).toBe(false);
      expect(check.problems.join('\n')).toMatch(file === MANIFEST_FILE ? /manifest/ : new RegExp(file.replace('.', '\\.')));
      const target = join(dir, `flip-restore-${index}.db`);
      const error = await expectCode(restoreBackup(copy, { database: parseDatabaseLocation(target), auditFile: `${target}.audit` }), 'BACKUP_CORRUPT');
      expect(error).toBeInstanceOf(BackupCorruptError);
      expect(error.message).not.toContain('\n');
      expect(existsSync(target) || existsSync(`${target}.audit`)).toBe(false);
    }
    const pgTarget = await freshSchema();
    await expectCode(restoreBackup(join(dir, 'flip-backups', 'bad-1'), { database: pgTarget, auditFile: join(dir, 'never.jsonl') }), 'BACKUP_CORRUPT');
    const tables = await admin.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1', [pgTarget.kind === 'postgres' ? pgTarget.schema : '']);
    expect(tables.rowCount).toBe(0);
  });

  it('refuses a backup whose manifest leaves out a blob a version needs, even with every listed part intact', async () => {
    const source = join(dir, 'lacking.db');
    const storage = await connectStorage(source);
    await fill(storage);
    await storage.close();
    const backup = await createBackup({ database: parseDatabaseLocation(source), dir: join(dir, 'lacking-backups'), name: 'whole' });
    const copy = join(dir, 'lacking-backups', 'lacking');
    cpSync(backup.path, copy, { recursive: true });
    const manifest = readManifest(join(copy, MANIFEST_FILE));
    const dropped = manifest.parts.find((p) => p.kind === 'blob');
    const { manifestSha256: _old, ...rest } = { ...manifest, parts: manifest.parts.filter((p) => p !== dropped) };
    writeFileSync(join(copy, MANIFEST_FILE), JSON.stringify({ ...rest, manifestSha256: manifestHash(rest) }));
    rmSync(join(copy, dropped?.path ?? ''));
    const check = await verifyBackup(copy);
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual([expect.stringMatching(new RegExp(`^model 'm1' version \\d needs model blob ${dropped?.sha256}, which the backup lacks$`))]);
    const target = join(dir, 'lacking-restored.db');
    await expectCode(restoreBackup(copy, { database: parseDatabaseLocation(target) }), 'BACKUP_CORRUPT');
    expect(existsSync(target) || existsSync(`${target}-models`)).toBe(false);
  });

  it('refuses to restore over an existing database or audit trail, leaving both as they were', async () => {
    const source = join(dir, 'over.db');
    const storage = await connectStorage(source);
    await fill(storage);
    await storage.close();
    const backup = await createBackup({ database: parseDatabaseLocation(source), dir: join(dir, 'over-backups') });
    const before = readFileSync(source);
    await expectCode(restoreBackup(backup.path, { database: parseDatabaseLocation(source) }), 'RESTORE_TARGET_NOT_EMPTY');
    expect(readFileSync(source).equals(before)).toBe(true);
    const used = await freshSchema();
    const live = await open(used);
    await live.close();
    await expectCode(restoreBackup(backup.path, { database: used }), 'RESTORE_TARGET_NOT_EMPTY');
    expect(readdirSync(join(dir, 'over-backups'))).toEqual([backup.name]);
  });
});
