import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CipherNexusError } from '../../errors.js';
import { PostgresStorage } from '../postgres/index.js';
import type { RoundStatus, Storage } from '../repository.js';
import { SqliteStorage } from '../sqlite/index.js';
import { model, round } from '../storage-contract.js';
import { collectModelGarbage, neededModelVersions } from './garbage-collection.js';
import { blobDigest } from './model-store.js';

const url = inject('postgresUrl');
const admin = new pg.Pool({ connectionString: url, max: 2 });
afterAll(() => admin.end());

/** A few distinct weight vectors: versions draw from them, so several versions share a blob. */
const POOL = Array.from({ length: 4 }, (_, k) => Float32Array.from({ length: 8 + k }, (_, i) => k * 100 + i));

interface Scenario {
  models: { versions: number[]; checkpoint: number | null }[];
  rounds: { job: number; model: number; base: number; result: number | null; status: RoundStatus }[];
  strays: number;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .array(fc.record({ versions: fc.array(fc.nat(POOL.length - 1), { minLength: 1, maxLength: 6 }), checkpoint: fc.option(fc.nat(5), { nil: null }) }), { minLength: 1, maxLength: 3 })
  .chain((models) =>
    fc.record({
      models: fc.constant(models.map((m) => ({ ...m, checkpoint: m.checkpoint === null ? null : (m.checkpoint % m.versions.length) + 1 }))),
      rounds: fc.array(
        fc.record({ job: fc.nat(2), model: fc.nat(models.length - 1), base: fc.nat(5), result: fc.option(fc.nat(5), { nil: null }), status: fc.constantFrom<RoundStatus>('open', 'aggregating', 'finalized', 'failed') }),
        { maxLength: 6 },
      ),
      strays: fc.nat(2),
    }),
  );

async function build(storage: Storage, s: Scenario): Promise<void> {
  for (const [m, spec] of s.models.entries()) {
    await storage.models.insertModel(model(`m${m}`));
    for (const [i, pick] of spec.versions.entries()) {
      await storage.models.insertVersion({ modelId: `m${m}`, version: i + 1, sha256: `s${pick}`, parentVersion: i === 0 ? null : i, weights: POOL[pick], metrics: {}, roundId: null, createdAt: i });
    }
    if (spec.checkpoint !== null) await storage.models.putStrategyState({ modelId: `m${m}`, strategy: 'fedadam', version: spec.checkpoint, state: new Uint8Array([1]), updatedAt: 1 });
  }
  for (const [i, r] of s.rounds.entries()) {
    const count = s.models[r.model].versions.length;
    const base = (r.base % count) + 1;
    await storage.rounds.upsert({ ...round(`r${i}`, `j${r.job}`, `m${r.model}`, i + 1), status: r.status, baseVersion: base, resultVersion: r.result === null ? null : Math.min(count, base + (r.result % count)) });
  }
  // Blobs no version refers to, as a write that rolled back leaves them.
  for (let i = 0; i < s.strays; i += 1) await storage.modelStore.put(new Uint8Array([0xfe, i, 0, 0]));
}

/** Every version's weights as they read now, or the code of the error reading them gives. */
async function readAll(storage: Storage): Promise<Map<string, number[] | string>> {
  const seen = new Map<string, number[] | string>();
  for (const r of await storage.models.listWeightReferences()) {
    const k = `${r.version}@${r.modelId}`;
    seen.set(k, await storage.models.getVersion(r.modelId, r.version).then((v) => Array.from(v?.weights ?? []), (e: unknown) => (e instanceof CipherNexusError ? e.code : String(e))));
  }
  return seen;
}

describe('model garbage collection', () => {
  it('keeps exactly the blobs of needed versions: heads, checkpoints, open rounds and each job’s first and last version', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const storage = new SqliteStorage({ path: ':memory:' });
        try {
          await build(storage, s);
          const before = await readAll(storage);
          const blobsBefore = await storage.modelStore.list();
          const needed = await neededModelVersions(storage);
          // What the rule promises, stated independently of how it is computed.
          for (const [m, spec] of s.models.entries()) {
            expect(needed.has(`${spec.versions.length}@m${m}`)).toBe(true);
            if (spec.checkpoint !== null) expect(needed.has(`${spec.checkpoint}@m${m}`)).toBe(true);
          }
          for (const r of await storage.rounds.list()) if (r.status === 'open' || r.status === 'aggregating') expect(needed.has(`${r.baseVersion}@${r.modelId}`)).toBe(true);

          const dry = await collectModelGarbage(storage, { dryRun: true });
          expect(await storage.modelStore.list()).toEqual(blobsBefore);
          expect(await readAll(storage)).toEqual(before);

          const report = await collectModelGarbage(storage);
          expect({ ...report, dryRun: true }).toEqual(dry);
          const after = await readAll(storage);
          const blobsAfter = await storage.modelStore.list();
          for (const [k, weights] of before) expect(after.get(k)).toEqual(needed.has(k) ? weights : 'MODEL_WEIGHTS_COLLECTED');
          const referenced = new Set((await storage.models.listWeightReferences()).flatMap((r) => (r.digest ? [r.digest] : [])));
          expect(blobsAfter.map((b) => b.digest)).toEqual([...referenced].sort());
          expect(report.blobsDeleted).toBe(blobsBefore.length - blobsAfter.length);
          const sizes = new Map(blobsBefore.map((b) => [b.digest, b.bytes]));
          expect(report.bytesFreed).toBe(blobsBefore.filter((b) => !referenced.has(b.digest)).reduce((sum, b) => sum + (sizes.get(b.digest) ?? 0), 0));
          expect(report.versionsDropped).toBe([...before.keys()].filter((k) => !needed.has(k)).length);
          // A second collection finds nothing more.
          expect(await collectModelGarbage(storage)).toMatchObject({ versionsDropped: 0, blobsDeleted: 0, bytesFreed: 0 });
        } finally {
          await storage.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('in PostgreSQL keeps a blob that a version committed by another connection took up during the collection', async () => {
    const schema = `cn_gc_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    const storage = await PostgresStorage.open({ url, schema });
    const other = await admin.connect();
    try {
      await build(storage, { models: [{ versions: [0], checkpoint: null }], rounds: [], strays: 1 });
      const stray = blobDigest(new Uint8Array([0xfe, 0, 0, 0]));
      // Another coordinator stores a version whose weights equal the stray blob, and has not committed yet.
      await other.query('BEGIN');
      await other.query(`INSERT INTO ${schema}.model_versions (model_id, version, sha256, parent_version, weights_digest, metrics, round_id, created_at) VALUES ('m0', 2, 'x', 1, $1, '{}', NULL, 2)`, [stray]);
      const collecting = collectModelGarbage(storage);
      // The collection's delete of the stray blob waits for that transaction's lock on it.
      const waiting = async (): Promise<boolean> =>
        ((await admin.query("SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.query LIKE '%DELETE FROM model_blobs%'")).rowCount ?? 0) > 0;
      let waited = false;
      for (let i = 0; i < 200 && !(waited = await waiting()); i += 1) await new Promise((r) => setTimeout(r, 25));
      await other.query('COMMIT');
      expect(waited).toBe(true);
      expect(await collecting).toMatchObject({ blobsDeleted: 0, blobsKept: 2 });
      expect((await storage.models.getVersion('m0', 2))?.weights).toEqual(new Float32Array(new Uint8Array([0xfe, 0, 0, 0]).buffer));
      expect(await storage.modelStore.has(stray)).toBe(true);
    } finally {
      other.release();
      await storage.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it('collects in PostgreSQL too, unlinking the large objects it frees', async () => {
    const schema = `cn_gc_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    const storage = await PostgresStorage.open({ url, schema });
    try {
      await build(storage, { models: [{ versions: [0, 1, 1, 2], checkpoint: null }], rounds: [], strays: 1 });
      const oids = (await admin.query<{ oid: number }>(`SELECT oid::int AS oid FROM ${schema}.model_blobs`)).rows.map((r) => r.oid);
      expect(oids).toHaveLength(4);
      const report = await collectModelGarbage(storage);
      expect(report).toEqual({ dryRun: false, versionsKept: 1, versionsDropped: 3, blobsDeleted: 3, bytesFreed: POOL[0].byteLength + POOL[1].byteLength + 4, blobsKept: 1 });
      expect(Array.from((await storage.models.getVersion('m0', 4))?.weights ?? [])).toEqual(Array.from(POOL[2]));
      const alive = await admin.query('SELECT 1 FROM pg_largeobject_metadata WHERE oid = ANY($1)', [oids]);
      expect(alive.rowCount).toBe(1);
    } finally {
      await storage.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});
