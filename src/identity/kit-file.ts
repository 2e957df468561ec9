import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError, formatZodIssue } from '../core/index.js';

/** The JSON files of a provision directory: read with one clear error each, written whole or not at all. */

/** A file as `readKitFileWithDigest` read it. */
export interface DigestedKitFile<T> {
  value: T;
  /** sha256 of the file's bytes, lowercase hex: what `sha256sum` prints, for comparing a file out of band. */
  sha256: string;
}

/**
 * Reads `file` as JSON and checks it with `schema`, returning it with the sha256 of the very bytes
 * parsed; throws `<codePrefix>_NOT_FOUND` or `<codePrefix>_INVALID` naming `what`, the file and the
 * first bad field, and ending with `hint`.
 */
export function readKitFileWithDigest<T>(file: string, what: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, hint: string, codePrefix = 'KIT'): DigestedKitFile<T> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new InvalidInputError(`${codePrefix}_NOT_FOUND`, `${what} '${file}' ${reason}; ${hint}`, { file });
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InvalidInputError(`${codePrefix}_INVALID`, `${what} '${file}' is not JSON; ${hint}`, { file });
  }
  const result = schema.safeParse(value);
  if (result.success) return { value: result.data, sha256: createHash('sha256').update(bytes).digest('hex') };
  const issue = result.error.issues[0];
  const line = formatZodIssue(issue, { what, input: value, schema });
  throw new InvalidInputError(`${codePrefix}_INVALID`, `${line} (in '${file}'); ${hint}`, { file, field: issue.path.join('.') });
}

/** Reads `file` as JSON and checks it with `schema`; throws as `readKitFileWithDigest` does. */
export function readKitFile<T>(file: string, what: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, hint: string, codePrefix = 'KIT'): T {
  return readKitFileWithDigest(file, what, schema, hint, codePrefix).value;
}

/**
 * Writes `value` as JSON with `mode`, through a temporary file and a rename, so a reader sees the old
 * file or the new one; returns the sha256 of the bytes written.
 */
export function writeKitFile(file: string, value: unknown, mode: number): string {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  const tmp = `${file}.${process.pid}.tmp`;
  // A leftover temporary file would keep its own mode under 'w'; create afresh so `mode` applies.
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return createHash('sha256').update(text).digest('hex');
}
