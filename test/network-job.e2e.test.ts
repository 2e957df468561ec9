import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyAuditTrail } from '../src/core/index.js';
import { demoConfig } from '../src/fl/index.js';
import { provisionWithLocalKeys } from '../src/identity/index.js';
import { freePort } from './support/free-port.js';
import { urlWithSchema } from './support/postgres-server.js';
import { runCli, writeParticipantData, type CliProcess } from './support/network.js';

const PARTICIPANTS = ['hospital-a', 'hospital-b', 'hospital-c'];
const ROUNDS = 4;
const postgresUrl = inject('postgresUrl');

describe('a job across processes: coordinator and 3 participants over mutual TLS', () => {
  let dir: string;
  let kitDir: string;
  let configFile: string;
  let data: Map<string, string>;
  let port: number;
  let cleanSha256: string | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-network-'));
    kitDir = join(dir, 'kits');
    port = await freePort();
    await provisionWithLocalKeys({ outDir: kitDir, participants: PARTICIPANTS, serverHost: '127.0.0.1', serverPort: port });
    data = writeParticipantData(dir, PARTICIPANTS);
    configFile = join(dir, 'job.json');
    // The demo's data rules (optdigits, scaled to [0, 1]); the coordinator keeps only the test file.
    const job = {
      name: 'network-e2e',
      seed: 5,
      data: demoConfig().data,
      rounds: ROUNDS,
      selection: { fraction: 1, minClients: 3 },
      model: { type: 'mlp', hidden: [64] },
      training: { epochs: 2, batchSize: 32, learningRate: 0.005, optimizer: 'adam' },
      // A server optimiser with state, so the restart test also shows its moments survive a SIGKILL.
      strategy: { name: 'fedadam', eta: 0.03 },
      round: { quorum: 1, deadlineSeconds: 120 },
    };
    writeFileSync(configFile, JSON.stringify(job));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const serve = (db: string, report: string): CliProcess =>
    runCli(['--db', db, 'serve', '--config', configFile, '--kit-dir', kitDir, '--operator-port', '0', '--report', report, '--log-level', 'warn'], dir);
  const clients = (): CliProcess[] => PARTICIPANTS.map((id) => runCli(['client', '--key', join(kitDir, 'participants', id, 'kit.json'), '--data', data.get(id) as string], dir));

  it('finishes a job: every round aggregates one update per participant', async () => {
    const db = join(dir, 'clean.db');
    const reportFile = join(dir, 'clean-report.json');
    const coordinator = serve(db, reportFile);
    const agents = clients();
    const code = await coordinator.exit;
    expect(code, coordinator.output()).toBe(0);
    for (const agent of agents) expect(await agent.exit, agent.output()).toBe(0);
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    expect(report.status).toBe('completed');
    expect(report.acceptedPerRound).toEqual(Array(ROUNDS).fill(PARTICIPANTS.length));
    expect(report.final.accuracy).toBeGreaterThan(0.85);
    // The coordinator evaluates the final model on its held-out set: ten digits, the baseline from its labels.
    expect(report.evaluation.accuracy).toBe(report.final.accuracy);
    expect(report.evaluation.classes).toHaveLength(10);
    expect(report.evaluation.baseline.accuracy).toBeLessThan(0.11);
    expect(report.validation).toEqual({ passed: true, failures: [] });
    cleanSha256 = report.model.sha256;
    const audit = verifyAuditTrail(join(dir, 'audit.jsonl'));
    expect(audit.ok).toBe(true);
    expect(audit.entries).toBeGreaterThan(ROUNDS * PARTICIPANTS.length);
  }, 180_000);

  it('survives a SIGKILL of the coordinator mid-round: restarted, it finishes with the same accepted updates per round and the same model', async () => {
    const db = join(dir, 'killed.db');
    const reportFile = join(dir, 'killed-report.json');
    const first = serve(db, reportFile);
    const agents = clients();
    // Kill once round 2 is open and holds at least one accepted update but not all of them.
    const deadline = Date.now() + 120_000;
    let killedAt: { round: number; accepted: number } | undefined;
    while (!killedAt && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 15));
      try {
        const reader = new Database(db, { readonly: true, fileMustExist: true });
        try {
          const open = reader.prepare("SELECT id, number FROM rounds WHERE status = 'open' AND number >= 2").get() as { id: string; number: number } | undefined;
          if (open) {
            const { n } = reader.prepare('SELECT COUNT(*) AS n FROM updates WHERE round_id = ?').get(open.id) as { n: number };
            if (n >= 1 && n < PARTICIPANTS.length) {
              first.child.kill('SIGKILL');
              killedAt = { round: open.number, accepted: n };
            }
          }
        } finally {
          reader.close();
        }
      } catch {
        // The database does not exist yet, or is mid-migration.
      }
    }
    expect(killedAt, first.output()).toBeDefined();
    await first.exit;
    const second = serve(db, reportFile);
    expect(await second.exit, second.output()).toBe(0);
    for (const agent of agents) expect(await agent.exit, agent.output()).toBe(0);
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    expect(report.resumed).toBe(true);
    expect(report.acceptedPerRound).toEqual(Array(ROUNDS).fill(PARTICIPANTS.length));
    expect(report.final.accuracy).toBeGreaterThan(0.85);
    // Seeded local training and FedAdam's restored moments: the same model as the uninterrupted run.
    expect(report.model.sha256).toBe(cleanSha256);
    expect(agents.some((a) => /retrying/.test(a.output()))).toBe(true);
    expect(verifyAuditTrail(join(dir, 'audit.jsonl')).ok).toBe(true);
  }, 240_000);

  it('a standby coordinator on the same PostgreSQL database takes over from one SIGKILLed mid-round: the participants reconnect to it and the job ends with the same model', async () => {
    const admin = new pg.Pool({ connectionString: postgresUrl, max: 1 });
    const schema = `cn_standby_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    const db = urlWithSchema(postgresUrl, schema);
    const reportFile = join(dir, 'standby-report.json');
    const audit = join(dir, 'standby-audit.jsonl');
    const coordinator = (extra: string[]): CliProcess =>
      runCli(['--db', db, 'serve', '--config', configFile, '--kit-dir', kitDir, '--operator-port', '0', '--report', reportFile, '--audit', audit, '--log-level', 'warn', ...extra], dir);
    const started: CliProcess[] = [];
    try {
      const active = coordinator([]);
      started.push(active);
      await expect.poll(() => /started job/.test(active.output()), { timeout: 60_000, interval: 100 }).toBe(true);
      const standbyPort = await freePort();
      const standby = coordinator(['--standby', '--port', String(standbyPort)]);
      started.push(standby);
      await expect.poll(() => standby.output(), { timeout: 60_000, interval: 100 }).toMatch(/standby: +another coordinator serves job network-e2e; waiting/);
      const agents = PARTICIPANTS.map((id) =>
        runCli(['client', '--key', join(kitDir, 'participants', id, 'kit.json'), '--data', data.get(id) as string, '--server', `https://127.0.0.1:${port},https://127.0.0.1:${standbyPort}`], dir),
      );
      started.push(...agents);
      // Kill the active one once round 2 is open and holds some but not all of its updates.
      let killedAt: { number: number; n: number } | undefined;
      const deadline = Date.now() + 120_000;
      while (!killedAt && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 15));
        const { rows } = await admin.query<{ number: number; n: number }>(
          `SELECT r.number, (SELECT COUNT(*)::int FROM ${schema}.updates u WHERE u.round_id = r.id) AS n FROM ${schema}.rounds r WHERE r.status = 'open' AND r.number >= 2`,
        );
        if (rows[0] && rows[0].n >= 1 && rows[0].n < PARTICIPANTS.length) {
          active.child.kill('SIGKILL');
          killedAt = rows[0];
        }
      }
      expect(killedAt, active.output()).toBeDefined();
      expect(await active.exit).toBe(128);
      expect(await standby.exit, standby.output()).toBe(0);
      for (const agent of agents) expect(await agent.exit, agent.output()).toBe(0);
      expect(standby.output()).toMatch(/standby: +took over job network-e2e/);
      expect(standby.output()).toMatch(/resuming job job-\S+/);
      const report = JSON.parse(readFileSync(reportFile, 'utf8'));
      expect(report.status).toBe('completed');
      expect(report.resumed).toBe(true);
      expect(report.acceptedPerRound).toEqual(Array(ROUNDS).fill(PARTICIPANTS.length));
      // Seeded training and FedAdam's moments restored from the shared database: the uninterrupted run's model.
      expect(report.model.sha256).toBe(cleanSha256);
      expect(agents.some((a) => /retrying/.test(a.output()))).toBe(true);
      expect(verifyAuditTrail(audit).ok).toBe(true);
    } finally {
      for (const p of started) p.child.kill();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  }, 240_000);

  it('ends a job whose model misses a validation threshold failed: the coordinator exits 3, the participants 1', async () => {
    const job = JSON.parse(readFileSync(configFile, 'utf8'));
    const strict = join(dir, 'strict.json');
    // One round cannot reach 0.999 on optdigits.
    writeFileSync(strict, JSON.stringify({ ...job, name: 'network-validation', rounds: 1, validation: { minAccuracy: 0.999 } }));
    const reportFile = join(dir, 'strict-report.json');
    const coordinator = runCli(['--db', join(dir, 'strict.db'), 'serve', '--config', strict, '--kit-dir', kitDir, '--operator-port', '0', '--report', reportFile, '--log-level', 'warn'], dir);
    const agents = clients();
    expect(await coordinator.exit, coordinator.output()).toBe(3);
    expect(coordinator.output()).toMatch(/error \[JOB_VALIDATION_FAILED\]: job job-\S+ failed its validation: accuracy \S+ is below the required 0.999/);
    expect(coordinator.output()).toMatch(/job job-\S+ failed: accuracy \S+, model v2/);
    // The final model's figures, as `train` prints them.
    expect(coordinator.output()).toMatch(/^majority-class baseline 0\.\d{4} \(always '\d'\), macro F1 0\.\d{4}$/m);
    expect(coordinator.output()).toMatch(/^class +precision +recall +f1 +support$/m);
    expect(coordinator.output()).toMatch(/^FAILED validation: \[METRIC_ACCURACY\] accuracy \S+ is below the required 0.999$/m);
    for (const agent of agents) {
      expect(await agent.exit, agent.output()).toBe(1);
      expect(agent.output()).toMatch(/job job-\S+ failed \(accuracy \S+\)/);
    }
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    expect(report.status).toBe('failed');
    expect(report.validation.failures.map((f: { code: string }) => f.code)).toEqual(['METRIC_ACCURACY']);
    expect(readFileSync(join(dir, 'audit.jsonl'), 'utf8')).toMatch(/"job\.failed"[^\n]*below the required 0\.999/);
    expect(verifyAuditTrail(join(dir, 'audit.jsonl')).ok).toBe(true);
  }, 180_000);
});
