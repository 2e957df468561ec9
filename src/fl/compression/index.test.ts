import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CipherNexusError, Rng } from '../../core/index.js';
import {
  CompressionConfigSchema,
  UpdateCompressor,
  decompress,
  denseBytes,
  topKCount,
  type CompressionConfig,
} from './index.js';

function randomVector(d: number, seed: number, spread = 1): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(d);
  for (let i = 0; i < d; i++) x[i] = rng.normal() * spread;
  return x;
}

/** Reference top-k by a full sort: magnitude descending, then index ascending. */
function referenceTopK(x: Float32Array, k: number): Set<number> {
  const order = Array.from(x.keys()).sort((a, b) => Math.abs(x[b]) - Math.abs(x[a]) || a - b);
  return new Set(order.slice(0, k));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof CipherNexusError ? error.code : `not a CipherNexusError: ${String(error)}`;
  }
  return undefined;
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

const KINDS: CompressionConfig[] = [
  { kind: 'none' },
  { kind: 'topk', fraction: 0.1 },
  { kind: 'q8' },
  { kind: 'topk-q8', fraction: 0.1 },
];

describe('CompressionConfigSchema', () => {
  it('defaults errorFeedback to true and rejects fractions outside (0, 1]', () => {
    expect(CompressionConfigSchema.parse({ kind: 'topk', fraction: 0.01 })).toEqual({ kind: 'topk', fraction: 0.01, errorFeedback: true });
    expect(CompressionConfigSchema.safeParse({ kind: 'topk', fraction: 0 }).success).toBe(false);
    expect(CompressionConfigSchema.safeParse({ kind: 'topk-q8', fraction: 1.5 }).success).toBe(false);
    expect(CompressionConfigSchema.safeParse({ kind: 'q4' }).success).toBe(false);
    expect(codeOf(() => new UpdateCompressor({ kind: 'topk', fraction: -1 }))).toBe('COMPRESSION_CONFIG_INVALID');
  });

  it('computes k = ⌈fraction·d⌉ without binary rounding surprises', () => {
    expect(topKCount(0.07, 100)).toBe(7);
    expect(topKCount(0.015, 100)).toBe(2);
    expect(topKCount(0.01, 100_000)).toBe(1000);
    expect(topKCount(1e-9, 10)).toBe(1);
    expect(topKCount(1, 10)).toBe(10);
    expect(topKCount(0.5, 0)).toBe(0);
    expect(denseBytes(1000)).toBe(4000);
  });
});

describe('none', () => {
  it('round-trips bit for bit', () => {
    const x = randomVector(1000, 1);
    x[3] = -0;
    x[4] = 3.4028234663852886e38;
    x[5] = 1e-45;
    const y = decompress(new UpdateCompressor({ kind: 'none' }).compress(x));
    expect(new Uint8Array(y.buffer)).toEqual(new Uint8Array(x.buffer));
  });
});

