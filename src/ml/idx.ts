import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InvalidInputError } from '../core/errors.js';
import type { Dataset } from './dataset.js';

/** Element types of the IDX format (LeCun et al., "THE MNIST DATABASE", file format section). */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A parsed IDX tensor: its dimensions and its values in row-major order. */
export interface IdxTensor {
  dtype: IdxDtype;
  dims: number[];
  data: IdxData;
}

const DTYPES: Record<number, { dtype: IdxDtype; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

/** Parses an IDX file: magic 0x0000 + dtype byte + rank byte, big-endian uint32 dims, big-endian values. */
export function parseIdx(bytes: Uint8Array, source = '<idx>'): IdxTensor {
  const invalid = (code: string, why: string): never => {
    throw new InvalidInputError(code, `${source} is not a valid IDX file: ${why}`, { path: source });
  };
  if (bytes.length < 4) invalid('IDX_TRUNCATED', `only ${bytes.length} bytes`);
  const type = DTYPES[bytes[2]];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !type) {
    invalid('IDX_BAD_MAGIC', `magic bytes ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')} (expected 00 00 08..0e rank)`);
  }
  const rank = bytes[3];
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) invalid('IDX_TRUNCATED', `header declares ${rank} dimensions but the file has ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  if (bytes.length < expected) invalid('IDX_TRUNCATED', `dimensions [${dims.join(', ')}] need ${expected} bytes but the file has ${bytes.length}`);
  if (bytes.length > expected) invalid('IDX_TRAILING', `dimensions [${dims.join(', ')}] need ${expected} bytes but the file has ${bytes.length}`);
  return { dtype: type.dtype, dims, data: readValues(view, headerBytes, count, type.dtype) };
}

function readValues(view: DataView, at: number, count: number, dtype: IdxDtype): IdxData {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + count));
    case 'int8':
      return new Int8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(at + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(at + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + 8 * i, false);
      return out;
    }
  }
}

export interface IdxDatasetOptions {
  /** Divide uint8 pixels by 255 so they lie in [0, 1]; true by default. */
  normalize?: boolean;
  /** Overrides max(label) + 1. */
  numClasses?: number;
}

/** Loads an images IDX file and a labels IDX file (optionally gzipped) as one dataset. */
export async function loadIdxDataset(imagesPath: string, labelsPath: string, options: IdxDatasetOptions = {}): Promise<Dataset> {
  const [images, labels] = await Promise.all([readIdxFile(imagesPath), readIdxFile(labelsPath)]);
  return idxToDataset(images, labels, options, imagesPath, labelsPath);
}

async function readIdxFile(path: string): Promise<IdxTensor> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InvalidInputError('DATA_NOT_FOUND', `data file '${path}' does not exist; check the path`, { path });
    }
    throw err;
  }
  // Accept the .gz files as distributed, recognised by the gzip magic bytes rather than by name.
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new InvalidInputError('IDX_GZIP_INVALID', `${path} starts as a gzip file but does not decompress (${(err as Error).message}); download or copy it again`, { path });
    }
  }
  return parseIdx(bytes, path);
}

function idxToDataset(images: IdxTensor, labels: IdxTensor, options: IdxDatasetOptions, imagesSource: string, labelsSource: string): Dataset {
  if (images.dims.length < 2) {
    throw new InvalidInputError('DATA_SHAPE_INVALID', `${imagesSource} has rank ${images.dims.length}; images need at least [count, features]`);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new InvalidInputError(
      'DATA_SHAPE_INVALID',
      `${labelsSource} has shape [${labels.dims.join(', ')}] but ${imagesSource} holds ${images.dims[0]} images; pair the matching files`,
    );
  }
  const [numExamples, ...rest] = images.dims;
  // Grey-scale images [n, h, w] become [h, w, 1] so that they feed a conv2d layer directly.
  const featureShape = rest.length === 2 ? [...rest, 1] : rest;
  const numFeatures = rest.reduce((a, b) => a * b, 1);
  const scale = (options.normalize ?? true) && images.dtype === 'uint8' ? 1 / 255 : 1;
  const features = new Float32Array(images.data.length);
  for (let i = 0; i < features.length; i++) features[i] = images.data[i] * scale;
  const ys = Int32Array.from(labels.data);
  let maxLabel = -1;
  for (const y of ys) {
    if (y < 0 || !Number.isInteger(y)) throw new InvalidInputError('DATA_VALUE_INVALID', `${labelsSource} holds label ${y}; labels must be class indices`);
    if (y > maxLabel) maxLabel = y;
  }
  return { features, labels: ys, numExamples, numFeatures, numClasses: options.numClasses ?? maxLabel + 1, featureShape };
}

/** The four MNIST files, by their published names. */
export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export type MnistFile = keyof typeof MNIST_FILES;

/** A public mirror of yann.lecun.com/exdb/mnist/ (the one TensorFlow Datasets downloads from). */
export const MNIST_MIRROR = 'https://storage.googleapis.com/cvdf-datasets/mnist/';

/** Decompressed sizes of the published MNIST files: 16-byte header + 60,000 or 10,000 28x28 images, 8-byte header + labels. */
export const MNIST_BYTES: Record<MnistFile, number> = {
  trainImages: 47_040_016,
  trainLabels: 60_008,
  testImages: 7_840_016,
  testLabels: 10_008,
};

export interface FetchMnistOptions {
  /** Directory where the decompressed files are kept; a later call reads them from here. */
  cacheDir: string;
  /** URL prefix that serves `<name>.gz`; MNIST_MIRROR by default. */
  baseUrl?: string;
  fetchImpl?: typeof fetch;
  /** Expected decompressed sizes; MNIST_BYTES by default. */
  expectedBytes?: Record<MnistFile, number>;
  normalize?: boolean;
}

/** Downloads (once) and loads MNIST as train and test datasets. */
export async function fetchMnist(options: FetchMnistOptions): Promise<{ train: Dataset; test: Dataset }> {
  const expected = options.expectedBytes ?? MNIST_BYTES;
  await mkdir(options.cacheDir, { recursive: true });
  const files = {} as Record<MnistFile, IdxTensor>;
  for (const key of Object.keys(MNIST_FILES) as MnistFile[]) {
    const path = join(options.cacheDir, MNIST_FILES[key]);
    const bytes = (await cachedBytes(path, expected[key])) ?? (await download(key, path, expected[key], options));
    files[key] = parseIdx(bytes, path);
  }
  const opts = { normalize: options.normalize, numClasses: 10 };
  return {
    train: idxToDataset(files.trainImages, files.trainLabels, opts, MNIST_FILES.trainImages, MNIST_FILES.trainLabels),
    test: idxToDataset(files.testImages, files.testLabels, opts, MNIST_FILES.testImages, MNIST_FILES.testLabels),
  };
}

async function cachedBytes(path: string, size: number): Promise<Uint8Array | undefined> {
  const info = await stat(path).catch(() => undefined);
  // A file of the wrong size is a partial or foreign download: fetch it again.
  return info?.size === size ? readFile(path) : undefined;
}

async function download(key: MnistFile, path: string, size: number, options: FetchMnistOptions): Promise<Uint8Array> {
  const base = options.baseUrl ?? MNIST_MIRROR;
  const url = new URL(`${MNIST_FILES[key]}.gz`, base.endsWith('/') ? base : `${base}/`).toString();
  const response = await (options.fetchImpl ?? fetch)(url);
  if (!response.ok) {
    throw new InvalidInputError('DATA_DOWNLOAD_FAILED', `GET ${url} answered ${response.status}; check baseUrl or place the files in the cache directory`, { url });
  }
  let bytes: Uint8Array;
  try {
    bytes = gunzipSync(new Uint8Array(await response.arrayBuffer()));
  } catch {
    throw new InvalidInputError('DATA_DOWNLOAD_FAILED', `${url} is not a gzip file; check baseUrl`, { url });
  }
  if (bytes.length !== size) {
    throw new InvalidInputError('DATA_DOWNLOAD_FAILED', `${url} decompressed to ${bytes.length} bytes, expected ${size}; the mirror serves a different file`, {
      url,
      bytes: bytes.length,
      expected: size,
    });
  }
  // Write under a temporary name first so that an interrupted run never leaves a half file that looks cached.
  await writeFile(`${path}.part`, bytes);
  await rename(`${path}.part`, path);
  return bytes;
}
