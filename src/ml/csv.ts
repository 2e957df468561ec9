import { readDataText, splitCsvRows, type CsvRow } from '../core/csv-rows.js';
import { InvalidInputError } from '../core/errors.js';
import { shapeSize, type Dataset } from './dataset.js';

/** Per-feature minimum and maximum, computed on a training file and reused on its test file. */
export interface MinMaxStats {
  min: Float32Array;
  max: Float32Array;
}

/** How feature values are rescaled after parsing. */
export type CsvScale = { kind: 'none' } | { kind: 'divide'; by: number } | { kind: 'minmax' };

/** A column by header name or by 0-based position. */
export type CsvColumn = string | number;

export interface LoadCsvOptions {
  labelColumn: CsvColumn;
  /** Feature columns in order; every column except the label by default. */
  features?: CsvColumn[];
  /** 'auto' (default) treats the first row as a header when it has text where the second row has numbers. */
  header?: boolean | 'auto';
  delimiter?: string;
  scale?: CsvScale;
  /** Min-max statistics of the training file; computed on this file when absent. */
  stats?: MinMaxStats;
  /** Label names in class order; by default numeric labels are used as-is and text labels are sorted. */
  labels?: string[];
  /** Overrides max(label) + 1 or labels.length, e.g. when a test file lacks the last class. */
  numClasses?: number;
  featureShape?: number[];
}

export interface LoadCsvResult {
  dataset: Dataset;
  /** Column names (from the header, or "0", "1", … without one). */
  columns: string[];
  /** Label names in class order when labels were text; pass them as `labels` when loading the test file. */
  labels?: string[];
  /** The min-max statistics applied, when scale.kind is 'minmax'. */
  stats?: MinMaxStats;
}

/** Loads a numeric CSV file as a classification dataset. */
export async function loadCsvDataset(path: string, options: LoadCsvOptions): Promise<LoadCsvResult> {
  const text = await readDataText(path);
  return parseCsvDataset(text, options, path);
}

/** Parses CSV text as a classification dataset; `source` names the text in error messages. */
export function parseCsvDataset(text: string, options: LoadCsvOptions, source = '<csv>'): LoadCsvResult {
  const delimiter = options.delimiter ?? ',';
  const rows = splitCsvRows(text, delimiter, source);
  if (rows.length === 0) throw new InvalidInputError('DATA_EMPTY', `data file '${source}' has no rows`, { path: source });

  const hasHeader = options.header === 'auto' || options.header === undefined ? looksLikeHeader(rows) : options.header;
  const width = rows[0].cells.length;
  const columns = hasHeader ? rows[0].cells.map((c) => c.trim()) : Array.from({ length: width }, (_, i) => String(i));
  const body = hasHeader ? rows.slice(1) : rows;
  if (body.length === 0) throw new InvalidInputError('DATA_EMPTY', `data file '${source}' has a header but no data rows`, { path: source });

  const labelIndex = resolveColumn(options.labelColumn, columns, hasHeader);
  const featureIndices = options.features
    ? options.features.map((c) => resolveColumn(c, columns, hasHeader))
    : columns.map((_, i) => i).filter((i) => i !== labelIndex);
  if (featureIndices.length === 0) throw new InvalidInputError('DATA_COLUMN_UNKNOWN', `data file '${source}' has no feature columns`);

  const numFeatures = featureIndices.length;
  const features = new Float32Array(body.length * numFeatures);
  const rawLabels: string[] = new Array<string>(body.length);
  for (let r = 0; r < body.length; r++) {
    const { cells, line } = body[r];
    if (cells.length !== width) {
      throw new InvalidInputError(
        'DATA_ROW_RAGGED',
        `${source}:${line} has ${cells.length} columns but the first row has ${width}; fix or remove the row`,
        { path: source, line, columns: cells.length, expected: width },
      );
    }
    for (let j = 0; j < numFeatures; j++) {
      const cell = cells[featureIndices[j]];
      const v = parseNumber(cell);
      if (Number.isNaN(v)) {
        throw new InvalidInputError(
          'DATA_VALUE_INVALID',
          `${source}:${line} column '${columns[featureIndices[j]]}' holds '${cell}', which is not a finite number`,
          { path: source, line, column: columns[featureIndices[j]], value: cell },
        );
      }
      features[r * numFeatures + j] = v;
    }
    rawLabels[r] = cells[labelIndex].trim();
  }

  const { labels, labelNames, numClasses } = encodeLabels(rawLabels, body, options, source, columns[labelIndex]);
  const stats = applyScale(features, numFeatures, options.scale ?? { kind: 'none' }, options.stats);
  const featureShape = options.featureShape ?? [numFeatures];
  if (shapeSize(featureShape) !== numFeatures) {
    throw new InvalidInputError(
      'DATA_SHAPE_INVALID',
      `featureShape [${featureShape.join(', ')}] holds ${shapeSize(featureShape)} values but ${source} has ${numFeatures} feature columns`,
    );
  }
  const dataset: Dataset = { features, labels, numExamples: body.length, numFeatures, numClasses, featureShape: [...featureShape] };
  return { dataset, columns, labels: labelNames, stats };
}

