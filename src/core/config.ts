import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { InvalidInputError } from './errors.js';

/** Context that lets `formatZodIssue` name what was being checked, the offending value and what was expected. */
export interface ZodIssueContext {
  /** What the value is, as the user knows it: 'config', 'node', 'task'. Default 'input'. */
  what?: string;
  /** The value that was parsed, to quote the offending part of it. */
  input?: unknown;
  /** The schema it was parsed with, to describe the expectation in full ("a positive integer"). */
  schema?: z.ZodTypeAny;
}

/** Options of `parseWithSchema`. */
export interface ParseOptions {
  /** Error code on failure; defaults to `<WHAT>_INVALID`, e.g. `CONFIG_INVALID`. */
  code?: string;
  /** Where the value came from (a file path), appended to the message. */
  source?: string;
}

const MAX_QUOTED = 40;

/** A field path as a user would write it: `server.tls.cert`, `clients[2].id`. */
function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? key : `${text}.${key}`),
    '',
  );
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const quoted = value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}...` : value;
    return `'${quoted}'`;
  }
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function valueAt(input: unknown, path: readonly (string | number)[]): { found: boolean; value?: unknown } {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !(key in current)) return { found: false };
    current = (current as Record<string | number, unknown>)[key];
  }
  return { found: true, value: current };
}

/** Strips wrappers that do not change what a valid value looks like. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap();
    else if (current instanceof z.ZodDefault || current instanceof z.ZodCatch || current instanceof z.ZodReadonly) {
      current = current._def.innerType;
    } else if (current instanceof z.ZodEffects) current = current.innerType();
    else if (current instanceof z.ZodBranded) current = current.unwrap();
    else if (current instanceof z.ZodPipeline) current = current._def.in;
    else if (current instanceof z.ZodLazy) current = current.schema;
    else return current;
  }
}

function schemaAt(schema: z.ZodTypeAny, path: readonly (string | number)[]): z.ZodTypeAny | undefined {
  let current: z.ZodTypeAny | undefined = unwrap(schema);
  for (const key of path) {
    if (current instanceof z.ZodObject) current = (current.shape as Record<string, z.ZodTypeAny>)[key];
    else if (current instanceof z.ZodArray) current = current.element;
    else if (current instanceof z.ZodRecord || current instanceof z.ZodMap) current = current._def.valueType;
    else if (current instanceof z.ZodTuple && typeof key === 'number') current = current.items[key];
    else return undefined;
    if (current === undefined) return undefined;
    current = unwrap(current);
  }
  return current;
}

function withArticle(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

function describeNumber(schema: z.ZodNumber): string {
  const checks = schema._def.checks;
  const noun = checks.some((c) => c.kind === 'int') ? 'integer' : 'number';
  const min = checks.find((c): c is Extract<typeof c, { kind: 'min' }> => c.kind === 'min');
  const max = checks.find((c): c is Extract<typeof c, { kind: 'max' }> => c.kind === 'max');
  const multiple = checks.find((c): c is Extract<typeof c, { kind: 'multipleOf' }> => c.kind === 'multipleOf');
  let text: string;
  const positive = min && ((min.value === 0 && !min.inclusive) || (noun === 'integer' && min.value === 1 && min.inclusive));
  if (!max && positive) text = `a positive ${noun}`;
  else if (!max && min?.value === 0 && min.inclusive) text = `a non-negative ${noun}`;
  else if (min && max && min.inclusive && max.inclusive) text = `${withArticle(noun)} from ${min.value} to ${max.value}`;
  else {
    const bounds = [
      min && `${min.inclusive ? '>=' : '>'} ${min.value}`,
      max && `${max.inclusive ? '<=' : '<'} ${max.value}`,
    ].filter((b): b is string => Boolean(b));
    text = [withArticle(noun), bounds.join(' and ')].filter(Boolean).join(' ');
  }
  return multiple ? `${text} that is a multiple of ${multiple.value}` : text;
}

function describeString(schema: z.ZodString): string {
  const checks = schema._def.checks;
  for (const check of checks) {
    if (check.kind === 'regex') return `a string matching ${check.regex}`;
    if (check.kind === 'email') return 'an email address';
    if (check.kind === 'url') return 'a URL';
    if (check.kind === 'uuid') return 'a UUID';
  }
  const min = checks.find((c): c is Extract<typeof c, { kind: 'min' }> => c.kind === 'min');
  const max = checks.find((c): c is Extract<typeof c, { kind: 'max' }> => c.kind === 'max');
  if (min && max) return `a string of ${min.value} to ${max.value} characters`;
  if (min?.value === 1) return 'a non-empty string';
  if (min) return `a string of at least ${min.value} characters`;
  if (max) return `a string of at most ${max.value} characters`;
  return 'a string';
}

function describeSchema(schema: z.ZodTypeAny): string | undefined {
  if (schema instanceof z.ZodNumber) return describeNumber(schema);
  if (schema instanceof z.ZodString) return describeString(schema);
  if (schema instanceof z.ZodBoolean) return 'true or false';
  if (schema instanceof z.ZodEnum) return `one of ${(schema.options as string[]).map((o) => `'${o}'`).join(', ')}`;
  if (schema instanceof z.ZodLiteral) return JSON.stringify(schema.value);
  if (schema instanceof z.ZodUnion) {
    const parts = (schema.options as z.ZodTypeAny[]).map((option) => describeSchema(unwrap(option)));
    return parts.every((p): p is string => p !== undefined) ? parts.join(' or ') : undefined;
  }
  if (schema instanceof z.ZodArray) {
    const min = schema._def.minLength?.value;
    const max = schema._def.maxLength?.value;
    if (min !== undefined && max !== undefined) return `a list of ${min} to ${max} items`;
    if (min !== undefined) return `a list of at least ${min} item${min === 1 ? '' : 's'}`;
    if (max !== undefined) return `a list of at most ${max} items`;
    return 'a list';
  }
  if (schema instanceof z.ZodObject || schema instanceof z.ZodRecord) return 'an object';
  return undefined;
}

const TYPE_NAMES: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  null: 'null',
};

/** What the issue itself says was expected, for when no schema is at hand. */
function describeIssue(issue: z.ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_NAMES[issue.expected] ?? issue.expected;
    case 'invalid_enum_value':
      return `one of ${issue.options.map((o) => `'${String(o)}'`).join(', ')}`;
    case 'invalid_literal':
      return JSON.stringify(issue.expected);
    case 'too_small':
    case 'too_big': {
      const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      if (issue.type === 'string') return `a string with length ${op} ${bound}`;
      if (issue.type === 'array' || issue.type === 'set') return `a list with ${op} ${bound} items`;
      return `a value ${op} ${bound}`;
    }
    case 'not_multiple_of':
      return `a multiple of ${String(issue.multipleOf)}`;
    case 'not_finite':
      return 'a finite number';
    case 'invalid_string':
      return typeof issue.validation === 'string' ? `a valid ${issue.validation}` : 'a valid string';
    default:
      return 'a valid value';
  }
}

/**
 * One line telling the user which field failed, what it should be and what it was, e.g.
 * `config field 'rounds': expected a positive integer, got -3`.
 */
export function formatZodIssue(issue: z.ZodIssue, context: ZodIssueContext = {}): string {
  const what = context.what ?? 'input';
  const path = formatPath(issue.path);
  const subject = path === '' ? what : `${what} field '${path}'`;
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `'${k}'`).join(', ');
    return `${subject} has unknown field${issue.keys.length === 1 ? '' : 's'} ${keys}; remove ${issue.keys.length === 1 ? 'it' : 'them'} or check the spelling`;
  }
  if (issue.code === 'custom') return `${subject}: ${issue.message}`;
  const schema = context.schema && schemaAt(context.schema, issue.path);
  const expected = (schema && describeSchema(schema)) ?? describeIssue(issue);
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return `${subject} is missing: expected ${expected}`;
  const actual = valueAt(context.input, issue.path);
  if (actual.found) return `${subject}: expected ${expected}, got ${formatValue(actual.value)}`;
  if (issue.code === 'invalid_type') return `${subject}: expected ${expected}, got ${issue.received}`;
  return `${subject}: expected ${expected}`;
}

/** Validates `value` against `schema`, throwing an InvalidInputError whose message is one line about the first bad field. */
export function parseWithSchema<T>(
  value: unknown,
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  what: string,
  options: ParseOptions = {},
): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const line = formatZodIssue(issue, { what, input: value, schema });
  const code = options.code ?? `${what.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_INVALID`;
  throw new InvalidInputError(code, options.source ? `${line} (in ${options.source})` : line, {
    field: formatPath(issue.path),
    issues: result.error.issues,
  });
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const position = /at position (\d+)/.exec(message);
    const reason = message.replace(/\s*in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '');
    const where = position ? lineAndColumn(text, Number(position[1])) : undefined;
    const at = where ? ` at line ${where.line}, column ${where.column}` : '';
    throw new InvalidInputError('CONFIG_PARSE', `config file '${path}' is not valid JSON${at}: ${reason}; fix the syntax and retry`, {
      path,
      ...where,
    });
  }
}

function parseYaml(text: string, path: string): unknown {
  try {
    return YAML.parse(text);
  } catch (error) {
    if (!(error instanceof YAML.YAMLError)) throw error;
    const where = error.linePos?.[0];
    const reason = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    const at = where ? ` at line ${where.line}, column ${where.col}` : '';
    throw new InvalidInputError('CONFIG_PARSE', `config file '${path}' is not valid YAML${at}: ${reason}; fix the syntax and retry`, {
      path,
      line: where?.line,
      column: where?.col,
    });
  }
}

/** Reads a `.json`, `.yaml` or `.yml` file and validates it against `schema`. */
export function loadConfigFile<T>(path: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>): T {
  const extension = extname(path).toLowerCase();
  if (!['.json', '.yaml', '.yml'].includes(extension)) {
    throw new InvalidInputError(
      'CONFIG_FORMAT',
      `config file '${path}' has extension '${extension || '(none)'}'; use a .json, .yaml or .yml file`,
      { path },
    );
  }
  let text: string;
  try {
    // A byte-order mark is invisible in editors but not valid JSON.
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new InvalidInputError('CONFIG_NOT_FOUND', `config file '${path}' does not exist; check the path`, { path });
    }
    throw new InvalidInputError('CONFIG_UNREADABLE', `config file '${path}' cannot be read (${code ?? 'unknown error'}); check that it is a readable file`, {
      path,
    });
  }
  const value = extension === '.json' ? parseJson(text, path) : parseYaml(text, path);
  return parseWithSchema(value, schema, 'config', { code: 'CONFIG_INVALID', source: path });
}
