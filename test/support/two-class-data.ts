import { writeFileSync } from 'node:fs';
import { Rng } from '../../src/core/index.js';

/**
 * A two-class CSV, 'no' for about 60% of the rows: the first two of four features are shifted by
 * ±`signal` with the class, so with signal 0 nothing in the features tells the classes apart. Returns
 * the labels in row order.
 */
export function writeTwoClassCsv(path: string, rows: number, seed: number, signal: number): string[] {
  const rng = new Rng(seed);
  const labels: string[] = [];
  const lines = ['x1,x2,x3,x4,label'];
  for (let i = 0; i < rows; i++) {
    const label = rng.next() < 0.6 ? 'no' : 'yes';
    const shift = (label === 'no' ? -0.8 : 0.8) * signal;
    const xs = [0, 1, 2, 3].map((j) => (j < 2 ? shift : 0) + (rng.next() * 2 - 1) * 1.5);
    lines.push(`${xs.map((x) => x.toFixed(4)).join(',')},${label}`);
    labels.push(label);
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return labels;
}
