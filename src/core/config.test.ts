import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatZodIssue, loadConfigFile, parseWithSchema } from './config.js';
import { InvalidInputError } from './errors.js';

const JobSchema = z
  .object({
    name: z.string().min(1),
    rounds: z.number().int().positive(),
    learningRate: z.number().gt(0).lte(1).default(0.1),
    strategy: z.enum(['fedavg', 'fedprox']),
    clients: z.array(z.object({ id: z.string(), weight: z.number().nonnegative() })).min(1),
    server: z.object({ port: z.number().int().min(1).max(65535) }).strict().optional(),
  })
  .strict();

const valid = { name: 'digits', rounds: 3, strategy: 'fedavg', clients: [{ id: 'a', weight: 1 }] };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function thrown(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected a throw');
}

describe('parseWithSchema', () => {
  it('returns the parsed value with defaults applied', () => {
    expect(parseWithSchema(valid, JobSchema, 'config')).toEqual({ ...valid, learningRate: 0.1 });
  });

  it.each([
    [{ rounds: -3 }, "config field 'rounds': expected a positive integer, got -3"],
    [{ rounds: 2.5 }, "config field 'rounds': expected a positive integer, got 2.5"],
    [{ rounds: 'three' }, "config field 'rounds': expected a positive integer, got 'three'"],
    [{ learningRate: 0 }, "config field 'learningRate': expected a number > 0 and <= 1, got 0"],
    [{ name: '' }, "config field 'name': expected a non-empty string, got ''"],
    [{ strategy: 'krum' }, "config field 'strategy': expected one of 'fedavg', 'fedprox', got 'krum'"],
    [{ clients: [] }, "config field 'clients': expected a list of at least 1 item, got a list of 0 items"],
    [{ clients: [{ id: 'a', weight: -1 }] }, "config field 'clients[0].weight': expected a non-negative number, got -1"],
    [{ server: { port: 70000 } }, "config field 'server.port': expected an integer from 1 to 65535, got 70000"],
    [{ server: { port: 80, hots: 'x' } }, "config field 'server' has unknown field 'hots'; remove it or check the spelling"],
    [{ rounds: undefined }, "config field 'rounds' is missing: expected a positive integer"],
  ])('explains %j in one line', (patch, message) => {
    const error = thrown(() => parseWithSchema({ ...valid, ...patch }, JobSchema, 'config'));
    expect(error.message).toBe(message);
    expect(error.message).not.toContain('\n');
    expect(error.code).toBe('CONFIG_INVALID');
  });

  it('names the root when the value is not an object at all', () => {
    expect(thrown(() => parseWithSchema([1, 2], JobSchema, 'config')).message).toBe(
      'config: expected an object, got a list of 2 items',
    );
  });

  it('derives the error code from what was parsed, unless told otherwise', () => {
    const schema = z.object({ id: z.string().min(1) });
    expect(thrown(() => parseWithSchema({ id: '' }, schema, 'node')).code).toBe('NODE_INVALID');
    expect(thrown(() => parseWithSchema({ id: '' }, schema, 'node', { code: 'X' })).code).toBe('X');
    expect(thrown(() => parseWithSchema({ id: '' }, schema, 'task spec')).code).toBe('TASK_SPEC_INVALID');
  });

  it('uses a refinement message as written', () => {
    const schema = z.object({ a: z.number(), b: z.number() }).refine((v) => v.a < v.b, { message: 'a must be below b', path: ['a'] });
    expect(thrown(() => parseWithSchema({ a: 2, b: 1 }, schema, 'range')).message).toBe("range field 'a': a must be below b");
  });
});

describe('formatZodIssue', () => {
  it('describes an issue from the issue alone when no schema or input is given', () => {
    const result = z.object({ n: z.number().min(5) }).safeParse({ n: 1 });
    expect(result.success).toBe(false);
    if (!result.success) expect(formatZodIssue(result.error.issues[0])).toBe("input field 'n': expected a value >= 5");
  });
});

describe('loadConfigFile', () => {
  it('reads JSON, YAML and YML by extension', () => {
    const json = write('job.json', JSON.stringify(valid));
    const yaml = write('job.yaml', 'name: digits\nrounds: 3\nstrategy: fedavg\nclients:\n  - id: a\n    weight: 1\n');
    const yml = write('job.YML', 'name: digits\nrounds: 3\nstrategy: fedavg\nclients: [{id: a, weight: 1}]\n');
    const expected = { ...valid, learningRate: 0.1 };
    expect(loadConfigFile(json, JobSchema)).toEqual(expected);
    expect(loadConfigFile(yaml, JobSchema)).toEqual(expected);
    expect(loadConfigFile(yml, JobSchema)).toEqual(expected);
  });

  it('accepts a JSON file that starts with a byte-order mark', () => {
    expect(loadConfigFile(write('bom.json', `\uFEFF${JSON.stringify(valid)}`), JobSchema).rounds).toBe(3);
  });

  it('refuses other extensions with CONFIG_FORMAT', () => {
    const error = thrown(() => loadConfigFile(write('job.toml', 'rounds = 3'), JobSchema));
    expect(error.code).toBe('CONFIG_FORMAT');
    expect(error.message).toContain('.toml');
  });

  it('reports a missing file with CONFIG_NOT_FOUND and its path', () => {
    const path = join(dir, 'absent.yaml');
    const error = thrown(() => loadConfigFile(path, JobSchema));
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.message).toContain(path);
  });

  it('reports a directory as CONFIG_UNREADABLE', () => {
    mkdirSync(join(dir, 'folder.json'));
    expect(thrown(() => loadConfigFile(join(dir, 'folder.json'), JobSchema)).code).toBe('CONFIG_UNREADABLE');
  });

  it('reports JSON syntax errors with line and column', () => {
    const error = thrown(() => loadConfigFile(write('bad.json', '{\n  "name": "x",\n  "rounds": 3\n  "strategy": "fedavg"\n}'), JobSchema));
    expect(error.code).toBe('CONFIG_PARSE');
    expect(error.message).toMatch(/at line 4, column 3/);
    expect(error.message).not.toContain('\n');
  });

  it('reports YAML syntax errors with line and column', () => {
    const error = thrown(() => loadConfigFile(write('bad.yaml', 'name: x\nrounds: 3\nclients: [a, b\n'), JobSchema));
    expect(error.code).toBe('CONFIG_PARSE');
    expect(error.message).toMatch(/at line \d+, column \d+/);
    expect(error.details).toMatchObject({ line: expect.any(Number), column: expect.any(Number) });
    expect(error.message).not.toContain('\n');
  });

  it('reports schema failures with CONFIG_INVALID, naming the field and the file', () => {
    const path = write('neg.yaml', 'name: digits\nrounds: -3\nstrategy: fedavg\nclients: [{id: a, weight: 1}]\n');
    const error = thrown(() => loadConfigFile(path, JobSchema));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(`config field 'rounds': expected a positive integer, got -3 (in ${path})`);
    expect(error.details).toMatchObject({ field: 'rounds' });
  });

  it('reports an empty YAML file as a schema failure at the root', () => {
    expect(thrown(() => loadConfigFile(write('empty.yml', ''), JobSchema)).message).toMatch(/^config: expected an object, got null/);
  });
});
