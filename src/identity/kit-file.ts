import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError, formatZodIssue } from '../core/index.js';

/** The JSON files of a provision directory: read with one clear error each, written whole or not at all. */

/** Reads `file` as JSON and checks it with `schema`; throws `KIT_NOT_FOUND` or `KIT_INVALID` naming `what`, the file and the first bad field, and ending with `hint`. */
export function readKitFile<T>(file: string, what: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, hint: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new InvalidInputError('KIT_NOT_FOUND', `${what} '${file}' ${reason}; ${hint}`, { file });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidInputError('KIT_INVALID', `${what} '${file}' is not JSON; ${hint}`, { file });
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const line = formatZodIssue(issue, { what, input: value, schema });
  throw new InvalidInputError('KIT_INVALID', `${line} (in '${file}'); ${hint}`, { file, field: issue.path.join('.') });
}

/** Writes `value` as JSON with `mode`, through a temporary file and a rename, so a reader sees the old file or the new one. */
export function writeKitFile(file: string, value: unknown, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  // A leftover temporary file would keep its own mode under 'w'; create afresh so `mode` applies.
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
