import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditTrail, InvalidInputError } from '../core/index.js';
import { registerAuditCommands } from './audit-command.js';
import { EXIT_FAILURE, EXIT_USAGE } from './output.js';
import { runInProcess, type CliOutcome } from '../../test/support/cli-in-process.js';

let dir: string;
let file: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-audit-cli-'));
  file = join(dir, 'audit.jsonl');
  const trail = await AuditTrail.open(file);
  for (let round = 1; round <= 4; round++) await trail.append('round.finalized', 'coordinator', { round });
  await trail.close();
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the command as the CLI would: its stdout, stderr and exit code. */
function cli(args: string[]): Promise<CliOutcome> {
  const program = new Command('cipher-nexus').exitOverride();
  registerAuditCommands(program);
  return runInProcess(program, args);
}

const lines = (): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);

describe('audit verify', () => {
  it('exits 0 for an intact trail, as text and as JSON', async () => {
    const text = await cli(['audit', 'verify', file]);
    expect(text).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^audit trail '${file}' is intact: 4 entries, head [0-9a-f]{64}\\n$`)), stderr: '' });
    const json = await cli(['audit', 'verify', file, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, entries: 4, head: JSON.parse(lines()[3]).hash });
  });

  it('exits 1 at a tampered entry and names it and the reason', async () => {
    const stored = lines();
    writeFileSync(file, [stored[0], stored[2], stored[1], stored[3], ''].join('\n'));
    const text = await cli(['audit', 'verify', file]);
    expect(text).toEqual({
      code: EXIT_FAILURE,
      stdout: '',
      stderr: `error [AUDIT_TAMPERED]: audit trail '${file}' fails at entry 2: entry 2 is missing (found 3 in its place): entries were deleted or reordered; the 1 entry before it is intact, keep the file as evidence\n`,
    });
    const json = await cli(['audit', 'verify', '--json', file]);
    expect(json.code).toBe(EXIT_FAILURE);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, entries: 1, firstBadSeq: 2, reason: expect.stringContaining('entry 2 is missing') });
    writeFileSync(file, stored.map((l, i) => (i === 3 ? l.replace('"round":4', '"round":5') : l)).join('\n') + '\n');
    expect((await cli(['audit', 'verify', file])).stderr).toContain('fails at entry 4: entry 4 was edited');
  });

  it('exits 2 for a file that is missing or not a file, or no file at all', async () => {
    const missing = await cli(['audit', 'verify', join(dir, 'nope.jsonl')]);
    expect(missing).toEqual({ code: EXIT_USAGE, stdout: '', stderr: expect.stringMatching(/^error \[AUDIT_NOT_FOUND\]: audit trail '.*nope.jsonl' does not exist;/) });
    expect(await cli(['audit', 'verify', dir])).toMatchObject({ code: EXIT_USAGE, stderr: expect.stringContaining('AUDIT_UNREADABLE') });
    expect((await cli(['audit', 'verify'])).code).toBe(EXIT_USAGE);
  });

  it('reports bad input as InvalidInputError and a missing argument as a commander error', async () => {
    const program = new Command('cipher-nexus').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerAuditCommands(program);
    await expect(program.parseAsync(['audit', 'verify', join(dir, 'nope')], { from: 'user' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(program.parseAsync(['audit', 'verify'], { from: 'user' })).rejects.toBeInstanceOf(CommanderError);
  });
});
