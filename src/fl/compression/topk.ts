import { corrupt } from './wire-format.js';

/** k = ⌈fraction·d⌉ (at least 1 when d > 0), the number of coordinates top-k keeps. */
export function topKCount(fraction: number, d: number): number {
  if (d === 0) return 0;
  // 0.07·100 is 7.000000000000001 in binary floating point; a relative slack keeps the ceiling at 7.
  return Math.min(d, Math.max(1, Math.ceil(fraction * d * (1 - 1e-12))));
}

function varintLength(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Bytes of the indices as LEB128 varints of the gaps i_j − i_(j−1) − 1 (i_(−1) = −1). */
export function varintIndexBytes(indices: Uint32Array): number {
  let n = 0;
  let prev = -1;
  for (let j = 0; j < indices.length; j++) {
    n += varintLength(indices[j] - prev - 1);
    prev = indices[j];
  }
  return n;
}

/** Writes the indices as LEB128 varints of their gaps (see {@link varintIndexBytes}). */
export function writeVarintIndices(bytes: Uint8Array, offset: number, indices: Uint32Array): void {
  let p = offset;
  let prev = -1;
  for (let j = 0; j < indices.length; j++) {
    let gap = indices[j] - prev - 1;
    prev = indices[j];
    while (gap >= 0x80) {
      bytes[p++] = (gap & 0x7f) | 0x80;
      gap >>>= 7;
    }
    bytes[p++] = gap;
  }
}

/** Reads k varint-coded ascending indices below d, which must end the message. */
export function readVarintIndices(bytes: Uint8Array, offset: number, k: number, d: number): Uint32Array {
  const out = new Uint32Array(k);
  let p = offset;
  let prev = -1;
  for (let j = 0; j < k; j++) {
    let gap = 0;
    for (let shift = 1, n = 0; ; shift *= 128, n++) {
      if (p >= bytes.length) throw corrupt(`index ${j} runs past the end of the message`);
      if (n === 5) throw corrupt(`index ${j} is longer than 5 varint bytes`);
      const b = bytes[p++];
      gap += (b & 0x7f) * shift;
      if (b < 0x80) break;
    }
    const index = prev + 1 + gap;
    if (index >= d) throw corrupt(`index ${j} (${index}) is not below d = ${d}`);
    out[j] = index;
    prev = index;
  }
  if (p !== bytes.length) throw corrupt(`${bytes.length - p} trailing bytes after the indices`);
  return out;
}

/** Reads k uint32 indices, strictly ascending and below d, which must end the message. */
export function readUint32Indices(view: DataView, offset: number, k: number, d: number): Uint32Array {
  if (view.byteLength !== offset + 4 * k) throw corrupt(`message has ${view.byteLength} bytes, the header implies ${offset + 4 * k}`);
  const out = new Uint32Array(k);
  let prev = -1;
  for (let j = 0; j < k; j++) {
    const index = view.getUint32(offset + 4 * j, true);
    if (index <= prev || index >= d) throw corrupt(`index ${j} (${index}) is not ascending and below d = ${d}`);
    out[j] = index;
    prev = index;
  }
  return out;
}

/**
 * Ascending indices of the k largest |x_i|, exactly k, ties going to the lower index. The k-th largest
 * magnitude is found in O(d) expected time by Floyd–Rivest selection (Floyd & Rivest 1975, Algorithm
 * 489: select from a random sample to narrow the range, then partition), not by sorting all d values.
 */
export function selectTopK(x: Float32Array, k: number): Uint32Array {
  const d = x.length;
  const out = new Uint32Array(k);
  if (k === d) {
    for (let i = 0; i < d; i++) out[i] = i;
    return out;
  }
  if (k === 0) return out;
  const magnitudes = new Float32Array(d);
  for (let i = 0; i < d; i++) magnitudes[i] = Math.abs(x[i]);
  floydRivest(magnitudes, d - k, 0, d - 1);
  const threshold = magnitudes[d - k];
  // Everything right of d − k is ≥ threshold; those strictly above are all taken, the rest are ties.
  let ties = k;
  for (let i = d - k + 1; i < d; i++) if (magnitudes[i] > threshold) ties--;
  let n = 0;
  for (let i = 0; n < k; i++) {
    const a = Math.abs(x[i]);
    if (a > threshold) out[n++] = i;
    else if (a === threshold && ties > 0) {
      out[n++] = i;
      ties--;
    }
  }
  return out;
}

/** Rearranges a[left..right] so that a[k] is its (k − left)-th smallest, smaller ones before, larger after. */
function floydRivest(a: Float32Array, k: number, left: number, right: number): void {
  while (right > left) {
    if (right - left > 600) {
      // Recurse on a sample-sized window expected to contain the k-th element (Floyd & Rivest 1975).
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m - n / 2 < 0 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (m * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - m) * s) / n + sd));
      floydRivest(a, k, newLeft, newRight);
    }
    const t = a[k];
    let i = left;
    let j = right;
    swap(a, left, k);
    if (a[right] > t) swap(a, left, right);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while (a[i] < t) i++;
      while (a[j] > t) j--;
    }
    if (a[left] === t) swap(a, left, j);
    else {
      j++;
      swap(a, j, right);
    }
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