// Number() accepts '' and whitespace as 0, so those are rejected explicitly.
function parseNumber(cell: string): number {
  if (cell.trim() === '') return NaN;
  const v = Number(cell);
  return Number.isFinite(v) ? v : NaN;
}

function looksLikeHeader(rows: CsvRow[]): boolean {
  const first = rows[0].cells;
  if (rows.length === 1) return first.every((c) => Number.isNaN(parseNumber(c)));
  const second = rows[1].cells;
  return first.some((c, i) => Number.isNaN(parseNumber(c)) && i < second.length && !Number.isNaN(parseNumber(second[i])));
}

function resolveColumn(column: CsvColumn, columns: string[], hasHeader: boolean): number {
  const index = typeof column === 'number' ? (Number.isInteger(column) && column >= 0 && column < columns.length ? column : -1) : columns.indexOf(column);
  if (index === -1) {
    const hint = typeof column === 'string' && !hasHeader ? ' (the file has no header: name columns by position or set header: true)' : '';
    throw new InvalidInputError(
      'DATA_COLUMN_UNKNOWN',
      `column '${column}' does not exist${hint}; available columns: ${columns.join(', ')}`,
      { column, available: columns },
    );
  }
  return index;
}

function encodeLabels(
  raw: string[],
  rows: CsvRow[],
  options: LoadCsvOptions,
  source: string,
  labelColumn: string,
): { labels: Int32Array; labelNames?: string[]; numClasses: number } {
  const labels = new Int32Array(raw.length);
  const invalid = (r: number, why: string): never => {
    throw new InvalidInputError('DATA_VALUE_INVALID', `${source}:${rows[r].line} label column '${labelColumn}' holds '${raw[r]}', ${why}`, {
      path: source,
      line: rows[r].line,
      column: labelColumn,
      value: raw[r],
    });
  };
  let labelNames = options.labels;
  if (!labelNames && raw.some((v) => !isClassIndex(v))) labelNames = [...new Set(raw)].sort();
  if (labelNames) {
    const index = new Map(labelNames.map((name, i) => [name, i]));
    for (let r = 0; r < raw.length; r++) labels[r] = index.get(raw[r]) ?? invalid(r, `which is not one of the labels ${labelNames.join(', ')}`);
  } else {
    for (let r = 0; r < raw.length; r++) labels[r] = Number(raw[r]);
  }
  let maxLabel = -1;
  for (const y of labels) if (y > maxLabel) maxLabel = y;
  const numClasses = options.numClasses ?? (labelNames ? labelNames.length : maxLabel + 1);
  for (let r = 0; r < raw.length; r++) if (labels[r] >= numClasses) invalid(r, `outside the ${numClasses} classes`);
  return { labels, labelNames, numClasses };
}

function isClassIndex(v: string): boolean {
  const n = parseNumber(v);
  return Number.isInteger(n) && n >= 0 && n <= 0x7fffffff;
}

function applyScale(features: Float32Array, numFeatures: number, scale: CsvScale, given?: MinMaxStats): MinMaxStats | undefined {
  if (scale.kind === 'none') return undefined;
  if (scale.kind === 'divide') {
    if (!(scale.by !== 0 && Number.isFinite(scale.by))) throw new InvalidInputError('DATA_SCALE_INVALID', `cannot divide features by ${scale.by}`);
    for (let i = 0; i < features.length; i++) features[i] /= scale.by;
    return undefined;
  }
  const stats = given ?? minMax(features, numFeatures);
  if (stats.min.length !== numFeatures || stats.max.length !== numFeatures) {
    throw new InvalidInputError('DATA_SCALE_INVALID', `min-max stats cover ${stats.min.length} features but the file has ${numFeatures}`);
  }
  for (let i = 0; i < features.length; i++) {
    const j = i % numFeatures;
    const range = stats.max[j] - stats.min[j];
    // A constant column carries no information; mapping it to 0 avoids dividing by zero.
    features[i] = range > 0 ? (features[i] - stats.min[j]) / range : 0;
  }
  return stats;
}

function minMax(features: Float32Array, numFeatures: number): MinMaxStats {
  const min = new Float32Array(numFeatures).fill(Infinity);
  const max = new Float32Array(numFeatures).fill(-Infinity);
  for (let i = 0; i < features.length; i++) {
    const j = i % numFeatures;
    if (features[i] < min[j]) min[j] = features[i];
    if (features[i] > max[j]) max[j] = features[i];
  }
  return { min, max };
}
