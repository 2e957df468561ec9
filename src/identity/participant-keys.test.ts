import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/index.js';
import { CertificateRequestSchema, verifyCertificateRequests } from './certificate-request.js';
import { certificateRequestPath, generateParticipantKeys, loadParticipantKeyFile, participantKeyPath } from './participant-keys.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-keygen-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<InvalidInputError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  return error as InvalidInputError;
}

describe('generateParticipantKeys', () => {
  it('writes the private keys readable by the owner only, in a private directory, and a request for exactly those keys', async () => {
    const out = join(dir, 'keys');
    const result = await generateParticipantKeys({ participantId: 'clinic-a', outDir: out });
    expect(result).toEqual({ participantId: 'clinic-a', keyFile: participantKeyPath(out, 'clinic-a'), requestFile: certificateRequestPath(out, 'clinic-a'), requestSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(readdirSync(out).sort()).toEqual(['clinic-a.key.json', 'clinic-a.req.json']);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    expect(statSync(result.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(result.requestFile).mode & 0o777).toBe(0o644);
    // What `sha256sum clinic-a.req.json` prints, so both sides can compare the file they hold.
    expect(createHash('sha256').update(readFileSync(result.requestFile)).digest('hex')).toBe(result.requestSha256);

    const keys = loadParticipantKeyFile(result.keyFile);
    const request = CertificateRequestSchema.parse(JSON.parse(readFileSync(result.requestFile, 'utf8')));
    expect(readFileSync(result.requestFile, 'utf8')).not.toMatch(/PRIVATE KEY/);
    expect(request.signingPublicKey).toBe(keys.signingPublicKey);
    const csr = new x509.Pkcs10CertificateRequest(request.csr);
    expect(csr.subject).toBe('CN=clinic-a');
    const csrKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    expect(csrKey.equals(createPublicKey(createPrivateKey(keys.tlsPrivateKey)))).toBe(true);
    // The request passes the operator's checks as written.
    expect(await verifyCertificateRequests([result.requestFile])).toEqual([
      expect.objectContaining({ participantId: 'clinic-a', signingPublicKey: keys.signingPublicKey, sha256: result.requestSha256 }),
    ]);
  });

  it('gives each run new keys, and uses an existing private directory', async () => {
    mkdirSync(join(dir, 'keys'), { mode: 0o700 });
    const a = await generateParticipantKeys({ participantId: 'a', outDir: join(dir, 'keys') });
    const b = await generateParticipantKeys({ participantId: 'b', outDir: join(dir, 'keys') });
    expect(loadParticipantKeyFile(a.keyFile).tlsPrivateKey).not.toBe(loadParticipantKeyFile(b.keyFile).tlsPrivateKey);
    expect(loadParticipantKeyFile(a.keyFile).signingPublicKey).not.toBe(loadParticipantKeyFile(b.keyFile).signingPublicKey);
  });

  it('refuses to replace keys made before, since their request may be on its way to the operator', async () => {
    const first = await generateParticipantKeys({ participantId: 'clinic-a', outDir: dir });
    const before = readFileSync(first.keyFile, 'utf8');
    const error = await refusal(generateParticipantKeys({ participantId: 'clinic-a', outDir: dir }));
    expect(error.code).toBe('KEYGEN_EXISTS');
    expect(error.message).toBe(`'${first.keyFile}' exists: 'clinic-a' has keys here already; send its existing request, or choose another directory to start over`);
    expect(readFileSync(first.keyFile, 'utf8')).toBe(before);
  });

  it('refuses a directory others can read, a file, and a bad id, writing nothing', async () => {
    chmodSync(dir, 0o755);
    const open = await refusal(generateParticipantKeys({ participantId: 'clinic-a', outDir: dir }));
    expect(open).toMatchObject({ code: 'KEYGEN_DIR_NOT_PRIVATE', message: `'${dir}' is open to other users (mode 0755); choose a new directory, or make this one private first (chmod 700)` });
    writeFileSync(join(dir, 'file'), '');
    expect(await refusal(generateParticipantKeys({ participantId: 'clinic-a', outDir: join(dir, 'file') }))).toMatchObject({ code: 'KEYGEN_DIR_INVALID' });
    const bad = await refusal(generateParticipantKeys({ participantId: 'Clinic-A', outDir: join(dir, 'new') }));
    expect(bad.code).toBe('KEYGEN_INVALID');
    expect(bad.message).toContain("keygen field 'participantId': expected a string matching");
    expect(readdirSync(dir)).toEqual(['file']);
    expect(existsSync(join(dir, 'new'))).toBe(false);
  });
});

describe('loadParticipantKeyFile', () => {
  it('refuses a key file whose signing public key is not its private key', async () => {
    const a = await generateParticipantKeys({ participantId: 'a', outDir: dir });
    const b = await generateParticipantKeys({ participantId: 'b', outDir: dir });
    const forged = join(dir, 'forged.key.json');
    writeFileSync(forged, JSON.stringify({ ...loadParticipantKeyFile(a.keyFile), signingPublicKey: loadParticipantKeyFile(b.keyFile).signingPublicKey }));
    expect(() => loadParticipantKeyFile(forged)).toThrow(expect.objectContaining({ code: 'PARTICIPANT_KEY_INVALID', message: expect.stringContaining("participant key file field 'signingPublicKey': is not the public half of signingPrivateKey") }));
    expect(() => loadParticipantKeyFile(join(dir, 'none.json'))).toThrow(expect.objectContaining({ code: 'PARTICIPANT_KEY_NOT_FOUND' }));
  });
});
