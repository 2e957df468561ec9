import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DataSchema } from './data-schema.js';
import { schemaHash } from './data-schema.js';
import { contentHash, readCsvTable, type DataTable, type ReadTableOptions } from './data-table.js';

/**
 * A data asset's quality report, computed by the owner's agent on its own node at listing. It holds
 * aggregates only (counts, fractions, per-column medians and spreads, the label's class counts),
 * never a row or a column's values, so it can be published beside the asset.
 */

/** Report format version; a verifier refuses any other. */
export const QUALITY_REPORT_VERSION = 1;

/**
 * Iglewicz and Hoaglin (1993, "How to Detect and Handle Outliers", ch. 3): modified z-score
 * M = 0.6745 (x - median) / MAD; |M| > 3.5 marks a potential outlier. 0.6745 is the 0.75 quantile
 * of the standard normal, so 0.6745/MAD estimates 1/sigma for normal data.
 */
export const MODIFIED_Z_THRESHOLD = 3.5;
const MAD_CONSISTENCY = 0.6745;
// When more than half the values equal the median, MAD is 0; the mean absolute deviation times
// sqrt(pi/2) (its ratio to sigma for normal data) stands in, as IBM SPSS Modeler's modified z does.
const MEAN_AD_CONSISTENCY = Math.sqrt(Math.PI / 2);

const fraction = z.number().min(0).max(1);
const count = z.number().int().nonnegative();
const hash = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256)');

/** How a data set departs from its schema. */
export const SchemaProblemCodeSchema = z.enum(['NO_ROWS', 'COLUMN_MISSING', 'COLUMN_UNDECLARED', 'COLUMN_DUPLICATE', 'LABEL_COLUMN_MISSING', 'TYPE_MISMATCH', 'ROWS_RAGGED']);

/** One way the data departs from its schema; counts only, never the offending cells. */
export const SchemaProblemSchema = z
  .object({ code: SchemaProblemCodeSchema, column: z.string().optional(), count: count.optional(), message: z.string() })
  .strict();

/** Robust centre and spread of a numeric column, and how many values lie far from them. */
export const RobustSpreadSchema = z
  .object({
    median: z.number(),
    mad: z.number().nonnegative(),
    /** What the modified z divides by: MAD, the mean absolute deviation when MAD is 0, or nothing when every value is equal. */
    scale: z.enum(['mad', 'meanAbsoluteDeviation', 'constant']),
    /** Values with |modified z| > 3.5. */
    outliers: count,
  })
  .strict();

/** Per-column figures. */
export const ColumnQualitySchema = z
  .object({
    name: z.string(),
    type: z.enum(['numeric', 'categorical']),
    missing: count,
    missingFraction: fraction,
    /** Distinct non-missing values (after normalisation). */
    distinct: count,
    /** Non-missing cells of a numeric column that are not numbers. */
    notNumeric: count.optional(),
    /** For numeric columns with at least one number. */
    spread: RobustSpreadSchema.optional(),
  })
  .strict();

/** How the label's classes are balanced. */
export const LabelBalanceSchema = z
  .object({
    column: z.string(),
    /** Rows with a label (not missing). */
    labelled: count,
    /** Class counts, numeric labels in numeric order, then text labels in code-unit order. */
    classes: z.array(z.object({ label: z.string(), count: count }).strict()),
    majorityClass: z.string(),
    majorityFraction: fraction,
    /** Largest class count over smallest; 1 is balanced. */
    imbalanceRatio: z.number().min(1),
    /** Shannon entropy of the class distribution over ln(number of classes); 1 is balanced, 0 for a single class. */
    normalisedEntropy: fraction,
  })
  .strict();

/** A data asset's quality report. */
export const QualityReportSchema = z
  .object({
    version: z.literal(QUALITY_REPORT_VERSION),
    /** sha256 of the table's canonical CSV bytes (data-table.ts). */
    contentHash: hash,
    /** sha256 of the schema's canonical JSON (data-schema.ts). */
    schemaHash: hash,
    rowCount: count,
    /** True when `problems` is empty. */
    schemaValid: z.boolean(),
    problems: z.array(SchemaProblemSchema),
    columns: z.array(ColumnQualitySchema),
    /** Absent when the label column is missing or every label is. */
    labelBalance: LabelBalanceSchema.optional(),
    /** Rows equal to an earlier row after normalisation: rows minus distinct rows. */
    duplicateRows: count,
    duplicateFraction: fraction,
    /** Accuracy of always predicting the majority class, over labelled rows: what a model must beat. */
    baselineAccuracy: fraction.optional(),
  })
  .strict();

