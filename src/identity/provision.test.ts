import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CipherNexusError, InvalidInputError, NotFoundError } from '../core/index.js';
import { certificateFingerprint } from './certificate-authority.js';
import { provision, revokeParticipant, type ProvisionParameters } from './provision.js';
import { loadRevocationList } from './revocation-list.js';
import { loadParticipantKit, loadServerKit, participantKitPath, revocationListPath, serverKitPath } from './startup-kit.js';

let dir: string;
let outDir: string;
const base = (): ProvisionParameters => ({ outDir, participants: ['clinic-a', 'clinic-b', 'lab-7'], serverHost: '10.0.0.5', serverPort: 9443, validDays: 30 });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-provision-'));
  outDir = join(dir, 'job-1');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<CipherNexusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CipherNexusError);
  return error as CipherNexusError;
}

describe('provision', () => {
  it('writes a server kit, a kit per participant and an empty revocation list, secrets readable by their owner only', async () => {
    const result = await provision(base());
    expect(result.coordinatorUrl).toBe('https://10.0.0.5:9443');
    expect([...result.participantKitFiles.keys()]).toEqual(['clinic-a', 'clinic-b', 'lab-7']);
    expect(readdirSync(dir)).toEqual(['job-1']);
    for (const file of [result.serverKitFile, ...result.participantKitFiles.values()]) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(outDir).mode & 0o777).toBe(0o700);

    const server = loadServerKit(result.serverKitFile);
    expect(server.revoked.size).toBe(0);
    expect(loadRevocationList(result.revocationListFile)).toEqual({ version: 1, entries: [] });
    expect(certificateFingerprint(server.caCertificate)).toBe(result.caFingerprint);
    for (const [id, file] of result.participantKitFiles) {
      const kit = loadParticipantKit(file);
      expect(file).toBe(participantKitPath(outDir, id));
      expect(kit).toMatchObject({ participantId: id, coordinatorUrl: 'https://10.0.0.5:9443', caCertificate: server.caCertificate });
      expect(server.participants.get(id)).toEqual({ certificateFingerprint: certificateFingerprint(kit.certificate), signingPublicKey: kit.signingPublicKey });
      const certificate = new X509Certificate(kit.certificate);
      expect(certificate.subject).toBe(`CN=${id}`);
      expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    }
    expect(new Set([...server.participants.values()].map((p) => p.signingPublicKey)).size).toBe(3);
  });

  it('makes a self-signed CA that may sign certificates and nothing else, and a server certificate for the host, localhost and 127.0.0.1', async () => {
    await provision({ ...base(), serverHost: 'Coordinator.Example.org' });
    const server = loadServerKit(serverKitPath(outDir));
    const ca = new x509.X509Certificate(server.caCertificate);
    expect(await ca.isSelfSigned()).toBe(true);
    expect(ca.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, pathLength: 0, critical: true });
    expect(ca.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    const certificate = new X509Certificate(server.certificate);
    expect(certificate.subjectAltName).toBe('DNS:coordinator.example.org, DNS:localhost, IP Address:127.0.0.1');
    expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(certificate.ca).toBe(false);
    expect(server.coordinatorUrl).toBe('https://coordinator.example.org:9443');
    expect(Date.parse(certificate.validTo) - Date.now()).toBeGreaterThan(29.9 * 86_400_000);
    expect(Date.parse(certificate.validTo) - Date.now()).toBeLessThan(30.1 * 86_400_000);
  });

  it('brackets an IPv6 host in the URL, names 127.0.0.1 once, and issues for a year by default', async () => {
    expect((await provision({ ...base(), serverHost: '::1' })).coordinatorUrl).toBe('https://[::1]:9443');
    expect(new X509Certificate(loadServerKit(serverKitPath(outDir)).certificate).subjectAltName).toBe('IP Address:0:0:0:0:0:0:0:1, DNS:localhost, IP Address:127.0.0.1');
    await provision({ outDir, participants: ['clinic-a'], serverHost: '127.0.0.1', serverPort: 0, force: true });
    const certificate = new X509Certificate(loadServerKit(serverKitPath(outDir)).certificate);
    expect(certificate.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    // A year unless told otherwise.
    expect(Math.round((Date.parse(certificate.validTo) - Date.now()) / 86_400_000)).toBe(365);
  });

  it.each([
    [{ participants: [] }, "provision field 'participants': expected a list of at least 1 item"],
    [{ participants: ['Clinic-A'] }, "provision field 'participants[0]': expected a string matching"],
    [{ participants: ['-a'] }, "provision field 'participants[0]'"],
    [{ participants: ['a'.repeat(64)] }, "provision field 'participants[0]'"],
    [{ participants: ['a', 'b', 'a'] }, "provision field 'participants[2]': 'a' is listed twice; participant ids must be unique"],
    [{ serverHost: 'bad host' }, "provision field 'serverHost': expected a host name or an IP address"],
    [{ serverPort: 65536 }, "provision field 'serverPort': expected an integer from 0 to 65535, got 65536"],
    [{ validDays: 1.5 }, "provision field 'validDays': expected an integer from 1 to 3650, got 1.5"],
  ])('refuses %j with PROVISION_INVALID and writes nothing', async (change, message) => {
    const error = await failure(provision({ ...base(), ...change } as ProvisionParameters));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.code).toBe('PROVISION_INVALID');
    expect(error.message).toContain(message);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses to replace an earlier provision unless forced, and replaces every kit when forced', async () => {
    const first = await provision(base());
    const before = readFileSync(first.serverKitFile, 'utf8');
    const error = await failure(provision(base()));
    expect(error).toMatchObject({ code: 'PROVISION_EXISTS' });
    expect(error.message).toMatch(/already holds a provisioned job; pass force \(--force\)/);
    expect(readFileSync(first.serverKitFile, 'utf8')).toBe(before);

    const second = await provision({ ...base(), participants: ['clinic-a'], force: true });
    expect(second.caFingerprint).not.toBe(first.caFingerprint);
    expect(readdirSync(join(outDir, 'participants'))).toEqual(['clinic-a']);
    expect(readdirSync(dir)).toEqual(['job-1']);
  });

  it('uses an existing empty directory, and refuses one with other contents even when forced', async () => {
    mkdirSync(outDir);
    await provision(base());
    expect(existsSync(serverKitPath(outDir))).toBe(true);

    const other = join(dir, 'home');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'keep me');
    const error = await failure(provision({ ...base(), outDir: other, force: true }));
    expect(error).toMatchObject({ code: 'PROVISION_DIR_NOT_EMPTY' });
    expect(readdirSync(other)).toEqual(['notes.txt']);
  });
});

