import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectCode } from '../storage-contract.js';
import { defaultModelStoreDir, FileModelStore } from './file-model-store.js';
import { blobDigest, ModelBlobCorruptError } from './model-store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-model-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('FileModelStore', () => {
  it('names a blob by its sha256 under sha256/<two hex digits>/, and leaves no temporary file behind', async () => {
    const store = new FileModelStore(join(dir, 'models'));
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const digest = await store.put(bytes);
    // The published sha256 of the bytes 01 02 03 04.
    expect(digest).toBe('9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a');
    expect(store.pathOf(digest)).toBe(join(dir, 'models', 'sha256', '9f', digest));
    expect(readdirSync(join(dir, 'models', 'sha256', '9f'))).toEqual([digest]);
    expect(Array.from(readFileSync(store.pathOf(digest)))).toEqual([1, 2, 3, 4]);
  });

  it('stores equal bytes once however often they are put', async () => {
    const store = new FileModelStore(dir);
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const first = await store.put(bytes);
    const second = await store.put(bytes.slice());
    expect(second).toBe(first);
    expect(await store.list()).toEqual([{ digest: first, bytes: 1000 }]);
  });

  it('round-trips any bytes, whatever view they come in', () => {
    const store = new FileModelStore(dir);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.nat(7), (bytes, offset) => {
        const backing = new Uint8Array(bytes.length + offset + 3).fill(0xee);
        backing.set(bytes, offset);
        const view = backing.subarray(offset, offset + bytes.length);
        const digest = store.putSync(view);
        expect(digest).toBe(blobDigest(bytes));
        expect(Array.from(store.getSync(digest))).toEqual(Array.from(bytes));
      }),
      { numRuns: 60 },
    );
  });

  it('refuses to return a blob with one flipped byte, naming it, and one that is gone', async () => {
    const store = new FileModelStore(dir);
    const digest = await store.put(new Uint8Array(64).fill(7));
    const file = readFileSync(store.pathOf(digest));
    file[33] ^= 0x10;
    writeFileSync(store.pathOf(digest), file);
    const error = await expectCode(store.get(digest), 'MODEL_BLOB_CORRUPT');
    expect(error).toBeInstanceOf(ModelBlobCorruptError);
    expect(error.message).toContain(digest);
    expect(await store.delete(digest)).toBe(true);
    await expectCode(store.get(digest), 'MODEL_BLOB_MISSING');
  });

  it('lists only whole blobs: a temporary file of an interrupted write is not one', async () => {
    const store = new FileModelStore(dir);
    const digest = await store.put(new Uint8Array([9]));
    writeFileSync(join(dir, 'sha256', digest.slice(0, 2), `.${digest}.abc.tmp`), 'partial');
    expect((await store.list()).map((b) => b.digest)).toEqual([digest]);
    expect(await new FileModelStore(join(dir, 'nothing-yet')).list()).toEqual([]);
  });

  it('refuses a digest that could name a path outside the store', async () => {
    const store = new FileModelStore(dir);
    for (const bad of ['../x', 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(62)}/b`]) await expectCode(store.has(bad), 'MODEL_DIGEST_INVALID');
  });

  it('lives beside an SQLite database file by default', () => {
    expect(defaultModelStoreDir('/var/lib/cn/cn.db')).toBe('/var/lib/cn/cn.db-models');
  });
});