/** A data asset's quality report. */
export type QualityReport = z.output<typeof QualityReportSchema>;
/** One way the data departs from its schema. */
export type SchemaProblem = z.output<typeof SchemaProblemSchema>;
/** Per-column figures of a quality report. */
export type ColumnQuality = z.output<typeof ColumnQualitySchema>;
/** Robust centre and spread of a numeric column. */
export type RobustSpread = z.output<typeof RobustSpreadSchema>;
/** How the label's classes are balanced. */
export type LabelBalance = z.output<typeof LabelBalanceSchema>;

// Number() reads '' and blanks as 0, so those are not numbers here.
function numberOf(cell: string): number {
  return cell === '' ? NaN : Number(cell);
}

/** A cell as compared for duplicates and counted for distinct values: trimmed, numbers in one spelling ('1.0' is '1'), missing as null. */
function normalisedCell(cell: string | undefined, type: 'numeric' | 'categorical' | undefined, missing: ReadonlySet<string>): string | null {
  if (cell === undefined) return null;
  const text = cell.trim();
  if (missing.has(text)) return null;
  if (type === 'numeric') {
    const v = numberOf(text);
    if (Number.isFinite(v)) return String(v);
  }
  return text;
}

function median(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median, MAD and the count of |modified z| > 3.5 (Iglewicz and Hoaglin 1993) of a column's numbers. */
export function robustSpread(values: Float64Array): RobustSpread {
  const sorted = Float64Array.from(values).sort();
  const m = median(sorted);
  const deviations = sorted.map((v) => Math.abs(v - m)).sort();
  const mad = median(deviations);
  let scale: RobustSpread['scale'] = 'mad';
  let divisor = mad / MAD_CONSISTENCY;
  if (mad === 0) {
    const meanAd = deviations.reduce((s, d) => s + d, 0) / deviations.length;
    scale = meanAd > 0 ? 'meanAbsoluteDeviation' : 'constant';
    divisor = MEAN_AD_CONSISTENCY * meanAd;
  }
  let outliers = 0;
  // A constant column has no spread to stand out from: nothing in it is an outlier.
  if (divisor > 0) for (const d of deviations) if (d / divisor > MODIFIED_Z_THRESHOLD) outliers++;
  return { median: m, mad, scale, outliers };
}

function compareLabels(a: string, b: string): number {
  const x = numberOf(a);
  const y = numberOf(b);
  const xn = Number.isFinite(x);
  const yn = Number.isFinite(y);
  if (xn && yn && x !== y) return x - y;
  if (xn !== yn) return xn ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Class counts, majority fraction, imbalance ratio and normalised entropy of a label column's values. */
export function labelBalance(column: string, labels: readonly (string | null)[]): LabelBalance | undefined {
  const counts = new Map<string, number>();
  for (const label of labels) if (label !== null) counts.set(label, (counts.get(label) ?? 0) + 1);
  if (counts.size === 0) return undefined;
  const classes = [...counts].map(([label, n]) => ({ label, count: n })).sort((a, b) => compareLabels(a.label, b.label));
  const labelled = classes.reduce((s, c) => s + c.count, 0);
  // Ties go to the first class in label order, so the report does not depend on row order.
  const majority = classes.reduce((best, c) => (c.count > best.count ? c : best));
  const smallest = Math.min(...classes.map((c) => c.count));
  let entropy = 0;
  for (const c of classes) {
    const p = c.count / labelled;
    entropy -= p * Math.log(p);
  }
  const normalisedEntropy = classes.length > 1 ? Math.min(1, entropy / Math.log(classes.length)) : 0;
  return {
    column,
    labelled,
    classes,
    majorityClass: majority.label,
    majorityFraction: majority.count / labelled,
    imbalanceRatio: majority.count / smallest,
    normalisedEntropy,
  };
}

function schemaProblems(table: DataTable, schema: DataSchema): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  if (table.rows.length === 0) problems.push({ code: 'NO_ROWS', message: 'the table has no data rows; list a file with data' });
  const present = new Set<string>();
  for (const name of table.columns) {
    if (present.has(name)) problems.push({ code: 'COLUMN_DUPLICATE', column: name, message: `the header names column '${name}' more than once; give each column one name` });
    present.add(name);
  }
  const declared = new Set(schema.columns.map((c) => c.name));
  for (const { name } of schema.columns) {
    if (present.has(name)) continue;
    if (name === schema.label) {
      problems.push({ code: 'LABEL_COLUMN_MISSING', column: name, message: `the label column '${name}' is not in the table; add it or name the table's label column in the schema` });
    } else {
      problems.push({ code: 'COLUMN_MISSING', column: name, message: `declared column '${name}' is not in the table; add it or remove it from the schema` });
    }
  }
  for (const name of present) {
    if (!declared.has(name)) problems.push({ code: 'COLUMN_UNDECLARED', column: name, message: `column '${name}' is in the table but not in the schema; declare it or remove it` });
  }
  const ragged = table.rows.filter((row) => row.length !== table.columns.length).length;
  if (ragged > 0) {
    problems.push({
      code: 'ROWS_RAGGED',
      count: ragged,
      message: `${ragged} row(s) do not have ${table.columns.length} cells; their missing cells count as missing values: fix or remove those rows`,
    });
  }
  return problems;
}

/** The quality report of a table against its declared schema: schema validity, missing values, label balance, duplicates, outliers and baseline. */
export function assessQuality(table: DataTable, schema: DataSchema): QualityReport {
  const missing = new Set(schema.missingMarkers);
  const problems = schemaProblems(table, schema);
  const typeOf = new Map(schema.columns.map((c) => [c.name, c.type]));
  const columnTypes = table.columns.map((name) => typeOf.get(name));
  const rowCount = table.rows.length;
  const normalised = table.rows.map((row) => {
    const width = Math.max(row.length, table.columns.length);
    return Array.from({ length: width }, (_, j) => normalisedCell(row[j], columnTypes[j], missing));
  });

  const columns: ColumnQuality[] = [];
  let labels: (string | null)[] | undefined;
  for (const { name, type } of schema.columns) {
    const j = table.columns.indexOf(name);
    if (j === -1) continue;
    const cells = normalised.map((row) => row[j]);
    if (name === schema.label) labels = cells;
    const present = cells.filter((c): c is string => c !== null);
    const column: ColumnQuality = { name, type, missing: rowCount - present.length, missingFraction: rowCount === 0 ? 0 : (rowCount - present.length) / rowCount, distinct: new Set(present).size };
    if (type === 'numeric') {
      const numbers = present.map(numberOf).filter(Number.isFinite);
      column.notNumeric = present.length - numbers.length;
      if (column.notNumeric > 0) {
        problems.push({
          code: 'TYPE_MISMATCH',
          column: name,
          count: column.notNumeric,
          message: `column '${name}' is declared numeric but ${column.notNumeric} cell(s) are not numbers; fix them, declare the column categorical, or list their spelling in missingMarkers`,
        });
      }
      if (numbers.length > 0) column.spread = robustSpread(Float64Array.from(numbers));
    }
    columns.push(column);
  }

  // Rows are compared by a digest of their normalised cells, so memory grows with rows, not row width.
  const distinct = new Set(normalised.map((row) => createHash('sha256').update(JSON.stringify(row)).digest('base64')));
  const duplicateRows = rowCount - distinct.size;
  const balance = labels ? labelBalance(schema.label, labels) : undefined;
  return {
    version: QUALITY_REPORT_VERSION,
    contentHash: contentHash(table),
    schemaHash: schemaHash(schema),
    rowCount,
    schemaValid: problems.length === 0,
    problems,
    columns,
    // Absent rather than undefined, so the canonical JSON that is signed has no undefined member.
    ...(balance ? { labelBalance: balance, baselineAccuracy: balance.majorityFraction } : {}),
    duplicateRows,
    duplicateFraction: rowCount === 0 ? 0 : duplicateRows / rowCount,
  };
}

/** Reads a delimited file on this node and computes its quality report; only the report is meant to leave the node. */
export async function qualityReportFromCsv(path: string, schema: DataSchema, options: ReadTableOptions = {}): Promise<QualityReport> {
  return assessQuality(await readCsvTable(path, schema, options), schema);
}