describe('revokeParticipant', () => {
  it('adds the participant and its certificate to the revocation list once; the server kit loads it', async () => {
    await provision(base());
    const fingerprint = loadServerKit(serverKitPath(outDir)).participants.get('clinic-b')?.certificateFingerprint;
    const at = new Date('2026-01-02T03:04:05.000Z');
    expect(revokeParticipant(outDir, 'clinic-b', at)).toEqual({
      entry: { participantId: 'clinic-b', certificateFingerprint: fingerprint, revokedAt: '2026-01-02T03:04:05.000Z' },
      alreadyRevoked: false,
    });
    expect(revokeParticipant(outDir, 'clinic-b').alreadyRevoked).toBe(true);
    expect(loadRevocationList(revocationListPath(outDir)).entries).toHaveLength(1);
    expect([...loadServerKit(serverKitPath(outDir)).revoked]).toEqual(['clinic-b']);
  });

  it('refuses an id that is not a participant, and a directory that was never provisioned', async () => {
    await provision(base());
    expect(() => revokeParticipant(outDir, 'clinic-z')).toThrow(NotFoundError);
    expect(() => revokeParticipant(outDir, 'clinic-z')).toThrow("participant 'clinic-z' does not exist");
    expect(() => revokeParticipant(dir, 'clinic-a')).toThrow(expect.objectContaining({ code: 'KIT_NOT_FOUND' }));
    expect(loadRevocationList(revocationListPath(outDir)).entries).toEqual([]);
  });
});
