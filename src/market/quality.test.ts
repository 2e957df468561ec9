import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDataSchema, schemaHash, type DataSchemaInput } from './data-schema.js';
import { contentHash, parseCsvTable, type DataTable } from './data-table.js';
import { MODIFIED_Z_THRESHOLD, QualityReportSchema, assessQuality, qualityReportFromCsv, type QualityReport } from './quality.js';

const OPTDIGITS = 'data/optdigits/optdigits.tra';
const optdigitsSchema = parseDataSchema({
  columns: [...Array.from({ length: 64 }, (_, i) => ({ name: `p${i}`, type: 'numeric' as const })), { name: 'digit', type: 'categorical' as const }],
  label: 'digit',
});

const dir = mkdtempSync(join(tmpdir(), 'cn-quality-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function table(text: string, schema: DataSchemaInput): { report: QualityReport; table: DataTable } {
  const parsed = parseDataSchema(schema);
  const t = parseCsvTable(text, parsed);
  return { report: assessQuality(t, parsed), table: t };
}

const column = (report: QualityReport, name: string) => report.columns.find((c) => c.name === name);

/** Every array of primitives in a JSON value: the shape a leaked column or row would take. */
function primitiveArrays(value: unknown): unknown[][] {
  if (Array.isArray(value)) return value.some((v) => v === null || typeof v !== 'object') ? [value] : value.flatMap(primitiveArrays);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(primitiveArrays);
  return [];
}

describe('assessQuality on optdigits', async () => {
  const raw = readFileSync(OPTDIGITS);
  const lines = raw.toString('utf8').split('\n').filter((l) => l !== '');
  const report = await qualityReportFromCsv(OPTDIGITS, optdigitsSchema);

  it('counts the rows and the classes of the raw file', () => {
    const counts = new Map<string, number>();
    for (const line of lines) {
      const label = line.slice(line.lastIndexOf(',') + 1);
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
    expect(report.rowCount).toBe(lines.length);
    expect(report.schemaValid).toBe(true);
    expect(report.problems).toEqual([]);
    const balance = report.labelBalance!;
    expect(balance.labelled).toBe(lines.length);
    expect(Object.fromEntries(balance.classes.map((c) => [c.label, c.count]))).toEqual(Object.fromEntries(counts));
    const largest = Math.max(...counts.values());
    expect(report.baselineAccuracy).toBe(largest / lines.length);
    expect(balance.majorityFraction).toBe(report.baselineAccuracy);
    expect(balance.imbalanceRatio).toBeCloseTo(largest / Math.min(...counts.values()), 12);
  });

  it('hashes the file as it is, since the file is already canonical CSV, and the schema as canonical JSON', () => {
    expect(report.contentHash).toBe(createHash('sha256').update(raw).digest('hex'));
    const keys = (value: unknown): unknown =>
      Array.isArray(value) ? value.map(keys) : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, keys(v)])) : value;
    expect(report.schemaHash).toBe(createHash('sha256').update(JSON.stringify(keys(optdigitsSchema))).digest('hex'));
  });

  it('counts duplicate rows as rows minus distinct lines', () => {
    expect(report.duplicateRows).toBe(lines.length - new Set(lines).size);
  });

  it('finds the constant corner pixel and reports it with no outliers', () => {
    const p0 = lines.map((l) => l.split(',')[0]);
    expect(new Set(p0).size).toBe(1);
    expect(column(report, 'p0')?.spread).toMatchObject({ mad: 0, scale: 'constant', outliers: 0 });
  });

  it('holds aggregates only: no row, no column of values, a bounded size', () => {
    const json = JSON.stringify(report);
    for (const line of lines) expect(json.includes(line)).toBe(false);
    // Each row's first eight cells as they would appear if copied out as a list.
    for (const line of lines.slice(0, 200)) expect(json.includes(line.split(',').slice(0, 8).join(','))).toBe(false);
    expect(primitiveArrays(report)).toEqual([]);
    expect(QualityReportSchema.parse(JSON.parse(json))).toEqual(report);
    // 65 columns of figures and 10 classes: far smaller than the 3823 rows it summarises.
    expect(json.length).toBeLessThan(raw.length / 20);
  });
});

