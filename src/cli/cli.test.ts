import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCliToEnd, type CommandResult } from '../../test/support/cli-run.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const optdigits = join(root, 'data', 'optdigits');

const cli = (args: string[], cwd: string): Promise<CommandResult> => runCliToEnd(args, { cwd });

function expectCleanUsageError(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const fileHash = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('cipher-nexus CLI', () => {
  let dir: string;
  let db: string;
  let jobReport: { model: { id: string }; jobId: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-cli-'));
    db = join(dir, 'state.db');
    const config = [
      'name: cli-test',
      'seed: 3',
      'data:',
      `  train: ${join(optdigits, 'optdigits.tra')}`,
      `  test: ${join(optdigits, 'optdigits.tes')}`,
      '  labelColumn: 64',
      '  header: false',
      '  scale: { kind: divide, by: 16 }',
      'clients: 3',
      'rounds: 2',
      'execution: { mode: in-process }',
    ].join('\n');
    writeFileSync(join(dir, 'job.yaml'), config);
    const r = await cli(['--db', db, 'train', '--config', 'job.yaml', '--report', 'out/report.json'], dir);
    expect(r.stderr).toBe(r.code === 0 ? r.stderr : '');
    expect(r.code).toBe(0);
    jobReport = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints help with every command', async () => {
    const r = await cli(['--help'], dir);
    expect(r.code).toBe(0);
    for (const c of ['demo', 'train', 'models', 'rounds']) expect(r.stdout).toContain(c);
  });

  it('trains from a YAML config and writes a complete report', async () => {
    const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8'));
    expect(Object.keys(report)).toEqual(expect.arrayContaining(['config', 'rounds', 'final', 'model', 'seconds', 'participants']));
    expect(report.rounds).toHaveLength(2);
    expect(Object.keys(report.rounds[0])).toEqual(expect.arrayContaining(['round', 'accuracy', 'loss', 'participants', 'seconds']));
    expect(report.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(report.final.accuracy).toBeGreaterThan(0.5);
  });

  it('lists models and rounds as JSON', async () => {
    const models = JSON.parse((await cli(['--db', db, 'models', 'list', '--json'], dir)).stdout);
    expect(models.map((m: { id: string }) => m.id)).toContain(jobReport.model.id);
    const shown = JSON.parse((await cli(['--db', db, 'models', 'show', jobReport.model.id, '--json'], dir)).stdout);
    expect(shown.versions.map((v: { version: number }) => v.version)).toEqual([1, 2, 3]);
    const rounds = JSON.parse((await cli(['--db', db, 'rounds', 'list', '--job', jobReport.jobId, '--json'], dir)).stdout);
    expect(rounds.map((r: { number: number; status: string }) => [r.number, r.status])).toEqual([
      [1, 'finalized'],
      [2, 'finalized'],
    ]);
  });

  it('refuses a malformed config with one line naming the field, and leaves the database as it was', async () => {
    const before = fileHash(db);
    writeFileSync(join(dir, 'bad.yaml'), readFileSync(join(dir, 'job.yaml'), 'utf8').replace('rounds: 2', 'rounds: -3'));
    expectCleanUsageError(await cli(['--db', db, 'train', '--config', 'bad.yaml'], dir), /rounds/);
    writeFileSync(join(dir, 'broken.yaml'), 'data: [unclosed');
    expectCleanUsageError(await cli(['--db', db, 'train', '--config', 'broken.yaml'], dir), /broken\.yaml/);
    expect(fileHash(db)).toBe(before);
  });

  it('refuses a missing data file and an impossible model, naming each', async () => {
    const base = readFileSync(join(dir, 'job.yaml'), 'utf8');
    writeFileSync(join(dir, 'missing.yaml'), base.replace(join(optdigits, 'optdigits.tes'), 'nowhere/test.csv'));
    expectCleanUsageError(await cli(['--db', join(dir, 'fresh.db'), 'train', '--config', 'missing.yaml'], dir), /nowhere\/test\.csv/);
    writeFileSync(
      join(dir, 'cnn.yaml'),
      `${base.replace('  scale:', '  featureShape: [8, 8, 1]\n  scale:')}\nmodel: { type: cnn, conv: [{ filters: 4, kernelSize: 9 }] }\n`,
    );
    expectCleanUsageError(await cli(['--db', join(dir, 'fresh.db'), 'train', '--config', 'cnn.yaml'], dir), /kernel|size/i);
    expect(existsSync(join(dir, 'fresh.db'))).toBe(false);
  });

  it('refuses bad flags and unknown ids with exit code 2', async () => {
    expectCleanUsageError(await cli(['demo', '--clients', 'abc'], dir), /--clients/);
    expectCleanUsageError(await cli(['--db', db, 'models', 'show', 'model-missing'], dir), /model-missing/);
    expectCleanUsageError(await cli(['train', '--config', 'nope.yaml'], dir), /nope\.yaml/);
  });

  it('lists nothing from a database that does not exist, and does not create one there', async () => {
    const missing = join(dir, 'elsewhere.db');
    for (const args of [['rounds', 'list'], ['models', 'list'], ['models', 'show', 'model-1'], ['budget', 'show'], ['budget', 'history', '--dataset', 'd1']]) {
      const r = await cli(['--db', missing, ...args], dir);
      expectCleanUsageError(r, /STORAGE_NOT_FOUND.*elsewhere\.db/);
      expect(r.stderr).toMatch(/--db/);
    }
    expect(existsSync(missing)).toBe(false);
  });

  it('computes epsilon and noise from the command line, refusing out-of-range flags with exit 2', async () => {
    const ok = await cli(['dp', 'epsilon', '--sampling-rate', String(256 / 60000), '--noise-multiplier', '1.1', '--steps', '14062', '--delta', '1e-5', '--conversion', 'classic', '--json'], dir);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ conversion: 'classic' });
    expect(Math.abs(JSON.parse(ok.stdout).epsilon - 3.01) / 3.01).toBeLessThan(0.01);
    const noise = JSON.parse((await cli(['dp', 'noise', '--target-epsilon', '3', '--sampling-rate', '0.01', '--steps', '1000', '--delta', '1e-5', '--json'], dir)).stdout);
    expect(noise.epsilon).toBeLessThanOrEqual(3.0001);
    for (const bad of [
      ['--sampling-rate', '1.5', '--noise-multiplier', '1', '--steps', '10', '--delta', '1e-5'],
      ['--sampling-rate', '0.1', '--noise-multiplier', '0', '--steps', '10', '--delta', '1e-5'],
      ['--sampling-rate', '0.1', '--noise-multiplier', '1', '--steps', '2.5', '--delta', '1e-5'],
      ['--sampling-rate', '0.1', '--noise-multiplier', '1', '--steps', '10', '--delta', '1'],
    ]) {
      const r = await cli(['dp', 'epsilon', ...bad], dir);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('sets and shows privacy budgets, and leaves the ledger as it was on bad input', async () => {
    expect((await cli(['--db', db, 'budget', 'set', '--dataset', 'hospital-a', '--epsilon', '4', '--delta', '1e-5'], dir)).code).toBe(0);
    const before = fileHash(db);
    expectCleanUsageError(await cli(['--db', db, 'budget', 'set', '--dataset', 'hospital-a', '--epsilon', '-1', '--delta', '1e-5'], dir), /epsilon/);
    expectCleanUsageError(await cli(['--db', db, 'budget', 'show', '--dataset', 'nobody'], dir), /nobody/);
    expect(fileHash(db)).toBe(before);
    const shown = JSON.parse((await cli(['--db', db, 'budget', 'show', '--dataset', 'hospital-a', '--json'], dir)).stdout);
    expect(JSON.stringify(shown)).toContain('hospital-a');
  });

  it('client: an unwritable --wire-log, or an --asset without its operator, is refused before anything is written', async () => {
    const { provisionWithLocalKeys } = await import('../identity/index.js');
    const kits = join(dir, 'wire-kits');
    await provisionWithLocalKeys({ outDir: kits, participants: ['owner'], serverHost: '127.0.0.1', serverPort: 9 });
    const base = ['client', '--key', join(kits, 'participants', 'owner', 'kit.json'), '--data', join(optdigits, 'optdigits.tes')];
    expectCleanUsageError(await cli([...base, '--wire-log', join(dir, 'no', 'such', 'wire.bin')], dir), /^error \[WIRE_LOG_UNWRITABLE\]: cannot write the wire log '[^']+' \(ENOENT\); give a file in a folder you can write to\n$/);
    const log = join(dir, 'wire.bin');
    expectCleanUsageError(await cli([...base, '--wire-log', log, '--asset', '1', '--audit', join(dir, 'owner-audit.jsonl')], dir), /^error \[CLI_OPTION_INVALID\]: --asset needs --market-operator/);
    expect(existsSync(log)).toBe(false);
    expect(existsSync(join(dir, 'owner-audit.jsonl'))).toBe(false);
  }, 60_000);
});
