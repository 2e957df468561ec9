import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.js';
import { fetchMnist, loadIdxDataset, MNIST_FILES, parseIdx, type MnistFile } from './idx.js';

const dir = mkdtempSync(join(tmpdir(), 'cn-idx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes an IDX header (magic 00 00 dtype rank, big-endian dims) followed by the payload. */
function idx(dtype: number, dims: number[], payload: Uint8Array): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = dtype;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return new Uint8Array(Buffer.concat([header, payload]));
}

/** n images of 2x3 pixels whose value encodes (image, pixel), and labels i mod 10. */
function images(n: number): Uint8Array {
  return idx(0x08, [n, 2, 3], Uint8Array.from({ length: n * 6 }, (_, i) => (i * 7) % 256));
}
function labels(n: number): Uint8Array {
  return idx(0x08, [n], Uint8Array.from({ length: n }, (_, i) => i % 10));
}

describe('parseIdx', () => {
  it('reads dims and ubyte values', () => {
    const t = parseIdx(images(2));
    expect(t.dtype).toBe('uint8');
    expect(t.dims).toEqual([2, 2, 3]);
    expect(Array.from(t.data)).toEqual([0, 7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77]);
  });

  it('reads big-endian int32 and float32', () => {
    const ints = Buffer.alloc(8);
    ints.writeInt32BE(-2, 0);
    ints.writeInt32BE(70000, 4);
    expect(Array.from(parseIdx(idx(0x0c, [2], ints)).data)).toEqual([-2, 70000]);
    const floats = Buffer.alloc(4);
    floats.writeFloatBE(1.5, 0);
    expect(parseIdx(idx(0x0d, [1, 1], floats))).toMatchObject({ dtype: 'float32', dims: [1, 1], data: new Float32Array([1.5]) });
  });

  it('refuses a bad magic number, truncated and oversized data', () => {
    const bad = images(1);
    bad[0] = 1;
    expect(() => parseIdx(bad, 'x.idx')).toThrow(expect.objectContaining({ code: 'IDX_BAD_MAGIC', message: expect.stringContaining('x.idx') }));
    const unknownType = images(1);
    unknownType[2] = 0x07;
    expect(() => parseIdx(unknownType)).toThrow(expect.objectContaining({ code: 'IDX_BAD_MAGIC' }));
    expect(() => parseIdx(images(2).subarray(0, 20))).toThrow(expect.objectContaining({ code: 'IDX_TRUNCATED' }));
    expect(() => parseIdx(images(2).subarray(0, 9))).toThrow(expect.objectContaining({ code: 'IDX_TRUNCATED' }));
    expect(() => parseIdx(new Uint8Array([...images(1), 0]))).toThrow(expect.objectContaining({ code: 'IDX_TRAILING' }));
  });

  const typed = {
    0x08: { bytes: 1, write: (v: DataView, at: number, x: number) => v.setUint8(at, x), value: fc.integer({ min: 0, max: 255 }) },
    0x09: { bytes: 1, write: (v: DataView, at: number, x: number) => v.setInt8(at, x), value: fc.integer({ min: -128, max: 127 }) },
    0x0b: { bytes: 2, write: (v: DataView, at: number, x: number) => v.setInt16(at, x), value: fc.integer({ min: -32768, max: 32767 }) },
    0x0c: { bytes: 4, write: (v: DataView, at: number, x: number) => v.setInt32(at, x), value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
    0x0d: { bytes: 4, write: (v: DataView, at: number, x: number) => v.setFloat32(at, x), value: fc.float({ noNaN: true }) },
    0x0e: { bytes: 8, write: (v: DataView, at: number, x: number) => v.setFloat64(at, x), value: fc.double({ noNaN: true }) },
  };
  const tensorArb = fc
    .record({ type: fc.constantFrom(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e), dims: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }) })
    .chain(({ type, dims }) => fc.array(typed[type as keyof typeof typed].value, { minLength: dims.reduce((a, b) => a * b, 1), maxLength: dims.reduce((a, b) => a * b, 1) }).map((values) => ({ type, dims, values })));

  it('property: any tensor written big-endian reads back, dims and values', () => {
    fc.assert(
      fc.property(tensorArb, ({ type, dims, values }) => {
        const { bytes, write } = typed[type as keyof typeof typed];
        const payload = new DataView(new ArrayBuffer(values.length * bytes));
        values.forEach((x, i) => write(payload, i * bytes, x));
        const t = parseIdx(idx(type, dims, new Uint8Array(payload.buffer)));
        expect(t.dims).toEqual(dims);
        expect(Array.from(t.data)).toEqual(type === 0x0d ? values.map(Math.fround) : values);
      }),
    );
  });

  it('property: any bytes are a tensor or one IDX_* refusal naming the file, never another error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), fc.integer({ min: 0, max: 4 }), (random, framed, rank) => {
        // Half the inputs carry a valid magic and a small rank, so that the dimensions and the values get read too.
        const bytes = random.slice();
        if (framed && bytes.length >= 4) bytes.set([0, 0, 0x08, rank]);
        try {
          const t = parseIdx(bytes, 'f.idx');
          expect(t.data.length * (t.data as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT + 4 + 4 * t.dims.length).toBe(bytes.length);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError);
          expect((error as InvalidInputError).code).toMatch(/^IDX_(BAD_MAGIC|TRUNCATED|TRAILING)$/);
          expect((error as InvalidInputError).message).toContain('f.idx');
        }
      }),
    );
  });
});

