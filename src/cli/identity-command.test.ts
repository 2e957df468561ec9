import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidInputError, NotFoundError } from '../core/index.js';
import {
  certificateBundlePath,
  certificateRequestPath,
  findOperator,
  isScrapeToken,
  loadOperatorCredentials,
  operatorCredentialsPath,
  loadCertificateBundle,
  loadParticipantKit,
  loadServerKit,
  participantKeyPath,
  serverKitPath,
} from '../identity/index.js';
import { registerIdentityCommands } from './identity-command.js';
import { EXIT_USAGE, reportError } from './output.js';
import { runCliToEnd } from '../../test/support/cli-run.js';

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

/** Runs `keygen` for each id, each in its own directory (as on its own host); returns the request files. */
async function keygen(...ids: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const id of ids) {
    await run(['keygen', '--participant', id, '--out', join(dir, 'hosts', id)]);
    files.push(certificateRequestPath(join(dir, 'hosts', id), id));
  }
  return files;
}

describe('keygen', () => {
  it('writes the private key file and the request, and says which to send and which never to share', async () => {
    const keys = join(dir, 'hosts', 'clinic-a');
    const lines = (await run(['keygen', '--participant', 'clinic-a', '--out', keys])).split('\n');
    const request = certificateRequestPath(keys, 'clinic-a');
    expect(lines).toEqual([
      "generated the keys of participant 'clinic-a'",
      `send to the operator  ${request}`,
      `request sha256        ${createHash('sha256').update(readFileSync(request)).digest('hex')}  (read it to the operator over a second channel, e.g. by telephone)`,
      `never share           ${participantKeyPath(keys, 'clinic-a')}  (your private keys, readable by you only)`,
      `when the operator sends your certificate.json: cipher-nexus kit assemble --key ${participantKeyPath(keys, 'clinic-a')} --certificate certificate.json`,
      '',
    ]);
    expect(statSync(participantKeyPath(keys, 'clinic-a')).mode & 0o777).toBe(0o600);
    expect(statSync(keys).mode & 0o777).toBe(0o700);
  });

  it.each([
    [['keygen', '--out', 'x'], CommanderError, /required option '--participant <id>' not specified/],
    [['keygen', '--participant', 'Clinic-A', '--out', 'x'], InvalidInputError, /^keygen field 'participantId': expected a string matching/],
    [['keygen', '--participant', 'a', '--out', 'open'], InvalidInputError, /is open to other users \(mode 0755\)/],
  ])('%j fails with one line, exit code 2, and writes nothing', async (args, kind, message) => {
    mkdirSync(join(dir, 'open'), { mode: 0o755 });
    chmodSync(join(dir, 'open'), 0o755);
    const error = await failure(args.map((a) => (a === 'x' || a === 'open' ? join(dir, a) : a)));
    expect(error).toBeInstanceOf(kind);
    expect(error).toHaveProperty('message', expect.stringMatching(message));
    const { code, stderr } = reported(error);
    expect(code).toBe(EXIT_USAGE);
    if (kind === InvalidInputError) expect(stderr).toMatch(/^error \[KEYGEN_[A-Z_]+\]: [^\n]+\n$/);
    expect(readdirSync(dir)).toEqual(['open']);
    expect(readdirSync(join(dir, 'open'))).toEqual([]);
  });

  it('refuses to overwrite keys made before, with exit code 2', async () => {
    await keygen('clinic-a');
    const before = readFileSync(participantKeyPath(join(dir, 'hosts', 'clinic-a'), 'clinic-a'), 'utf8');
    const error = await failure(['keygen', '--participant', 'clinic-a', '--out', join(dir, 'hosts', 'clinic-a')]);
    expect(reported(error)).toEqual({ code: EXIT_USAGE, stderr: expect.stringMatching(/^error \[KEYGEN_EXISTS\]: '.*clinic-a.key.json' exists: [^\n]*\n$/) });
    expect(readFileSync(participantKeyPath(join(dir, 'hosts', 'clinic-a'), 'clinic-a'), 'utf8')).toBe(before);
  });
});

