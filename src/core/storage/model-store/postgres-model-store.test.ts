import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { PostgresStorage } from '../postgres/index.js';
import { expectCode, model } from '../storage-contract.js';
import { blobDigest } from './model-store.js';

/** The large-object backend against the real server the test run starts, each test in a schema of its own. */
const url = inject('postgresUrl');
const admin = new pg.Pool({ connectionString: url, max: 2 });
afterAll(() => admin.end());

let schema: string;
let storage: PostgresStorage;
beforeEach(async () => {
  schema = `cn_blobs_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  storage = await PostgresStorage.open({ url, schema });
});
afterEach(async () => {
  await storage.close();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
});

const oidOf = async (digest: string): Promise<number> => (await admin.query<{ oid: number }>(`SELECT oid::int AS oid FROM ${schema}.model_blobs WHERE digest = $1`, [digest])).rows[0].oid;
const objectExists = async (oid: number): Promise<boolean> => ((await admin.query('SELECT 1 FROM pg_largeobject_metadata WHERE oid = $1', [oid])).rowCount ?? 0) > 0;

describe('PostgresModelStore', () => {
  it('keeps a blob as one large object, read back byte for byte, and unlinks it on delete', async () => {
    const bytes = Uint8Array.from(randomBytes(70_000));
    const digest = await storage.modelStore.put(bytes);
    expect(digest).toBe(blobDigest(bytes));
    expect(await storage.modelStore.put(bytes.slice())).toBe(digest);
    const oid = await oidOf(digest);
    expect(await objectExists(oid)).toBe(true);
    expect(Buffer.from(await storage.modelStore.get(digest)).equals(Buffer.from(bytes))).toBe(true);
    expect(await storage.modelStore.list()).toEqual([{ digest, bytes: 70_000 }]);
    expect(await storage.modelStore.delete(digest)).toBe(true);
    expect(await objectExists(oid)).toBe(false);
  });

  it('stores one blob when writers put the same bytes at once', async () => {
    const bytes = Uint8Array.from(randomBytes(4096));
    const digests = await Promise.all(Array.from({ length: 6 }, () => storage.modelStore.put(bytes)));
    expect(new Set(digests)).toEqual(new Set([blobDigest(bytes)]));
    expect((await storage.modelStore.list()).length).toBe(1);
  });

  it('refuses a large object with one flipped byte, from the store and from a model version', async () => {
    await storage.models.insertModel(model('m1'));
    const weights = Float32Array.from({ length: 64 }, (_, i) => i);
    await storage.models.insertVersion({ modelId: 'm1', version: 1, sha256: 'x', parentVersion: null, weights, metrics: {}, roundId: null, createdAt: 1 });
    const digest = blobDigest(new Uint8Array(weights.buffer));
    const oid = await oidOf(digest);
    const [byte] = (await admin.query<{ b: Buffer }>('SELECT lo_get($1, 10, 1) AS b', [oid])).rows[0].b;
    await admin.query('SELECT lo_put($1, 10, $2)', [oid, Buffer.of(byte ^ 0x01)]);
    await expectCode(storage.modelStore.get(digest), 'MODEL_BLOB_CORRUPT');
    await expectCode(storage.models.getVersion('m1', 1), 'MODEL_BLOB_CORRUPT');
  });

  it('refuses to delete a blob a version still uses, and a rolled-back transaction takes its new blob with it', async () => {
    await storage.models.insertModel(model('m1'));
    const weights = new Float32Array([4, 5, 6]);
    await storage.models.insertVersion({ modelId: 'm1', version: 1, sha256: 'x', parentVersion: null, weights, metrics: {}, roundId: null, createdAt: 1 });
    const digest = blobDigest(new Uint8Array(weights.buffer));
    await expectCode(storage.modelStore.delete(digest), 'MODEL_BLOB_IN_USE');
    expect(await storage.modelStore.has(digest)).toBe(true);
    await expect(
      storage.transaction(async () => {
        await storage.modelStore.put(new Uint8Array([1]));
        throw new Error('abandon');
      }),
    ).rejects.toThrow('abandon');
    expect(await storage.modelStore.has(blobDigest(new Uint8Array([1])))).toBe(false);
  });
});