describe('loadIdxDataset', () => {
  it('pairs images with labels, normalises pixels and reads gzipped files', async () => {
    writeFileSync(join(dir, 'img.idx'), images(3));
    writeFileSync(join(dir, 'lbl.idx.gz'), gzipSync(labels(3)));
    const ds = await loadIdxDataset(join(dir, 'img.idx'), join(dir, 'lbl.idx.gz'));
    expect(ds).toMatchObject({ numExamples: 3, numFeatures: 6, featureShape: [2, 3, 1], numClasses: 3 });
    expect(ds.features[1]).toBeCloseTo(7 / 255, 6);
    expect(Array.from(ds.labels)).toEqual([0, 1, 2]);
    const raw = await loadIdxDataset(join(dir, 'img.idx'), join(dir, 'lbl.idx.gz'), { normalize: false, numClasses: 10 });
    expect(raw.features[1]).toBe(7);
    expect(raw.numClasses).toBe(10);
  });

  it('refuses mismatched counts and missing files', async () => {
    writeFileSync(join(dir, 'lbl2.idx'), labels(2));
    await expect(loadIdxDataset(join(dir, 'img.idx'), join(dir, 'lbl2.idx'))).rejects.toMatchObject({ code: 'DATA_SHAPE_INVALID' });
    await expect(loadIdxDataset(join(dir, 'none.idx'), join(dir, 'lbl2.idx'))).rejects.toMatchObject({
      code: 'DATA_NOT_FOUND',
      message: expect.stringContaining('none.idx'),
    });
    // A download cut short: gzip's magic, then a stream that ends early.
    writeFileSync(join(dir, 'cut.idx.gz'), gzipSync(images(4)).subarray(0, 30));
    await expect(loadIdxDataset(join(dir, 'cut.idx.gz'), join(dir, 'lbl2.idx'))).rejects.toMatchObject({
      code: 'IDX_GZIP_INVALID',
      message: expect.stringMatching(/cut\.idx\.gz starts as a gzip file but does not decompress .*; download or copy it again/),
    });
  });
});

describe('fetchMnist', () => {
  const payloads: Record<MnistFile, Uint8Array> = {
    trainImages: images(12),
    trainLabels: labels(12),
    testImages: images(4),
    testLabels: labels(4),
  };
  const expectedBytes = Object.fromEntries(Object.entries(payloads).map(([k, v]) => [k, v.length])) as Record<MnistFile, number>;
  const requests: string[] = [];
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    const byName = new Map(Object.entries(MNIST_FILES).map(([key, name]) => [`/mnist/${name}.gz`, gzipSync(payloads[key as MnistFile])]));
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const body = byName.get(req.url ?? '');
      res.writeHead(body ? 200 : 404).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mnist/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('downloads, gunzips and caches the four files, then reuses the cache', async () => {
    const cacheDir = join(dir, 'cache');
    const first = await fetchMnist({ cacheDir, baseUrl, expectedBytes });
    expect(requests).toHaveLength(4);
    expect(first.train).toMatchObject({ numExamples: 12, featureShape: [2, 3, 1], numClasses: 10 });
    expect(first.test.numExamples).toBe(4);
    const second = await fetchMnist({ cacheDir, baseUrl, expectedBytes });
    expect(requests).toHaveLength(4);
    expect(second.train.features).toEqual(first.train.features);
  });

  it('refuses a file of the wrong size and a missing file', async () => {
    await expect(fetchMnist({ cacheDir: join(dir, 'c2'), baseUrl, expectedBytes: { ...expectedBytes, trainImages: 99 } })).rejects.toMatchObject({
      code: 'DATA_DOWNLOAD_FAILED',
      message: expect.stringContaining('expected 99'),
    });
    await expect(fetchMnist({ cacheDir: join(dir, 'c3'), baseUrl: baseUrl + 'missing/', expectedBytes })).rejects.toMatchObject({
      code: 'DATA_DOWNLOAD_FAILED',
      message: expect.stringContaining('404'),
    });
  });

  it('uses an injected fetch', async () => {
    const calls: string[] = [];
    const fetchImpl: typeof fetch = async (input) => {
      calls.push(String(input));
      return fetch(input);
    };
    await fetchMnist({ cacheDir: join(dir, 'c4'), baseUrl, expectedBytes, fetchImpl });
    expect(calls).toHaveLength(4);
  });
});
