import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitCsvRows } from './csv-rows.js';
import { InvalidInputError } from './errors.js';

/** The refusal of `text` as code, line and message. */
function refusalOf(text: string): { code: string; line: unknown; message: string } {
  try {
    splitCsvRows(text, ',', 'data.csv');
  } catch (error) {
    const { code, details, message } = error as InvalidInputError;
    return { code, line: (details as { line?: unknown }).line, message };
  }
  throw new Error('the text was read without a refusal');
}

describe('splitCsvRows', () => {
  it('reads quoted cells holding the delimiter, doubled quotes and line breaks, numbering each row by the line it starts on', () => {
    const text = 'name,note\n"Smith, J","said ""hi"""\r\n\n"two\nlines",x\nlast, "spaced" \n';
    expect(splitCsvRows(text)).toEqual([
      { cells: ['name', 'note'], line: 1 },
      { cells: ['Smith, J', 'said "hi"'], line: 2 },
      { cells: ['two\nlines', 'x'], line: 4 },
      { cells: ['last', 'spaced'], line: 6 },
    ]);
  });

  it('keeps a row of one quoted empty cell and skips blank lines, quoted or not', () => {
    expect(splitCsvRows('a\n""\n  \n\r\nb')).toEqual([
      { cells: ['a'], line: 1 },
      { cells: [''], line: 2 },
      { cells: ['b'], line: 5 },
    ]);
  });

  it('refuses quoting it cannot read, naming the file and the line, instead of reading the row another way', () => {
    expect(refusalOf('a,b\n1,"open\n2,3\n')).toEqual({ code: 'DATA_QUOTE_INVALID', line: 2, message: expect.stringMatching(/^data\.csv:2 opens a quoted cell that is never closed/) });
    expect(refusalOf('a,b\n1,"x"y\n')).toEqual({ code: 'DATA_QUOTE_INVALID', line: 2, message: expect.stringMatching(/^data\.csv:2 has 'y' after the closing quote/) });
    expect(refusalOf('a,b\n"x\ny",1\n5",2\n')).toEqual({ code: 'DATA_QUOTE_INVALID', line: 4, message: expect.stringMatching(/^data\.csv:4 has a quote inside the unquoted cell '5'/) });
  });

  it('refuses a delimiter that cannot separate cells', () => {
    for (const delimiter of ['', '"', '\n', '\r']) expect(() => splitCsvRows('a', delimiter)).toThrow(expect.objectContaining({ code: 'DATA_DELIMITER_INVALID' }));
  });

  const delimiterArb = fc.constantFrom(',', ';', '\t', '|');
  const cellArb = fc.oneof(fc.string({ maxLength: 8 }), fc.stringMatching(/^[ a-z0-9,;|"\t\r\n.-]{0,8}$/));

  it('property: any table written with RFC 4180 quoting reads back cell for cell, each row at the line it starts on', () => {
    fc.assert(
      fc.property(fc.array(fc.array(cellArb, { minLength: 1, maxLength: 5 }), { maxLength: 6 }), delimiterArb, fc.constantFrom('\n', '\r\n'), fc.boolean(), (table, delimiter, eol, quoteAll) => {
        const quote = (cell: string): string => `"${cell.replaceAll('"', '""')}"`;
        const needsQuotes = (cell: string, row: string[]): boolean => quoteAll || /["\r\n]/.test(cell) || cell.includes(delimiter) || (row.length === 1 && cell.trim() === '');
        const lines = table.map((row) => row.map((cell) => (needsQuotes(cell, row) ? quote(cell) : cell)).join(delimiter));
        const starts: number[] = [];
        let line = 1;
        for (const written of lines) {
          starts.push(line);
          line += 1 + (written.match(/\n/g) ?? []).length;
        }
        expect(splitCsvRows(lines.join(eol), delimiter)).toEqual(table.map((cells, r) => ({ cells, line: starts[r] })));
      }),
    );
  });

  it('property: text without quotes reads the same whether or not a quoted row follows it (both ways of reading agree)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[ a-z0-9,\t\r\n]{0,60}$/), delimiterArb, (text, delimiter) => {
        const plain = splitCsvRows(text, delimiter);
        const lines = text.split('\n').length;
        expect(splitCsvRows(`${text}\n"q"`, delimiter)).toEqual([...plain, { cells: ['q'], line: lines + 1 }]);
      }),
    );
  });

  it('property: any text is rows or DATA_QUOTE_INVALID, never another error', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[ a-z,"\r\n]{0,40}$/), (text) => {
        try {
          for (const row of splitCsvRows(text)) expect(row.cells.length).toBeGreaterThan(0);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError);
          expect((error as InvalidInputError).code).toBe('DATA_QUOTE_INVALID');
        }
      }),
    );
  });
});
