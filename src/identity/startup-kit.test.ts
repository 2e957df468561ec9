import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/index.js';
import { provisionWithLocalKeys } from './local-provision.js';
import { loadParticipantKit, loadServerKit, participantKitPath, revocationListPath, serverKitPath } from './startup-kit.js';

let dir: string;
let job: string;
let other: string;
const read = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8'));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-kit-'));
  job = join(dir, 'job');
  other = join(dir, 'other');
  await provisionWithLocalKeys({ outDir: job, participants: ['alice', 'bob'], serverHost: '127.0.0.1', serverPort: 8443, validDays: 5 });
  await provisionWithLocalKeys({ outDir: other, participants: ['alice'], serverHost: '127.0.0.1', serverPort: 8443, validDays: 5 });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `kit` to a scratch file and returns the error its loader throws. */
function loadError(kit: unknown, load: (file: string) => unknown, text = JSON.stringify(kit)): InvalidInputError {
  const file = join(dir, `scratch-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, text);
  try {
    load(file);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    const e = error as InvalidInputError;
    expect(e.message).toContain(`'${file}'`);
    return e;
  }
  throw new Error('the loader accepted a bad kit');
}

/** `kit` with its roster giving `id` the key `text`. */
function withRosterKey(kit: Record<string, unknown>, id: string, text: string): Record<string, unknown> {
  const roster = kit.roster as { participants: Record<string, string>; signature: string };
  return { ...kit, roster: { ...roster, participants: { ...roster.participants, [id]: text } } };
}

describe('loadParticipantKit', () => {
  const alice = () => read(participantKitPath(job, 'alice'));
  const bob = () => read(participantKitPath(job, 'bob'));

  it.each([
    ['a missing field', () => ({ ...alice(), tlsPrivateKey: undefined }), 'tlsPrivateKey', "participant kit field 'tlsPrivateKey' is missing: expected a string"],
    ['an unknown field', () => ({ ...alice(), extra: 1 }), '', "participant kit has unknown field 'extra'"],
    ['another version', () => ({ ...alice(), version: 2 }), 'version', "participant kit field 'version': expected 1, got 2"],
    ['a bad id', () => ({ ...alice(), participantId: 'Alice' }), 'participantId', "participant kit field 'participantId'"],
    ['an http URL', () => ({ ...alice(), coordinatorUrl: 'http://127.0.0.1:8443' }), 'coordinatorUrl', "participant kit field 'coordinatorUrl'"],
    ['a certificate that is not PEM', () => ({ ...alice(), certificate: 'hello' }), 'certificate', "participant kit field 'certificate': is not a PEM X.509 certificate"],
    ['a TLS key that is not P-256', () => ({ ...alice(), tlsPrivateKey: alice().signingPrivateKey }), 'tlsPrivateKey', 'is not a PEM ECDSA P-256 private key'],
    ['a signing key that is not Ed25519', () => ({ ...alice(), signingPrivateKey: alice().tlsPrivateKey }), 'signingPrivateKey', 'is not a PEM Ed25519 private key'],
    ['a malformed public key', () => ({ ...alice(), signingPublicKey: 'abc' }), 'signingPublicKey', 'is not a base64url Ed25519 public key'],
    ["another participant's certificate", () => ({ ...alice(), certificate: bob().certificate }), 'certificate', "is not issued to participantId 'alice'"],
    ["another participant's TLS key", () => ({ ...alice(), tlsPrivateKey: bob().tlsPrivateKey }), 'tlsPrivateKey', "is not the private key of the kit's certificate"],
    ["another participant's signing public key", () => ({ ...alice(), signingPublicKey: bob().signingPublicKey }), 'signingPublicKey', 'is not the public half of signingPrivateKey'],
    ["another job's CA", () => ({ ...alice(), caCertificate: read(participantKitPath(other, 'alice')).caCertificate }), 'certificate', 'was not issued by the CA in caCertificate'],
    ['a roster key of 31 bytes', () => withRosterKey(alice(), 'bob', Buffer.alloc(31, 7).toString('base64url')), 'roster.participants.bob', 'is not a base64url Ed25519 public key'],
    ['a roster key not canonically spelled', () => withRosterKey(alice(), 'bob', `${String(alice().signingPublicKey).slice(0, 42)}B`), 'roster.participants.bob', 'is not a base64url Ed25519 public key'],
    ['a roster key in base64 with padding', () => withRosterKey(alice(), 'bob', `${Buffer.alloc(32, 0xfb).toString('base64')}`), 'roster.participants.bob', 'is not a base64url Ed25519 public key'],
  ])('refuses %s with KIT_INVALID naming the file and the field', (_what, kit, field, message) => {
    const error = loadError(kit(), loadParticipantKit);
    expect(error.code).toBe('KIT_INVALID');
    expect(error.details).toMatchObject({ field });
    expect(error.message).toContain(message);
    expect(error.message).toMatch(/; assemble it again from your key file and certificate bundle \(cipher-nexus kit assemble\)$/);
  });

  it('refuses a file that is not JSON, and one that does not exist', () => {
    expect(loadError(undefined, loadParticipantKit, '{"participantId": ').code).toBe('KIT_INVALID');
    const missing = join(dir, 'nope.json');
    expect(() => loadParticipantKit(missing)).toThrow(expect.objectContaining({ code: 'KIT_NOT_FOUND', message: expect.stringContaining(`participant kit '${missing}' does not exist`) }));
  });
});

describe('loadServerKit', () => {
  const server = () => read(serverKitPath(job));

  it.each([
    ['a registry entry with a bad fingerprint', () => ({ ...server(), participants: { alice: { certificateFingerprint: 'AB', signingPublicKey: read(participantKitPath(job, 'alice')).signingPublicKey } } }), 'participants.alice.certificateFingerprint'],
    ['a registry id that is not a participant id', () => ({ ...server(), participants: { __proto__x: (server().participants as Record<string, unknown>).alice } }), 'participants.__proto__x'],
    ['a participant certificate as the server certificate', () => ({ ...server(), certificate: read(participantKitPath(job, 'alice')).certificate }), 'privateKey'],
    ["another job's CA", () => ({ ...server(), caCertificate: read(serverKitPath(other)).caCertificate }), 'certificate'],
  ])('refuses %s with KIT_INVALID naming the field', (_what, kit, field) => {
    const error = loadError(kit(), loadServerKit);
    expect(error.code).toBe('KIT_INVALID');
    expect(error.details).toMatchObject({ field });
  });

  it('gives the registry as a map, so ids like constructor are not found on Object.prototype', () => {
    const kit = loadServerKit(serverKitPath(job));
    expect([...kit.participants.keys()]).toEqual(['alice', 'bob']);
    expect(kit.participants.get('constructor')).toBeUndefined();
  });

  it('refuses a server kit whose revocation list is gone, so deleting it cannot reinstate anybody', () => {
    const copy = join(dir, 'copy');
    cpSync(job, copy, { recursive: true });
    unlinkSync(revocationListPath(copy));
    expect(() => loadServerKit(serverKitPath(copy))).toThrow(expect.objectContaining({ code: 'KIT_NOT_FOUND', message: expect.stringContaining('revocation list') }));
  });
});
