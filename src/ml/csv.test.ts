import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCsvDataset, parseCsvDataset } from './csv.js';

const dir = mkdtempSync(join(tmpdir(), 'cn-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('loadCsvDataset', () => {
  it('loads optdigits: 64 features then the class, no header', async () => {
    const { dataset } = await loadCsvDataset('data/optdigits/optdigits.tra', { labelColumn: 64, featureShape: [8, 8, 1] });
    expect(dataset.numExamples).toBe(3823);
    expect(dataset.numFeatures).toBe(64);
    expect(dataset.numClasses).toBe(10);
    expect(dataset.featureShape).toEqual([8, 8, 1]);
    expect(Array.from(dataset.features.subarray(0, 4))).toEqual([0, 1, 6, 15]);
    expect(dataset.labels[0]).toBe(0);
  });

  it('detects a header, selects named columns and maps text labels in sorted order', async () => {
    const path = write('iris.csv', 'a,b,c,species\r\n1,2,3,virginica\r\n4,5,6,setosa\r\n\r\n7,8,9,versicolor\r\n');
    const res = await loadCsvDataset(path, { labelColumn: 'species', features: ['c', 'a'] });
    expect(res.columns).toEqual(['a', 'b', 'c', 'species']);
    expect(res.labels).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(Array.from(res.dataset.labels)).toEqual([2, 0, 1]);
    expect(Array.from(res.dataset.features)).toEqual([3, 1, 6, 4, 9, 7]);
    const test = parseCsvDataset('a,b,c,species\n0,0,0,versicolor\n', { labelColumn: 'species', labels: res.labels });
    expect(test.dataset.numClasses).toBe(3);
    expect(Array.from(test.dataset.labels)).toEqual([1]);
  });

  it('handles quoted cells and other delimiters', () => {
    const res = parseCsvDataset('x;"label;name"\n1.5;"a ""b"""\n2;c\n', { labelColumn: 'label;name', delimiter: ';' });
    expect(res.labels).toEqual(['a "b"', 'c']);
    expect(Array.from(res.dataset.features)).toEqual([1.5, 2]);
  });

  it('reads a quoted label that spans lines, and refuses an unclosed quote naming the file and line, not as a ragged row', () => {
    const res = parseCsvDataset('x,label\n1,"first\nline"\n2,b\n', { labelColumn: 'label' });
    expect(res.labels).toEqual(['b', 'first\nline']);
    expect(Array.from(res.dataset.features)).toEqual([1, 2]);
    expect(() => parseCsvDataset('x,label\n1,"a\n2,b\n', { labelColumn: 'label' }, 'train.csv')).toThrow(
      expect.objectContaining({ code: 'DATA_QUOTE_INVALID', message: expect.stringMatching(/^train\.csv:2 opens a quoted cell that is never closed/) }),
    );
  });

  it('scales by division and by min-max, reusing training stats on the test file', () => {
    const div = parseCsvDataset('0,16,1\n8,4,0\n', { labelColumn: 2, scale: { kind: 'divide', by: 16 } });
    expect(Array.from(div.dataset.features)).toEqual([0, 1, 0.5, 0.25]);
    const train = parseCsvDataset('0,5,1\n10,5,0\n', { labelColumn: 2, scale: { kind: 'minmax' } });
    expect(Array.from(train.dataset.features)).toEqual([0, 0, 1, 0]);
    expect(Array.from(train.stats!.max)).toEqual([10, 5]);
    const test = parseCsvDataset('5,7,1\n', { labelColumn: 2, scale: { kind: 'minmax' }, stats: train.stats });
    expect(Array.from(test.dataset.features)).toEqual([0.5, 0]);
  });

  it('names the missing file', async () => {
    await expect(loadCsvDataset(join(dir, 'nope.csv'), { labelColumn: 0 })).rejects.toMatchObject({
      code: 'DATA_NOT_FOUND',
      message: expect.stringContaining('nope.csv'),
    });
  });

  it('names an unknown column and lists the available ones', () => {
    expect(() => parseCsvDataset('x,y,label\n1,2,0\n', { labelColumn: 'class' })).toThrow(
      expect.objectContaining({ code: 'DATA_COLUMN_UNKNOWN', message: expect.stringMatching(/'class'.*x, y, label/) }),
    );
    expect(() => parseCsvDataset('1,2,0\n', { labelColumn: 3 })).toThrow(expect.objectContaining({ code: 'DATA_COLUMN_UNKNOWN' }));
  });

  it('names file, line and column of a non-numeric value', async () => {
    const path = write('bad.csv', 'x,y,label\n1,2,0\n3,oops,1\n');
    await expect(loadCsvDataset(path, { labelColumn: 'label' })).rejects.toMatchObject({
      code: 'DATA_VALUE_INVALID',
      message: expect.stringMatching(/bad\.csv:3 column 'y' holds 'oops'/),
    });
    expect(() => parseCsvDataset('1,,0\n', { labelColumn: 2, header: false })).toThrow(expect.objectContaining({ code: 'DATA_VALUE_INVALID' }));
  });

  it('refuses ragged rows and unknown labels', () => {
    expect(() => parseCsvDataset('1,2,0\n3,1\n', { labelColumn: 2 })).toThrow(
      expect.objectContaining({ code: 'DATA_ROW_RAGGED', message: expect.stringContaining(':2 has 2 columns') }),
    );
    expect(() => parseCsvDataset('1,cat\n', { labelColumn: 1, labels: ['dog'] })).toThrow(expect.objectContaining({ code: 'DATA_VALUE_INVALID' }));
  });

  it('parses a generated numeric table back exactly', async () => {
    const cell = fc.float({ noNaN: true, noDefaultInfinity: true }).map((v) => (v === 0 ? 0 : v));
    const table = fc.integer({ min: 1, max: 6 }).chain((cols) =>
      fc.array(fc.tuple(fc.array(cell, { minLength: cols, maxLength: cols }), fc.integer({ min: 0, max: 9 })), { minLength: 1, maxLength: 20 }),
    );
    await fc.assert(
      fc.asyncProperty(table, fc.boolean(), fc.constantFrom(',', ';', '\t'), async (rows, header, delimiter) => {
        const cols = rows[0][0].length;
        const lines = rows.map(([xs, y]) => [...xs.map(String), String(y)].join(delimiter));
        if (header) lines.unshift([...Array.from({ length: cols }, (_, i) => `f${i}`), 'label'].join(delimiter));
        const path = write('prop.csv', lines.join('\n') + '\n');
        const { dataset } = await loadCsvDataset(path, { labelColumn: cols, header, delimiter });
        expect(Array.from(dataset.features)).toEqual(rows.flatMap(([xs]) => xs));
        expect(Array.from(dataset.labels)).toEqual(rows.map(([, y]) => y));
      }),
      { numRuns: 200 },
    );
  });
});
