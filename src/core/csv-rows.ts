import { readFile } from 'node:fs/promises';
import { InvalidInputError } from './errors.js';

/** One non-blank line of a delimited text file, split into cells. */
export interface CsvRow {
  cells: string[];
  /** 1-based line number in the file, for error messages. */
  line: number;
}

/** The non-blank lines of delimited text split into cells, with RFC 4180 quoting; cells are not trimmed. */
export function splitCsvRows(text: string, delimiter = ','): CsvRow[] {
  const rows: CsvRow[] = [];
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    let s = text.slice(start, end);
    if (s.endsWith('\r')) s = s.slice(0, -1);
    if (s.trim() !== '') rows.push({ cells: s.includes('"') ? splitQuoted(s, delimiter) : s.split(delimiter), line });
    start = end + 1;
  }
  return rows;
}

// RFC 4180 quoting is rare in numeric tables, so it takes this slower path only when a quote appears.
function splitQuoted(s: string, delimiter: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quoted) {
      if (ch === '"' && s[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (s.startsWith(delimiter, i)) {
      cells.push(cell);
      cell = '';
      i += delimiter.length - 1;
    } else cell += ch;
  }
  cells.push(cell);
  return cells;
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