describe('provision', () => {
  it('provisions from the requests with the given host, port and lifetime, and lists the bundles with their request digests', async () => {
    const requests = await keygen('clinic-a', 'clinic-b');
    const stdout = await run(['provision', '--out', out, '--requests', requests.join(', '), '--host', 'coord.example', '--port', '9443', '--valid-days', '30']);
    const lines = stdout.split('\n');
    const digest = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(lines[0]).toBe(`provisioned 2 participant(s) for https://coord.example:9443 in ${out}`);
    expect(lines[1]).toMatch(/^CA sha256 [0-9a-f]{64}$/);
    expect(lines.slice(2, 5)).toEqual([
      `coordinator  ${serverKitPath(out)}`,
      `clinic-a     ${certificateBundlePath(out, 'clinic-a')}  (request sha256 ${digest(requests[0])})`,
      `clinic-b     ${certificateBundlePath(out, 'clinic-b')}  (request sha256 ${digest(requests[1])})`,
    ]);
    expect(lines[5]).toMatch(/^send each participant its own certificate.json and read it the CA sha256 over a second channel/);
    expect([...loadServerKit(serverKitPath(out)).participants.keys()]).toEqual(['clinic-a', 'clinic-b']);
    expect(loadCertificateBundle(certificateBundlePath(out, 'clinic-b')).coordinatorUrl).toBe('https://coord.example:9443');
  });

  it('defaults to 127.0.0.1:8443, and replaces an earlier provision only with --force', async () => {
    const [a, b] = await keygen('a', 'b');
    await run(['provision', '--out', out, '--requests', a]);
    expect(loadServerKit(serverKitPath(out)).coordinatorUrl).toBe('https://127.0.0.1:8443');
    const error = await failure(['provision', '--out', out, '--requests', b]);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(reported(error)).toEqual({ code: EXIT_USAGE, stderr: expect.stringMatching(/^error \[PROVISION_EXISTS\]: '.*' already holds a provisioned job; pass force \(--force\)[^\n]*\n$/) });
    expect([...loadServerKit(serverKitPath(out)).participants.keys()]).toEqual(['a']);
    await run(['provision', '--out', out, '--requests', b, '--force']);
    expect([...loadServerKit(serverKitPath(out)).participants.keys()]).toEqual(['b']);
  });

  it.each([
    [['provision', '--out', 'x', '--requests', 'a', '--port', '0'], CommanderError, /--port must be an integer from 1 to 65535, got '0'/],
    [['provision', '--out', 'x', '--requests', 'a', '--port', '80.5'], CommanderError, /--port must be an integer/],
    [['provision', '--out', 'x', '--requests', 'a', '--valid-days', '0'], CommanderError, /--valid-days must be an integer from 1 to 3650, got '0'/],
    [['provision', '--out', 'x'], CommanderError, /required option '--requests <files>' not specified/],
    // The flag of the flow before keygen: the operator is told what is needed instead.
    [['provision', '--out', 'x', '--participants', 'a,b'], CommanderError, /required option '--requests <files>' not specified/],
    [['provision', '--out', 'x', '--requests', 'a,,b'], InvalidInputError, /provision field 'requests\[1\]'/],
    [['provision', '--out', 'x', '--requests', 'a', '--host', 'not a host'], InvalidInputError, /provision field 'serverHost': expected a host name or an IP address/],
    [['provision', '--out', 'x', '--requests', 'missing.req.json'], InvalidInputError, /^certificate request 'missing.req.json' does not exist; ask the participant/],
    [['provision', '--out', 'x', '--requests', 'a,a'], InvalidInputError, /failed the duplicate id check/],
    [['provision', '--out', 'x', '--requests', 'a,forged'], InvalidInputError, /^certificate request '.*forged.req.json' failed the signing-key proof check: /],
  ])('%j fails with one line, exit code 2, and writes nothing', async (args, kind, message) => {
    const [a, b] = await keygen('a', 'b');
    // b's request claiming a's signing key: b cannot make a's proof over its CSR.
    const forged = join(dir, 'forged.req.json');
    writeFileSync(forged, JSON.stringify({ ...JSON.parse(readFileSync(b, 'utf8')), signingPublicKey: JSON.parse(readFileSync(a, 'utf8')).signingPublicKey }));
    const files: Record<string, string> = { x: out, a, 'a,a': `${a},${a}`, 'a,forged': `${a},${forged}`, 'a,,b': `${a},,${b}` };
    const error = await failure(args.map((arg) => files[arg] ?? arg));
    expect(error).toBeInstanceOf(kind);
    expect(error).toHaveProperty('message', expect.stringMatching(message));
    const { code, stderr } = reported(error);
    expect(code).toBe(EXIT_USAGE);
    if (kind === InvalidInputError) expect(stderr).toMatch(/^error \[[A-Z_]+\]: [^\n]+\n$/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('provision --out where no directory can be made', () => {

  it.each([
    ['below a file', (file: string) => join(file, 'sub'), /^error \[PROVISION_OUT_INVALID\]: --out '.*sub' is below '.*not-a-dir', which is a file, not a directory; give a path inside a directory\n$/],
    ['in /proc', () => '/proc/cipher-nexus-nope', /^error \[PROVISION_OUT_INVALID\]: --out '\/proc\/cipher-nexus-nope' cannot be created: making '\/proc\/\.cipher-nexus-nope\.provisioning-[0-9a-f]+' failed with ENOENT; give a path in a directory you can write to\n$/],
  ])('%s: one line, exit code 2, at once', async (_where, target, message) => {
    const [a] = await keygen('a');
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    // In a process of its own with a deadline: node's recursive mkdir spun forever under /proc.
    const r = await runCliToEnd(['provision', '--out', target(file), '--requests', a], { timeoutMs: 30_000 });
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(EXIT_USAGE);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
});

describe('kit assemble', () => {
  it("joins the participant's key file and its bundle into the kit `client --key` loads, and prints the CA fingerprint", async () => {
    const [request] = await keygen('clinic-a');
    const provisioned = (await run(['provision', '--out', out, '--requests', request])).split('\n');
    const keyFile = participantKeyPath(join(dir, 'hosts', 'clinic-a'), 'clinic-a');
    const stdout = await run(['kit', 'assemble', '--key', keyFile, '--certificate', certificateBundlePath(out, 'clinic-a')]);
    const kitFile = join(dir, 'hosts', 'clinic-a', 'clinic-a.kit.json');
    expect(stdout.split('\n')).toEqual([
      `kit of participant 'clinic-a' for https://127.0.0.1:8443 written to ${kitFile} (readable by you only)`,
      `${provisioned[1]}  (it must be the one the operator read to you)`,
      `start: cipher-nexus client --key ${kitFile} --data <your training CSV>`,
      '',
    ]);
    expect(loadParticipantKit(kitFile).certificate).toBe(loadCertificateBundle(certificateBundlePath(out, 'clinic-a')).certificate);
    expect(statSync(kitFile).mode & 0o777).toBe(0o600);
    // Again only with --force, e.g. after the operator provisioned again.
    const again = await failure(['kit', 'assemble', '--key', keyFile, '--certificate', certificateBundlePath(out, 'clinic-a')]);
    expect(reported(again)).toEqual({ code: EXIT_USAGE, stderr: expect.stringMatching(/^error \[KIT_EXISTS\]: [^\n]+\n$/) });
    await run(['kit', 'assemble', '--key', keyFile, '--certificate', certificateBundlePath(out, 'clinic-a'), '--force']);
  });

  it.each([
    [['kit', 'assemble', '--key', 'KEY'], CommanderError, /required option '--certificate <file>' not specified/],
    [['kit', 'assemble', '--key', 'KEY', '--certificate', 'BOB'], InvalidInputError, /^certificate bundle '.*' failed the participant check: it is for 'bob', but '.*' holds the keys of 'alice'/],
    [['kit', 'assemble', '--key', 'BOB', '--certificate', 'BOB'], InvalidInputError, /^participant key file '.*bob.req.json' has unknown field|^participant key file field/],
    [['kit', 'assemble', '--key', 'KEY', '--certificate', 'none.json'], InvalidInputError, /^certificate bundle 'none.json' does not exist/],
  ])('%j fails with one line, exit code 2, and writes no kit', async (args, kind, message) => {
    const [alice, bob] = await keygen('alice', 'bob');
    await run(['provision', '--out', out, '--requests', `${alice},${bob}`]);
    const files: Record<string, string> = { KEY: participantKeyPath(join(dir, 'hosts', 'alice'), 'alice'), BOB: args[2] === 'BOB' ? bob : certificateBundlePath(out, 'bob') };
    const error = await failure(args.map((arg) => files[arg] ?? arg));
    expect(error).toBeInstanceOf(kind);
    expect(error).toHaveProperty('message', expect.stringMatching(message));
    const { code, stderr } = reported(error);
    expect(code).toBe(EXIT_USAGE);
    if (kind === InvalidInputError) expect(stderr).toMatch(/^error \[[A-Z_]+\]: [^\n]+\n$/);
    expect(readdirSync(join(dir, 'hosts', 'alice')).sort()).toEqual(['alice.key.json', 'alice.req.json']);
  });
});

describe('revoke', () => {
  it('revokes once, then says it already was', async () => {
    await run(['provision', '--out', out, '--requests', (await keygen('clinic-a', 'clinic-b')).join(',')]);
    const fingerprint = loadServerKit(serverKitPath(out)).participants.get('clinic-b')?.certificateFingerprint;
    expect(await run(['revoke', '--kit-dir', out, '--participant', 'clinic-b'])).toBe(`participant 'clinic-b' revoked (certificate sha256 ${fingerprint})\n`);
    expect(await run(['revoke', '--kit-dir', out, '--participant', 'clinic-b'])).toMatch(/^participant 'clinic-b' was already revoked at \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    expect([...loadServerKit(serverKitPath(out)).revoked]).toEqual(['clinic-b']);
  });

  it('refuses an unknown participant and a directory without kits with exit code 2', async () => {
    await run(['provision', '--out', out, '--requests', (await keygen('clinic-a')).join(',')]);
    const unknown = await failure(['revoke', '--kit-dir', out, '--participant', 'clinic-z']);
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect(reported(unknown)).toEqual({ code: EXIT_USAGE, stderr: "error [PARTICIPANT_NOT_FOUND]: participant 'clinic-z' does not exist; list the known ones first\n" });
    const missing = await failure(['revoke', '--kit-dir', dir, '--participant', 'clinic-a']);
    expect(reported(missing)).toEqual({ code: EXIT_USAGE, stderr: expect.stringMatching(/^error \[KIT_NOT_FOUND\]: server kit '.*' does not exist;/) });
    expect(loadServerKit(serverKitPath(out)).revoked.size).toBe(0);
  });
});

describe('operators', () => {
  it('provision --operators prints each token and the scrape token once, and keeps only their digests', async () => {
    const requests = await keygen('clinic-a');
    const stdout = await run(['provision', '--out', out, '--requests', requests[0], '--operators', 'alice:admin,bob']);
    const tokenOf = (label: RegExp): string => (stdout.match(label) ?? [])[1] ?? '';
    const alice = tokenOf(/^operator alice \(admin\) +token (cnop_\S{43})$/m);
    const bob = tokenOf(/^operator bob \(viewer\) +token (cnop_\S{43})$/m);
    const scrape = tokenOf(/^metrics scrape +token (cnscrape_\S{43})$/m);
    expect(stdout).toMatch(/these tokens are shown once/);
    const stored = loadOperatorCredentials(operatorCredentialsPath(out));
    expect([findOperator(stored, alice)?.role, findOperator(stored, bob)?.role, isScrapeToken(stored, scrape)]).toEqual(['admin', 'viewer', true]);
    expect(readFileSync(operatorCredentialsPath(out), 'utf8')).not.toContain(alice);
  });

  it('refuses a bad operator list with exit code 2 and writes nothing', async () => {
    const requests = await keygen('clinic-a');
    const error = await failure(['provision', '--out', out, '--requests', requests[0], '--operators', 'alice:owner']);
    expect(reported(error)).toEqual({ code: EXIT_USAGE, stderr: expect.stringMatching(/^error \[OPERATORS_INVALID\]: operator 'alice:owner' is not NAME or NAME:ROLE[^\n]*viewer or admin\n$/) });
    expect(existsSync(out)).toBe(false);
  });

  it('operator add issues a token that works at once, --replace rotates it, remove ends it', async () => {
    await run(['provision', '--out', out, '--requests', (await keygen('clinic-a')).join(',')]);
    const added = await run(['operator', 'add', '--kit-dir', out, '--name', 'carol', '--role', 'admin']);
    expect(added.split('\n')[0]).toBe(`added operator 'carol' (admin) in ${operatorCredentialsPath(out)}`);
    const token = (added.match(/token (cnop_\S+)/) ?? [])[1];
    expect(findOperator(loadOperatorCredentials(operatorCredentialsPath(out)), token)?.name).toBe('carol');
    const again = await failure(['operator', 'add', '--kit-dir', out, '--name', 'carol']);
    expect(reported(again).stderr).toMatch(/^error \[OPERATOR_EXISTS\]/);
    const badRole = await failure(['operator', 'add', '--kit-dir', out, '--name', 'dave', '--role', 'root']);
    expect(reported(badRole)).toEqual({ code: EXIT_USAGE, stderr: "error [CLI_OPTION_INVALID]: --role must be one of viewer, admin, got 'root'\n" });
    const rotated = await run(['operator', 'add', '--kit-dir', out, '--name', 'carol', '--role', 'admin', '--replace']);
    expect(rotated).toMatch(/^replaced the token of operator 'carol'/);
    expect(findOperator(loadOperatorCredentials(operatorCredentialsPath(out)), token)).toBeUndefined();
    expect(await run(['operator', 'remove', '--kit-dir', out, '--name', 'carol'])).toBe("removed operator 'carol'\n");
    expect(reported(await failure(['operator', 'remove', '--kit-dir', out, '--name', 'carol'])).stderr).toMatch(/^error \[OPERATOR_NOT_FOUND\]/);
  });
});
