import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidInputError, NotFoundError } from '../core/index.js';
import { loadParticipantKit, loadServerKit, participantKitPath, serverKitPath } from '../identity/index.js';
import { registerIdentityCommands } from './identity-command.js';
import { EXIT_USAGE, reportError } from './output.js';

let dir: string;
let out: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-identity-cli-'));
  out = join(dir, 'kits');
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<string> {
  const program = new Command('cipher-nexus').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerIdentityCommands(program);
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return stdout;
}

/** What the CLI prints on stderr for an error, and its exit code. */
function reported(error: unknown): { code: number; stderr: string } {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: reportError(error), stderr };
  } finally {
    spy.mockRestore();
  }
}

const failure = (args: string[]): Promise<unknown> =>
  run(args).then(
    () => {
      throw new Error('the command succeeded');
    },
    (e: unknown) => e,
  );

describe('provision', () => {
  it('writes the kits with the given host, port and lifetime, and lists them', async () => {
    const stdout = await run(['provision', '--out', out, '--participants', 'clinic-a, clinic-b', '--host', 'coord.example', '--port', '9443', '--valid-days', '30']);
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(`provisioned 2 participant(s) for https://coord.example:9443 in ${out}`);
    expect(lines[1]).toMatch(/^CA sha256 [0-9a-f]{64}$/);
    expect(lines.slice(2, 5)).toEqual([`coordinator  ${serverKitPath(out)}`, `clinic-a     ${participantKitPath(out, 'clinic-a')}`, `clinic-b     ${participantKitPath(out, 'clinic-b')}`]);
    expect(lines[5]).toMatch(/^give each participant only its own kit.json/);
    expect([...loadServerKit(serverKitPath(out)).participants.keys()]).toEqual(['clinic-a', 'clinic-b']);
    expect(loadParticipantKit(participantKitPath(out, 'clinic-b')).coordinatorUrl).toBe('https://coord.example:9443');
  });

  it('defaults to 127.0.0.1:8443, and replaces an earlier provision only with --force', async () => {
    await run(['provision', '--out', out, '--participants', 'a']);
    expect(loadServerKit(serverKitPath(out)).coordinatorUrl).toBe('https://127.0.0.1:8443');
    const error = await failure(['provision', '--out', out, '--participants', 'b']);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(reported(error)).toEqual({ code: EXIT_USAGE, stderr: expect.stringMatching(/^error \[PROVISION_EXISTS\]: '.*' already holds a provisioned job; pass force \(--force\)[^\n]*\n$/) });
    expect([...loadServerKit(serverKitPath(out)).participants.keys()]).toEqual(['a']);
    await run(['provision', '--out', out, '--participants', 'b', '--force']);
    expect([...loadServerKit(serverKitPath(out)).participants.keys()]).toEqual(['b']);
  });

  it.each([
    [['provision', '--out', 'x', '--participants', 'a', '--port', '0'], CommanderError, /--port must be an integer from 1 to 65535, got '0'/],
    [['provision', '--out', 'x', '--participants', 'a', '--port', '80.5'], CommanderError, /--port must be an integer/],
    [['provision', '--out', 'x', '--participants', 'a', '--valid-days', '0'], CommanderError, /--valid-days must be an integer from 1 to 3650, got '0'/],
    [['provision', '--out', 'x'], CommanderError, /required option '--participants <ids>' not specified/],
    [['provision', '--out', 'x', '--participants', 'a,,b'], InvalidInputError, /provision field 'participants\[1\]': expected a string matching/],
    [['provision', '--out', 'x', '--participants', 'a,B'], InvalidInputError, /'participants\[1\]'.*got 'B'/],
    [['provision', '--out', 'x', '--participants', 'a,a'], InvalidInputError, /'a' is listed twice/],
    [['provision', '--out', 'x', '--participants', 'a', '--host', 'not a host'], InvalidInputError, /provision field 'serverHost': expected a host name or an IP address/],
  ])('%j fails with one line, exit code 2, and writes nothing', async (args, kind, message) => {
    const error = await failure(args.map((a) => (a === 'x' ? out : a)));
    expect(error).toBeInstanceOf(kind);
    expect(error).toHaveProperty('message', expect.stringMatching(message));
    expect(reported(error).code).toBe(EXIT_USAGE);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('revoke', () => {
  it('revokes once, then says it already was', async () => {
    await run(['provision', '--out', out, '--participants', 'clinic-a,clinic-b']);
    const fingerprint = loadServerKit(serverKitPath(out)).participants.get('clinic-b')?.certificateFingerprint;
    expect(await run(['revoke', '--kit-dir', out, '--participant', 'clinic-b'])).toBe(`participant 'clinic-b' revoked (certificate sha256 ${fingerprint})\n`);
    expect(await run(['revoke', '--kit-dir', out, '--participant', 'clinic-b'])).toMatch(/^participant 'clinic-b' was already revoked at \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    expect([...loadServerKit(serverKitPath(out)).revoked]).toEqual(['clinic-b']);
  });

  it('refuses an unknown participant and a directory without kits with exit code 2', async () => {
    await run(['provision', '--out', out, '--participants', 'clinic-a']);
    const unknown = await failure(['revoke', '--kit-dir', out, '--participant', 'clinic-z']);
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect(reported(unknown)).toEqual({ code: EXIT_USAGE, stderr: "error [PARTICIPANT_NOT_FOUND]: participant 'clinic-z' does not exist; list the known ones first\n" });
    const missing = await failure(['revoke', '--kit-dir', dir, '--participant', 'clinic-a']);
    expect(reported(missing)).toEqual({ code: EXIT_USAGE, stderr: expect.stringMatching(/^error \[KIT_NOT_FOUND\]: server kit '.*' does not exist;/) });
    expect(loadServerKit(serverKitPath(out)).revoked.size).toBe(0);
  });
});