describe('top-k', () => {
  it.each([
    [10, 0.3],
    [1000, 0.01],
    [5000, 0.07],
    [20_000, 0.25],
  ])('keeps exactly the k largest magnitudes of %i values (fraction %f) and zeros the rest', (d, f) => {
    const x = randomVector(d, d);
    const k = topKCount(f, d);
    const y = decompress(new UpdateCompressor({ kind: 'topk', fraction: f }).compress(x));
    const kept = referenceTopK(x, k);
    for (let i = 0; i < d; i++) expect(y[i]).toBe(kept.has(i) ? x[i] : 0);
  });

  it('breaks ties toward the lower index and still keeps exactly k (many equal magnitudes)', () => {
    const rng = new Rng(7);
    const x = new Float32Array(3000);
    for (let i = 0; i < x.length; i++) x[i] = (rng.int(5) - 2) * 0.5;
    const k = topKCount(0.3, x.length);
    const y = decompress(new UpdateCompressor({ kind: 'topk', fraction: 0.3, errorFeedback: false }).compress(x));
    const kept = referenceTopK(x, k);
    for (let i = 0; i < x.length; i++) expect(y[i]).toBe(kept.has(i) ? x[i] : 0);
  });

  it('matches a full sort for arbitrary inputs (property)', () => {
    fc.assert(
      fc.property(
        fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength: 1500 }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        (x, f) => {
          const y = decompress(new UpdateCompressor({ kind: 'topk', fraction: f }).compress(x));
          const kept = referenceTopK(x, topKCount(f, x.length));
          return x.every((v, i) => Object.is(y[i], kept.has(i) ? v : 0));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('error feedback (Stich et al. 2018)', () => {
  // A constant delta g: without memory, the same k coordinates win every round and the others are
  // never sent; with memory, Σ decoded = T·g − e_T and ‖e_T‖ stays below 2√(1−δ)/δ·‖g‖ (δ = k/d).
  const d = 200;
  const fraction = 0.05;
  const g = randomVector(d, 11);
  const bound = ((2 * Math.sqrt(1 - fraction)) / fraction) * norm(g);

  function run(config: CompressionConfig, rounds: number, rng?: Rng): { sum: Float64Array; compressor: UpdateCompressor } {
    const compressor = new UpdateCompressor(config);
    const sum = new Float64Array(d);
    for (let t = 0; t < rounds; t++) {
      const y = decompress(compressor.compress(g, rng));
      for (let i = 0; i < d; i++) sum[i] += y[i];
    }
    return { sum, compressor };
  }

  function relativeError(sum: Float64Array, rounds: number): number {
    return norm(sum.map((s, i) => s - rounds * g[i])) / (rounds * norm(g));
  }

  it.each(['topk', 'topk-q8'] as const)('%s: the sum of decoded updates approaches the sum of true deltas, residual bounded', (kind) => {
    const rng = new Rng(3);
    const short = run({ kind, fraction }, 200, rng);
    const long = run({ kind, fraction }, 2000, rng);
    for (const { compressor } of [short, long]) expect(norm(compressor.residual() ?? [])).toBeLessThan(bound);
    expect(relativeError(long.sum, 2000)).toBeLessThan(bound / (2000 * norm(g)));
    expect(relativeError(long.sum, 2000)).toBeLessThan(relativeError(short.sum, 200));
    // Memory invariant: what was sent plus what is remembered is everything that came in.
    const e = long.compressor.residual() ?? new Float32Array(d);
    for (let i = 0; i < d; i++) expect(long.sum[i] + e[i]).toBeCloseTo(2000 * g[i], 1);
  });

  it('without memory, coordinates outside the top k are never sent', () => {
    const { sum, compressor } = run({ kind: 'topk', fraction, errorFeedback: false }, 500);
    expect(compressor.residual()).toBeUndefined();
    expect(relativeError(sum, 500)).toBeGreaterThan(0.5);
  });

  it('carries the residual across compressors (e.g. worker threads) without changing the output', () => {
    const config: CompressionConfig = { kind: 'topk', fraction };
    const single = new UpdateCompressor(config);
    let first = new UpdateCompressor(config);
    for (let t = 0; t < 10; t++) {
      const expected = single.compress(g);
      expect(first.compress(g)).toEqual(expected);
      first = new UpdateCompressor(config, first.residual());
    }
  });

  it('rejects a residual of the wrong shape or for a kind without memory', () => {
    const c = new UpdateCompressor({ kind: 'topk', fraction }, new Float32Array(d + 1));
    expect(codeOf(() => c.compress(g))).toBe('COMPRESSION_INPUT_INVALID');
    expect(codeOf(() => new UpdateCompressor({ kind: 'q8' }, new Float32Array(d)))).toBe('COMPRESSION_INPUT_INVALID');
    expect(codeOf(() => new UpdateCompressor({ kind: 'topk', fraction }, new Float32Array([Number.NaN])))).toBe('COMPRESSION_INPUT_INVALID');
  });

  it('rejects non-finite deltas and a residual that would overflow float32', () => {
    const c = new UpdateCompressor({ kind: 'topk', fraction: 0.3 });
    expect(codeOf(() => c.compress(new Float32Array([1, Number.POSITIVE_INFINITY, 0])))).toBe('COMPRESSION_INPUT_INVALID');
    const big = new Float32Array([3e38, 1, 3e38]);
    c.compress(big);
    expect(codeOf(() => c.compress(big))).toBe('COMPRESSION_INPUT_INVALID');
  });
});

describe('q8 (per-block scale max|x|/127)', () => {
  const x = randomVector(1000, 5, 3);
  const blockScale = (i: number): number => {
    const start = Math.floor(i / 256) * 256;
    return Math.max(...Array.from(x.subarray(start, start + 256), Math.abs)) / 127;
  };

  it('rounds to nearest without an Rng: error at most scale/2 per value', () => {
    const y = decompress(new UpdateCompressor({ kind: 'q8' }).compress(x));
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i] - x[i])).toBeLessThanOrEqual((blockScale(i) / 2) * (1 + 1e-6));
  });

  it('is unbiased with stochastic rounding: the mean over many draws converges to x', () => {
    const rng = new Rng(9);
    const compressor = new UpdateCompressor({ kind: 'q8' });
    const draws = 2000;
    const mean = new Float64Array(x.length);
    for (let t = 0; t < draws; t++) {
      const y = decompress(compressor.compress(x, rng));
      for (let i = 0; i < x.length; i++) mean[i] += y[i] / draws;
    }
    // Each draw errs by at most one step s with variance ≤ s²/4, so the mean is within 5 standard errors.
    for (let i = 0; i < x.length; i++) expect(Math.abs(mean[i] - x[i])).toBeLessThan((5 * blockScale(i)) / (2 * Math.sqrt(draws)));
    const once = decompress(compressor.compress(x, new Rng(1)));
    expect(once).not.toEqual(decompress(compressor.compress(x)));
  });
});

describe('size on the wire', () => {
  const d = 100_000;
  const x = randomVector(d, 21);

  it('top-k 1% of 100k values is under 10% of the dense bytes', () => {
    const bytes = new UpdateCompressor({ kind: 'topk', fraction: 0.01 }).compress(x);
    expect(bytes.length).toBeLessThan(0.1 * denseBytes(d));
    expect(new UpdateCompressor({ kind: 'topk-q8', fraction: 0.01 }).compress(x).length).toBeLessThan(bytes.length);
  });

  it('q8 is a quarter of the dense bytes plus the scales and header', () => {
    const bytes = new UpdateCompressor({ kind: 'q8' }).compress(x);
    expect(bytes.length).toBe(16 + 4 * Math.ceil(d / 256) + d);
    expect(bytes.length / denseBytes(d)).toBeLessThan(0.26);
  });

  it('uses uint32 indices when they are smaller than varints (dense top-k)', () => {
    const rng = new Rng(2);
    const y = new Float32Array(300);
    for (let i = 0; i < y.length; i++) y[i] = rng.next() < 0.5 ? 1 : 0;
    y[299] = 0;
    y[0] = 2 ** 20;
    const compressed = new UpdateCompressor({ kind: 'topk', fraction: 1 / 300 }).compress(y);
    expect(compressed[4]).toBe(0);
    expect(decompress(compressed)[0]).toBe(2 ** 20);
  });

  it('compresses and decompresses 1M values quickly', () => {
    const big = randomVector(1_000_000, 4);
    const rng = new Rng(8);
    const timings = KINDS.map((config) => {
      const compressor = new UpdateCompressor({ ...config, ...(config.kind.startsWith('topk') ? { fraction: 0.01 } : {}) });
      const start = performance.now();
      const y = decompress(compressor.compress(big, rng));
      const ms = performance.now() - start;
      expect(y.length).toBe(big.length);
      return `${config.kind} ${ms.toFixed(0)} ms`;
    });
    console.info(`compress+decompress of 1M values: ${timings.join(', ')}`);
  });
});

describe('decompress on arbitrary and malformed input', () => {
  const finiteVectors = fc.float32Array({ noNaN: true, noDefaultInfinity: true, maxLength: 700 });

  it('returns d finite values for arbitrary finite inputs, every kind (property)', () => {
    fc.assert(
      fc.property(finiteVectors, fc.constantFrom(...KINDS), fc.boolean(), fc.integer(), (x, config, stochastic, seed) => {
        const y = decompress(new UpdateCompressor(config).compress(x, stochastic ? new Rng(seed) : undefined), { expectedLength: x.length });
        return y.length === x.length && y.every(Number.isFinite);
      }),
      { numRuns: 300 },
    );
  });

  function valid(config: CompressionConfig, d = 600): Uint8Array {
    return new UpdateCompressor(config).compress(randomVector(d, 17));
  }

  it.each([
    ['empty', new Uint8Array(0)],
    ['truncated header', valid({ kind: 'none' }).subarray(0, 10)],
    ['truncated body', valid({ kind: 'q8' }).subarray(0, 100)],
    ['truncated indices', valid({ kind: 'topk', fraction: 0.1 }).slice(0, -1)],
    ['trailing bytes', Uint8Array.from([...valid({ kind: 'topk-q8', fraction: 0.1 }), 0])],
  ])('rejects %s with COMPRESSION_CORRUPT', (_name, bytes) => {
    expect(codeOf(() => decompress(bytes))).toBe('COMPRESSION_CORRUPT');
  });

  it.each([
    ['bad magic', 0, 0x00],
    ['unknown version', 2, 9],
    ['unknown kind', 3, 4],
    ['reserved byte set', 5, 1],
    ['flags on a dense kind', 4, 1],
    ['d beyond the limit', 11, 0xff],
  ])('rejects a header with %s', (_name, offset, value) => {
    const bytes = valid({ kind: 'none' });
    bytes[offset] = value;
    expect(codeOf(() => decompress(bytes))).toBe('COMPRESSION_CORRUPT');
  });

  it('rejects non-finite values, out-of-range scales and codes, indices out of range or not ascending', () => {
    const dense = valid({ kind: 'none' });
    new DataView(dense.buffer).setFloat32(16, Number.NaN, true);
    expect(codeOf(() => decompress(dense))).toBe('COMPRESSION_CORRUPT');
    const q8 = valid({ kind: 'q8' });
    new DataView(q8.buffer).setFloat32(16, 3e38, true);
    expect(codeOf(() => decompress(q8))).toBe('COMPRESSION_CORRUPT');
    const code = valid({ kind: 'q8' });
    code[16 + 4 * 3] = 0x80;
    expect(codeOf(() => decompress(code))).toBe('COMPRESSION_CORRUPT');
    const sparse = valid({ kind: 'topk', fraction: 0.5 }, 20);
    expect(sparse[4]).toBe(0);
    sparse[sparse.length - 1] = 0x7f;
    expect(codeOf(() => decompress(sparse))).toBe('COMPRESSION_CORRUPT');
    const wrongLength = valid({ kind: 'none' });
    expect(codeOf(() => decompress(wrongLength, { expectedLength: 599 }))).toBe('COMPRESSION_CORRUPT');
  });

  it('rejects uint32 indices that are not ascending', () => {
    const y = new Float32Array(300);
    for (let i = 0; i < 300; i += 2) y[i] = 1 + i;
    const bytes = new UpdateCompressor({ kind: 'topk', fraction: 0.5 }).compress(y);
    // 150 scattered indices with gap 1 take one varint byte each: flip to uint32 by hand.
    const k = 150;
    const header = bytes.slice(0, 16 + 4 * k);
    header[4] = 1;
    const indices = new Uint8Array(4 * k);
    const view = new DataView(indices.buffer);
    for (let j = 0; j < k; j++) view.setUint32(4 * j, 2 * j, true);
    const ok = Uint8Array.from([...header, ...indices]);
    expect(decompress(ok)).toEqual(decompress(bytes));
    view.setUint32(4 * 5, 2, true);
    expect(codeOf(() => decompress(Uint8Array.from([...header, ...indices])))).toBe('COMPRESSION_CORRUPT');
  });

  // Truncation, appended bytes and byte overwrites anywhere: decompress returns d finite values or
  // throws COMPRESSION_CORRUPT, never a RangeError from reading out of bounds or anything else.
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ op: fc.constant('overwrite' as const), writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }) }),
  );

  type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

  function mutate(bytes: Uint8Array, m: Mutation, protectD: boolean): Uint8Array {
    if (m.op === 'truncate') return bytes.slice(0, m.at % bytes.length);
    if (m.op === 'append') return Uint8Array.from([...bytes, ...m.extra]);
    const out = bytes.slice();
    for (const [at, value] of m.writes) {
      const i = at % out.length;
      if (!(protectD && i >= 8 && i < 12)) out[i] = value;
    }
    return out;
  }

  function acceptsOrCorrupt(bytes: Uint8Array, d: number, expectedLength?: number): boolean {
    try {
      const y = decompress(bytes, { expectedLength });
      return y.length === d && y.every(Number.isFinite);
    } catch (error) {
      return error instanceof CipherNexusError && error.code === 'COMPRESSION_CORRUPT';
    }
  }

  it('never throws anything but COMPRESSION_CORRUPT on truncated or flipped bytes (property)', () => {
    fc.assert(
      fc.property(fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength: 400 }), fc.constantFrom(...KINDS), mutation, (x, config, m) => {
        const bytes = new UpdateCompressor(config).compress(x, new Rng(x.length));
        return acceptsOrCorrupt(mutate(bytes, m, false), x.length, x.length) && acceptsOrCorrupt(mutate(bytes, m, true), x.length);
      }),
      { numRuns: 1000 },
    );
  });
});
