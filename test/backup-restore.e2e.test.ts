import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AuditTrail, connectStorage, createBackup, parseDatabaseLocation, restoreBackup, verifyAuditTrail, type DatabaseLocation, type Storage } from '../src/core/index.js';
import { createClientRunner, demoConfig, InProcessChannel, JobDriver, prepareJob, type PreparedJob, type RoundReport } from '../src/fl/index.js';

/**
 * A backup taken in the middle of a job (one round of three done, the coordinator's database open)
 * and restored on a fresh SQLite file and a fresh PostgreSQL schema: the job is taken over where the
 * backup left it, as a restarted coordinator takes it over, and its audit chain goes on unbroken.
 */
const url = inject('postgresUrl');
const admin = new pg.Pool({ connectionString: url, max: 1 });
let dir: string;
let schema: string;
let prepared: PreparedJob;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-backup-job-'));
  schema = `cn_restore_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  prepared = await prepareJob({ ...demoConfig({ clients: 3, rounds: 3, seed: 5 }), training: { epochs: 1 }, execution: { mode: 'in-process' } });
});
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

/** The job on a coordinator's driver (resume on, updates kept durably as `serve` keeps them), its rounds audited as `serve` audits them. */
async function coordinator(storage: Storage, trail: AuditTrail): Promise<{ driver: JobDriver; close: () => Promise<void> }> {
  const { config, spec, test, clients } = prepared;
  const runner = await createClientRunner(spec, clients, { mode: 'in-process', workers: 1 });
  const channel = new InProcessChannel(runner, new Map([...clients].map(([id, data]) => [id, { numExamples: data.numExamples }])));
  const driver = await JobDriver.open({ config, spec, test, datasetId: prepared.datasetId }, storage, channel, { resume: true, durable: true, openMembership: false });
  await channel.connect(driver);
  await trail.append(driver.resumed ? 'job.resumed' : 'job.started', 'coordinator', { job: driver.jobId });
  driver.on('round', (round: RoundReport) => void trail.append('round.finalized', 'coordinator', { job: driver.jobId, round: round.round, modelVersion: round.modelVersion }));
  return { driver, close: () => runner.close() };
}

const open = (location: DatabaseLocation): Promise<Storage> => (location.kind === 'sqlite' ? connectStorage(location.path) : connectStorage(location.url, { schema: location.schema }));

describe('a backup taken mid-job', () => {
  it('restores on fresh SQLite and PostgreSQL stores, where the job resumes after its last backed-up round and its audit chain continues intact', async () => {
    const db = join(dir, 'coordinator.db');
    const auditFile = join(dir, 'audit.jsonl');
    const storage = await connectStorage(db);
    const trail = await AuditTrail.open(auditFile);
    const { driver, close } = await coordinator(storage, trail);
    let backup: ReturnType<typeof createBackup> | undefined;
    driver.on('round', (round: RoundReport) => {
      if (round.round !== 1) return;
      // Held before round 2 so the backup sees exactly one finished round; the database stays open and in use.
      driver.pause();
      backup = (async () => {
        await trail.append('backup.started', 'operator', {});
        const taken = await createBackup({ database: parseDatabaseLocation(db), auditFile, dir: join(dir, 'backups') });
        driver.resume();
        return taken;
      })();
    });
    const original = await driver.run();
    await close();
    await trail.close();
    await storage.close();
    const taken = await (backup as ReturnType<typeof createBackup>);
    const backedUpAudit = taken.manifest.parts.find((p) => p.kind === 'audit');
    expect(backedUpAudit).toMatchObject({ entries: 3 });
    const backedUpLines = readFileSync(join(taken.path, 'audit.jsonl'), 'utf8').trim().split('\n');
    // The model store as of round 1: version 1 (the initial weights) and version 2, each a blob.
    expect(taken.manifest.parts.filter((p) => p.kind === 'blob')).toHaveLength(2);

    const targets: DatabaseLocation[] = [parseDatabaseLocation(join(dir, 'restored.db')), parseDatabaseLocation(url, { schema })];
    for (const [index, target] of targets.entries()) {
      const restoredAudit = join(dir, `restored-audit-${index}.jsonl`);
      await restoreBackup(taken.path, { database: target, auditFile: restoredAudit });
      const restored = await open(target);
      const restoredTrail = await AuditTrail.open(restoredAudit);
      const resumed = await coordinator(restored, restoredTrail);
      expect(resumed.driver.resumed, target.kind).toBe(true);
      expect(resumed.driver.jobId).toBe(original.jobId);
      const outcome = await resumed.driver.run();
      await resumed.close();
      await restoredTrail.close();
      expect(outcome.rounds.map((r) => r.round)).toEqual([2, 3]);
      const rounds = await restored.rounds.list({ jobId: original.jobId });
      expect(rounds.filter((r) => r.status === 'finalized').map((r) => r.number)).toEqual([1, 2, 3]);
      expect((await restored.jobs.get(original.jobId))?.status).toBe('completed');
      expect(outcome.model.version).toBe(original.model.version);
      // Seeded selection and training: the restored job ends with the very model the original run produced.
      expect(outcome.model.sha256).toBe(original.model.sha256);
      await restored.close();

      const chain = verifyAuditTrail(restoredAudit);
      expect(chain).toMatchObject({ ok: true, entries: backedUpLines.length + 3 });
      const lines = readFileSync(restoredAudit, 'utf8').trim().split('\n');
      expect(lines.slice(0, backedUpLines.length)).toEqual(backedUpLines);
      expect(lines.slice(backedUpLines.length).map((line) => (JSON.parse(line) as { kind: string }).kind)).toEqual(['job.resumed', 'round.finalized', 'round.finalized']);
    }
  });
});
