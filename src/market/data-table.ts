import { createHash } from 'node:crypto';
import { readDataText, splitCsvRows } from '../core/index.js';
import type { DataSchema } from './data-schema.js';

/**
 * A data asset's table as cell texts, read on the owner's node. Nothing in this module leaves that
 * node except the content hash, which names the table without revealing it.
 */

/** A table of cell texts. */
export interface DataTable {
  /** Column names: the file's header, or the schema's names by position when it has none. */
  columns: string[];
  /** Data rows; a row whose length differs from `columns` is ragged and reported as such. */
  rows: string[][];
  /** Whether the file's first line named the columns; a header is part of the content hash. */
  hasHeader: boolean;
}

/** How a delimited file is read. */
export interface ReadTableOptions {
  /** 'auto' (default): the first line is a header when it holds every declared name, or text above a number in the line below. */
  header?: boolean | 'auto';
  /** Cell separator, default ','. */
  delimiter?: string;
}

/** Reads delimited text as a table of the schema's columns; `source` names the text in error messages. */
export function parseCsvTable(text: string, schema: DataSchema, options: ReadTableOptions = {}, source = '<csv>'): DataTable {
  const lines = splitCsvRows(text, options.delimiter ?? ',', source).map((row) => row.cells.map((cell) => cell.trim()));
  const hasHeader = options.header === undefined || options.header === 'auto' ? looksLikeHeader(lines, schema) : options.header && lines.length > 0;
  const rows = hasHeader ? lines.slice(1) : lines;
  if (hasHeader) return { columns: lines[0], rows, hasHeader };
  const width = lines.length > 0 ? lines[0].length : schema.columns.length;
  // Columns beyond the declared ones get a name that says where they are, so the report can point at them.
  const columns = Array.from({ length: width }, (_, i) => schema.columns[i]?.name ?? `column ${i + 1}`);
  return { columns, rows, hasHeader };
}

/** Reads a delimited file on this node as a table of the schema's columns. */
export async function readCsvTable(path: string, schema: DataSchema, options: ReadTableOptions = {}): Promise<DataTable> {
  const text = await readDataText(path);
  return parseCsvTable(text, schema, options, path);
}

function isNumber(cell: string): boolean {
  return cell !== '' && Number.isFinite(Number(cell));
}

function looksLikeHeader(lines: string[][], schema: DataSchema): boolean {
  if (lines.length === 0) return false;
  const first = lines[0];
  const names = new Set(first);
  if (schema.columns.every((c) => names.has(c.name))) return true;
  if (lines.length === 1) return false;
  const second = lines[1];
  return first.some((cell, i) => !isNumber(cell) && i < second.length && isNumber(second[i]));
}

// RFC 4180 quoting, only where a cell needs it, so a plain numeric file is its own canonical form.
function canonicalCell(cell: string): string {
  const text = cell.trim();
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function canonicalLine(cells: readonly string[]): string {
  // A lone empty cell would be a blank line, which readers skip; quoting keeps the row.
  if (cells.length === 1 && cells[0].trim() === '') return '""';
  return cells.map(canonicalCell).join(',');
}

/**
 * The table as canonical CSV bytes: cells trimmed, comma-separated, quoted only when they hold a
 * comma, quote or line break, LF line ends, a final LF, the header line only when the file had one.
 * Line-ending, spacing, quoting and delimiter variants of one table share these bytes.
 */
export function canonicalCsv(table: DataTable): Uint8Array {
  const lines = (table.hasHeader ? [table.columns, ...table.rows] : table.rows).map(canonicalLine);
  return Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`, 'utf8');
}

/** sha256 (hex) of the table's canonical CSV bytes; for a file already canonical, the sha256 of the file. */
export function contentHash(table: DataTable): string {
  return createHash('sha256').update(canonicalCsv(table)).digest('hex');
}