describe('assessQuality on made tables', () => {
  const schema: DataSchemaInput = {
    columns: [
      { name: 'x', type: 'numeric' },
      { name: 'city', type: 'categorical' },
      { name: 'y', type: 'categorical' },
    ],
    label: 'y',
  };

  it('counts missing values per column, in every spelling the schema names', () => {
    const { report } = table('x,city,y\n1,,a\n?,paris,b\nNA,NaN,a\n4,rome,\n', schema);
    expect(column(report, 'x')).toMatchObject({ missing: 2, missingFraction: 0.5, notNumeric: 0 });
    expect(column(report, 'city')).toMatchObject({ missing: 2, missingFraction: 0.5, distinct: 2 });
    expect(column(report, 'y')).toMatchObject({ missing: 1, missingFraction: 0.25 });
    expect(report.labelBalance?.labelled).toBe(3);
    expect(report.schemaValid).toBe(true);
  });

  it('compares rows after normalising spaces and number spellings', () => {
    const { report } = table('x,city,y\n1,paris,a\n1.0, paris ,a\n1e0,paris,a\n2,paris,a\n2,Paris,a\n', schema);
    expect(report.duplicateRows).toBe(2);
    expect(report.duplicateFraction).toBe(2 / 5);
  });

  it('flags one far value by its modified z-score and reports the median and MAD', () => {
    const xs = [10, 11, 12, 11, 10, 12, 11, 13, 9, 100];
    const { report } = table(`x,city,y\n${xs.map((x) => `${x},c,a`).join('\n')}\n`, schema);
    const sorted = [...xs].sort((a, b) => a - b);
    const med = (v: number[]) => (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2);
    const m = med(sorted);
    const mad = med(xs.map((x) => Math.abs(x - m)).sort((a, b) => a - b));
    const z = xs.map((x) => (0.6745 * (x - m)) / mad);
    expect(z.filter((v) => Math.abs(v) > MODIFIED_Z_THRESHOLD)).toHaveLength(1);
    expect(column(report, 'x')?.spread).toEqual({ median: m, mad, scale: 'mad', outliers: 1 });
  });

  it('handles a MAD of 0: an all-equal column has no outliers; a mostly-equal one falls back to the mean absolute deviation', () => {
    const equal = table(`x,city,y\n${Array.from({ length: 8 }, () => '7,c,a').join('\n')}\n`, schema).report;
    expect(column(equal, 'x')?.spread).toEqual({ median: 7, mad: 0, scale: 'constant', outliers: 0 });
    expect(equal.duplicateRows).toBe(7);
    const spike = table(`x,city,y\n${[5, 5, 5, 5, 5, 5, 5, 5, 5, 100].map((x) => `${x},c,a`).join('\n')}\n`, schema).report;
    // (100 - 5) / (sqrt(pi/2) * 95/10) is about 7.98.
    expect(column(spike, 'x')?.spread).toEqual({ median: 5, mad: 0, scale: 'meanAbsoluteDeviation', outliers: 1 });
  });

  it('reports a missing label column as a schema problem, with no balance or baseline', () => {
    const { report } = table('x,city\n1,a\n2,b\n', schema);
    expect(report.schemaValid).toBe(false);
    expect(report.problems.map((p) => p.code)).toEqual(['LABEL_COLUMN_MISSING']);
    expect(report.problems[0].column).toBe('y');
    expect(report.labelBalance).toBeUndefined();
    expect(report.baselineAccuracy).toBeUndefined();
    expect(QualityReportSchema.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
  });

  it('lists type mismatches, undeclared and missing columns and ragged rows, by count and never by value', () => {
    const { report } = table('x,extra,y\n1,q,a\nsecret-value,q,b\n3,q\n', schema);
    expect(report.problems.map((p) => [p.code, p.column ?? '', p.count ?? 0])).toEqual([
      ['COLUMN_MISSING', 'city', 0],
      ['COLUMN_UNDECLARED', 'extra', 0],
      ['ROWS_RAGGED', '', 1],
      ['TYPE_MISMATCH', 'x', 1],
    ]);
    expect(column(report, 'y')?.missing).toBe(1);
    expect(JSON.stringify(report)).not.toContain('secret-value');
  });

  it('never publishes a categorical column’s values', () => {
    const names = Array.from({ length: 20 }, (_, i) => `person-${i}-${(i * 7919).toString(36)}`);
    const { report } = table(`x,city,y\n${names.map((n, i) => `${i},${n},${i % 2 ? 'a' : 'b'}`).join('\n')}\n`, schema);
    const json = JSON.stringify(report);
    for (const n of names) expect(json).not.toContain(n);
    expect(column(report, 'city')?.distinct).toBe(20);
  });

  it('measures balance: majority fraction, imbalance ratio and normalised entropy', () => {
    const { report } = table('x,city,y\n1,c,a\n2,c,a\n3,c,a\n4,c,b\n', schema);
    const h = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)) / Math.log(2);
    expect(report.labelBalance).toMatchObject({ majorityClass: 'a', majorityFraction: 0.75, imbalanceRatio: 3 });
    expect(report.labelBalance?.normalisedEntropy).toBeCloseTo(h, 12);
    expect(report.baselineAccuracy).toBe(0.75);
  });

  it('reads a header in any line ending and spacing as the same content, and a headerless file by position', () => {
    const lf = table('x,city,y\n1,"a,b",a\n2,c,b\n', schema);
    const crlf = table('x , city , y\r\n1, "a,b" ,a\r\n\r\n2,c,b\r\n', schema);
    expect(crlf.table.hasHeader).toBe(true);
    expect(crlf.report).toEqual(lf.report);
    const headless = table('1,c,a\n2,c,b\n', schema);
    expect(headless.table).toEqual({ columns: ['x', 'city', 'y'], rows: [['1', 'c', 'a'], ['2', 'c', 'b']], hasHeader: false });
    expect(headless.report.contentHash).toBe(createHash('sha256').update('1,c,a\n2,c,b\n').digest('hex'));
    expect(headless.report.contentHash).not.toBe(lf.report.contentHash);
  });

  it('reports an empty table as having no rows', () => {
    const { report } = table('', schema);
    expect(report.rowCount).toBe(0);
    expect(report.problems.map((p) => p.code)).toEqual(['NO_ROWS']);
  });

  it('refuses a schema whose label is not a declared column, and a file that does not exist', async () => {
    expect(() => parseDataSchema({ columns: [{ name: 'x', type: 'numeric' }], label: 'y' })).toThrow(expect.objectContaining({ code: 'DATA_SCHEMA_INVALID' }));
    await expect(qualityReportFromCsv(join(dir, 'absent.csv'), optdigitsSchema)).rejects.toMatchObject({ code: 'DATA_NOT_FOUND' });
  });

  it('reads a file given by path', async () => {
    const path = write('small.csv', 'x,city,y\n1,c,a\n1,c,a\n');
    const report = await qualityReportFromCsv(path, parseDataSchema(schema));
    expect(report).toMatchObject({ rowCount: 2, duplicateRows: 1, contentHash: createHash('sha256').update(readFileSync(path)).digest('hex') });
    expect(report.schemaHash).toBe(schemaHash(parseDataSchema(schema)));
  });
});

