import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage } from './index.js';
import { applyMigrations, MIGRATIONS, type Migration } from './migrations.js';
import { blobDigest } from './model-store/model-store.js';
import { SqliteStorage } from './sqlite/index.js';
import { describeMarketContract } from './market-contract.js';
import { describeStorageContract, model, node, round, type OpenedStorage } from './storage-contract.js';

const openMemory = async (): Promise<OpenedStorage> => ({ storage: openStorage({ path: ':memory:' }), dispose: async () => undefined });
describeStorageContract('SqliteStorage', openMemory);
describeMarketContract('SqliteStorage', openMemory);
// A database file keeps update bytes in its journal, not its rows: the same contract holds.
describeStorageContract('SqliteStorage on a file', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'cn-storage-file-'));
  return { storage: openStorage({ path: join(folder, 'cn.db') }), dispose: async () => rmSync(folder, { recursive: true, force: true }) };
});

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-storage-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteStorage update journal', () => {
  it('deletes a round journal only once the transaction that cleared it commits', async () => {
    const storage = new SqliteStorage({ path: join(dir, 'journal.db') });
    try {
      await storage.models.insertModel(model('m1'));
      await storage.rounds.upsert(round('r1', 'j1', 'm1', 1));
      await storage.rounds.insertUpdate({ roundId: 'r1', clientId: 'c1', numExamples: 1, sha256: 'x', metrics: {}, receivedAt: 1, payload: Uint8Array.of(1, 2, 3) });
      // Finalising rolls back (a crash before the commit would too): the round keeps its bytes for a resume.
      await expect(
        storage.transaction(async () => {
          expect(await storage.rounds.clearUpdatePayloads('r1')).toBe(1);
          throw new Error('aggregation failed');
        }),
      ).rejects.toThrow('aggregation failed');
      expect(Array.from((await storage.rounds.getUpdatePayload('r1', 'c1'))!)).toEqual([1, 2, 3]);
      await storage.transaction(async () => {
        await storage.rounds.clearUpdatePayloads('r1');
        // Still readable inside: the journal goes only with the commit.
        expect(await storage.rounds.getUpdatePayload('r1', 'c1')).toBeDefined();
      });
      expect(await storage.rounds.getUpdatePayload('r1', 'c1')).toBeUndefined();
      expect(readdirSync(join(dir, 'journal.db-updates'))).toEqual([]);
    } finally {
      await storage.close();
    }
  });
});

describe('SqliteStorage files and migrations', () => {
  it('creates missing parent directories, uses WAL and keeps data across re-opens', async () => {
    const path = join(dir, 'nested', 'deeper', 'cn.db');
    const first = new SqliteStorage({ path });
    expect(first.appliedMigrations).toEqual(MIGRATIONS.map((m) => m.version));
    await first.nodes.upsert(node('n1'));
    await first.close();

    const second = new SqliteStorage({ path });
    expect(second.appliedMigrations).toEqual([]);
    expect(await second.nodes.get('n1')).toEqual(node('n1'));
    await second.close();

    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual(
      MIGRATIONS.map((m) => ({ version: m.version })),
    );
    raw.close();
  });

  it('applies only the migrations a re-opened database has not seen', async () => {
    const path = join(dir, 'grow.db');
    const extra: Migration = { version: MIGRATIONS.length + 1, name: 'node notes', sql: 'ALTER TABLE nodes ADD COLUMN notes TEXT' };
    const first = new SqliteStorage({ path });
    await first.nodes.upsert(node('n1'));
    await first.close();

    const grown = new SqliteStorage({ path, migrations: [...MIGRATIONS, extra] });
    expect(grown.appliedMigrations).toEqual([extra.version]);
    expect(await grown.nodes.get('n1')).toEqual(node('n1'));
    await grown.close();

    const again = new SqliteStorage({ path, migrations: [...MIGRATIONS, extra] });
    expect(again.appliedMigrations).toEqual([]);
    await again.close();
  });

  it('refuses to open a database whose schema is newer than this code', async () => {
    const path = join(dir, 'future.db');
    const extra: Migration = { version: MIGRATIONS.length + 1, name: 'future', sql: 'CREATE TABLE future (x)' };
    await new SqliteStorage({ path, migrations: [...MIGRATIONS, extra] }).close();
    expect(() => new SqliteStorage({ path })).toThrow(expect.objectContaining({ code: 'STORAGE_SCHEMA_TOO_NEW' }));
  });

  it('applies nothing when one migration of a batch fails', () => {
    const db = new Database(':memory:');
    const broken: Migration[] = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE oops (' }];
    expect(() => applyMigrations(db, broken)).toThrow();
    expect(db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get()).toEqual({ n: 0 });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'nodes'").get()).toBeUndefined();
    db.close();
  });

  it('moves the weights of a schema-5 database into the model store, equal weights once, and drops the column', async () => {
    const path = join(dir, 'v5.db');
    const raw = new Database(path);
    applyMigrations(raw, MIGRATIONS.slice(0, 5));
    raw.prepare("INSERT INTO models (id, name, architecture, hyperparameters, latest_version, created_at) VALUES ('m1', 'mlp', NULL, '{}', 3, 1)").run();
    const weights = [new Float32Array([1, 2, 3]), new Float32Array([1, 2, 3]), new Float32Array([-0, 0.5, 7])];
    const insert = raw.prepare("INSERT INTO model_versions (model_id, version, sha256, parent_version, weights, metrics, round_id, created_at) VALUES ('m1', ?, 'x', NULL, ?, '{}', NULL, 1)");
    weights.forEach((w, i) => insert.run(i + 1, Buffer.from(w.buffer)));
    raw.close();

    const upgraded = new SqliteStorage({ path });
    expect(upgraded.appliedMigrations).toEqual([6]);
    expect(upgraded.modelStore.dir).toBe(`${path}-models`);
    for (const [i, w] of weights.entries()) expect((await upgraded.models.getVersion('m1', i + 1))?.weights).toEqual(w);
    const digests = weights.map((w) => blobDigest(new Uint8Array(w.buffer)));
    expect((await upgraded.modelStore.list()).map((b) => b.digest)).toEqual([...new Set(digests)].sort());
    expect((await upgraded.models.listWeightReferences()).map((r) => r.digest)).toEqual(digests);
    await upgraded.close();
    const columns = new Database(path, { readonly: true });
    expect((columns.prepare('PRAGMA table_info(model_versions)').all() as { name: string }[]).map((c) => c.name)).not.toContain('weights');
    columns.close();
  });

  it('rejects a migration list that is not numbered 1, 2, 3, ...', () => {
    const db = new Database(':memory:');
    const gap: Migration[] = [MIGRATIONS[0], { version: 3, name: 'skipped two', sql: '' }];
    expect(() => applyMigrations(db, gap)).toThrow(expect.objectContaining({ code: 'STORAGE_MIGRATIONS_INVALID' }));
    db.close();
  });
});
