import { readFile } from 'node:fs/promises';
import { InvalidInputError } from './errors.js';

/** One non-blank line of a delimited text file, split into cells. */
export interface CsvRow {
  cells: string[];
  /** 1-based line number in the file, for error messages. */
  line: number;
}

/**
 * The rows of delimited text split into cells, RFC 4180: a cell in double quotes may hold the delimiter, line breaks and
 * doubled quotes (""), and spaces around its quotes are ignored; a blank line is no row; cells are not trimmed.
 * Quoting that cannot be read (a quote left open, text after a closing quote, a quote inside an unquoted cell) is
 * `DATA_QUOTE_INVALID`, naming `source` and the line, instead of a row read some other way than the file meant.
 */
export function splitCsvRows(text: string, delimiter = ',', source = '<csv>'): CsvRow[] {
  if (delimiter === '' || /["\r\n]/.test(delimiter)) {
    throw new InvalidInputError('DATA_DELIMITER_INVALID', `the delimiter ${JSON.stringify(delimiter)} cannot separate cells; give a character other than a quote or a line break`, { delimiter });
  }
  return text.includes('"') ? splitQuotedRows(text, delimiter, source) : splitPlainRows(text, delimiter);
}

// Numeric tables rarely quote anything: without a quote in the text, lines are rows.
function splitPlainRows(text: string, delimiter: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    let s = text.slice(start, end);
    if (s.endsWith('\r')) s = s.slice(0, -1);
    // A line of whitespace is blank, but not one that holds a delimiter (a tab, say): that is a row of empty cells.
    if (s.trim() !== '' || s.includes(delimiter)) rows.push({ cells: s.split(delimiter), line });
    start = end + 1;
  }
  return rows;
}

function splitQuotedRows(text: string, delimiter: string, source: string): CsvRow[] {
  const rows: CsvRow[] = [];
  const refuse = (line: number, problem: string): never => {
    throw new InvalidInputError('DATA_QUOTE_INVALID', `${source}:${line} ${problem}; quote a whole cell and double any quote inside it ("a ""b""", RFC 4180)`, { path: source, line });
  };
  // A line ends at \n, at \r\n, or at a \r that ends the text, as in splitPlainRows.
  const lineBreakAt = (i: number): number => (text[i] === '\n' ? 1 : text[i] === '\r' && (i + 1 === text.length || text[i + 1] === '\n') ? (i + 1 === text.length ? 1 : 2) : 0);
  let line = 1;
  let rowLine = 1;
  let cells: string[] = [];
  let cell = '';
  let quotedRow = false;
  let i = 0;
  const endRow = (): void => {
    cells.push(cell);
    if (quotedRow || cells.length > 1 || cell.trim() !== '') rows.push({ cells, line: rowLine });
    cells = [];
    cell = '';
    quotedRow = false;
  };
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      if (cell.trim() !== '') refuse(line, `has a quote inside the unquoted cell '${cell.slice(0, 40)}'`);
      const opened = line;
      cell = '';
      quotedRow = true;
      for (i++; ; i++) {
        if (i >= text.length) refuse(opened, 'opens a quoted cell that is never closed');
        if (text[i] === '"') {
          if (text[i + 1] !== '"') break;
          i++;
        } else if (text[i] === '\n') line++;
        cell += text[i];
      }
      for (i++; (text[i] === ' ' || text[i] === '\t') && !text.startsWith(delimiter, i); ) i++;
      if (i < text.length && !text.startsWith(delimiter, i) && lineBreakAt(i) === 0) refuse(line, `has '${text.slice(i, i + 20).split(/[\r\n]/)[0]}' after the closing quote of a cell`);
      continue;
    }
    if (text.startsWith(delimiter, i)) {
      cells.push(cell);
      cell = '';
      i += delimiter.length;
      continue;
    }
    const lineBreak = lineBreakAt(i);
    if (lineBreak > 0) {
      endRow();
      i += lineBreak;
      rowLine = ++line;
      continue;
    }
    cell += ch;
    i++;
  }
  if (cells.length > 0 || cell !== '' || quotedRow) endRow();
  return rows;
}

/** A data file's text; a missing file is `DATA_NOT_FOUND`, one clear line. */
export async function readDataText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InvalidInputError('DATA_NOT_FOUND', `data file '${path}' does not exist; check the path`, { path });
    }
    throw err;
  }
}