describe('assessQuality properties', () => {
  const schema = parseDataSchema({
    columns: [
      { name: 'a', type: 'numeric' },
      { name: 'b', type: 'categorical' },
      { name: 'label', type: 'categorical' },
    ],
    label: 'label',
  });
  // Small alphabets so duplicates, missing cells, ties and outliers all occur.
  const row = fc.tuple(fc.oneof(fc.constantFrom('', '0', '1', '2', '250'), fc.integer({ min: -5, max: 5 }).map(String)), fc.constantFrom('', 'u', 'v', 'w'), fc.constantFrom('', 'p', 'q', 'r'));
  const rowsAndPermutation = fc
    .array(row, { minLength: 0, maxLength: 40 })
    .chain((rows) => fc.tuple(fc.constant(rows), fc.shuffledSubarray(rows, { minLength: rows.length, maxLength: rows.length })));
  const tableOf = (rows: string[][]): DataTable => ({ columns: ['a', 'b', 'label'], rows, hasHeader: true });

  it('depends on row order only through the content hash', () => {
    fc.assert(
      fc.property(rowsAndPermutation, ([rows, shuffled]) => {
        const original = assessQuality(tableOf(rows), schema);
        const permuted = assessQuality(tableOf(shuffled), schema);
        const { contentHash: h1, ...rest1 } = original;
        const { contentHash: h2, ...rest2 } = permuted;
        expect(rest2).toEqual(rest1);
        expect(h1 === h2).toBe(JSON.stringify(rows) === JSON.stringify(shuffled));
      }),
      { numRuns: 200 },
    );
  });

  it('counts duplicates as rows minus distinct rows', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 60 }), (rows) => {
        const report = assessQuality(tableOf(rows), schema);
        expect(report.duplicateRows).toBe(rows.length - new Set(rows.map((r) => r.join('\u0001'))).size);
        expect(report.contentHash).toBe(contentHash(tableOf(rows)));
      }),
      { numRuns: 200 },
    );
  });
});
