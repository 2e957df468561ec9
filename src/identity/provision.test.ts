import { X509Certificate, createPrivateKey, sign, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CipherNexusError, InvalidInputError, NotFoundError, generateEcdsaCryptoKeyPair } from '../core/index.js';
import { certificateBundlePath, loadCertificateBundle } from './certificate-bundle.js';
import { certificateFingerprint } from './certificate-authority.js';
import { createCertificateRequest, signingProofMessage, type CertificateRequest } from './certificate-request.js';
import { generateParticipantKeys, loadParticipantKeyFile, participantKeyPath, type GenerateParticipantKeysResult } from './participant-keys.js';
import { rosterSignedBy } from './roster.js';
import { provision, revokeParticipant, type ProvisionParameters } from './provision.js';
import { loadRevocationList } from './revocation-list.js';
import { generateSigningKeyPair } from './signing-key.js';
import { loadServerKit, revocationListPath, serverKitPath } from './startup-kit.js';
import { ECDSA_P256, generateTlsKeyPair } from './tls-key.js';

const IDS = ['clinic-a', 'clinic-b', 'lab-7'];
let keysDir: string;
let keys: GenerateParticipantKeysResult[];
let dir: string;
let outDir: string;
const requests = (): string[] => keys.map((k) => k.requestFile);
const base = (): ProvisionParameters => ({ outDir, requests: requests(), serverHost: '10.0.0.5', serverPort: 9443, validDays: 30 });

// Each participant's keygen runs once: provision only reads the requests.
beforeAll(async () => {
  keysDir = mkdtempSync(join(tmpdir(), 'cn-provision-keys-'));
  keys = [];
  for (const participantId of IDS) keys.push(await generateParticipantKeys({ participantId, outDir: join(keysDir, participantId) }));
});

afterAll(() => {
  rmSync(keysDir, { recursive: true, force: true });
});

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

/** Every file under `root`, by relative path, with its contents. */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(root, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(root);
  return files;
}

describe('provision', () => {
  it('writes a server kit, a certificate bundle per request and an empty revocation list; the server kit is readable by its owner only', async () => {
    const result = await provision(base());
    expect(result.coordinatorUrl).toBe('https://10.0.0.5:9443');
    expect([...result.certificateBundleFiles.keys()]).toEqual(IDS);
    expect([...result.requestDigests.values()]).toEqual(keys.map((k) => k.requestSha256));
    expect(readdirSync(dir)).toEqual(['job-1']);
    expect(statSync(result.serverKitFile).mode & 0o777).toBe(0o600);
    expect(statSync(outDir).mode & 0o777).toBe(0o700);

    const server = loadServerKit(result.serverKitFile);
    expect(server.revoked.size).toBe(0);
    expect(loadRevocationList(result.revocationListFile)).toEqual({ version: 1, entries: [] });
    expect(certificateFingerprint(server.caCertificate)).toBe(result.caFingerprint);
    for (const [id, file] of result.certificateBundleFiles) {
      const bundle = loadCertificateBundle(file);
      const own = loadParticipantKeyFile(participantKeyPath(join(keysDir, id), id));
      expect(file).toBe(certificateBundlePath(outDir, id));
      expect(bundle).toEqual({ version: 1, participantId: id, coordinatorUrl: 'https://10.0.0.5:9443', caCertificate: server.caCertificate, certificate: bundle.certificate, roster: bundle.roster });
      // The roster lists every participant with the signing key of its request, signed by the job's CA.
      expect(bundle.roster?.participants).toEqual(Object.fromEntries([...server.participants].map(([pid, p]) => [pid, p.signingPublicKey])));
      expect(rosterSignedBy(bundle.roster!, server.caCertificate)).toBe(true);
      // The registry pins the certificate issued for the participant's own keys, from its request.
      expect(server.participants.get(id)).toEqual({ certificateFingerprint: certificateFingerprint(bundle.certificate), signingPublicKey: own.signingPublicKey });
      const certificate = new X509Certificate(bundle.certificate);
      expect(certificate.subject).toBe(`CN=${id}`);
      expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(certificate.checkPrivateKey(createPrivateKey(own.tlsPrivateKey))).toBe(true);
    }
  });

  it("writes no participant's private key: bundles hold public material only, and the one private key in KITS is the coordinator's", async () => {
    const result = await provision(base());
    const files = snapshot(outDir);
    const secrets = keys.flatMap(({ participantId }) => {
      const own = loadParticipantKeyFile(participantKeyPath(join(keysDir, participantId), participantId));
      // Each key's PKCS#8 body, and the Ed25519 seed as hex, base64 and base64url (the forms JSON or a JWK would carry).
      const seed = ed25519Seed(own.signingPrivateKey);
      return [pemBody(own.tlsPrivateKey), pemBody(own.signingPrivateKey), seed.toString('hex'), seed.toString('base64'), seed.toString('base64url')];
    });
    for (const [path, text] of Object.entries(files)) {
      const flat = text.replace(/\\n|\s/g, '');
      for (const secret of secrets) expect(flat, path).not.toContain(secret);
      if (path.startsWith('participants')) expect(text, path).not.toMatch(/PRIVATE KEY|signingPrivateKey|tlsPrivateKey/);
    }
    expect(Object.keys(files).sort()).toEqual(['participants/clinic-a/certificate.json', 'participants/clinic-b/certificate.json', 'participants/lab-7/certificate.json', 'server/kit.json', 'server/operators.json', 'server/revoked.json']);
    expect(files['server/kit.json'].match(/PRIVATE KEY-----/g)).toHaveLength(2); // BEGIN and END of the coordinator's key
    for (const file of result.certificateBundleFiles.values()) expect(statSync(file).mode & 0o777).toBe(0o644);
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
    await provision({ outDir, requests: requests().slice(0, 1), serverHost: '127.0.0.1', serverPort: 0, force: true });
    const certificate = new X509Certificate(loadServerKit(serverKitPath(outDir)).certificate);
    expect(certificate.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    // A year unless told otherwise.
    expect(Math.round((Date.parse(certificate.validTo) - Date.now()) / 86_400_000)).toBe(365);
  });

  it.each([
    [{ requests: [] }, "provision field 'requests': expected a list of at least 1 item"],
    [{ requests: [''] }, "provision field 'requests[0]'"],
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

  it('refuses to replace an earlier provision unless forced, and replaces every bundle when forced', async () => {
    const first = await provision(base());
    const before = readFileSync(first.serverKitFile, 'utf8');
    const error = await failure(provision(base()));
    expect(error).toMatchObject({ code: 'PROVISION_EXISTS' });
    expect(error.message).toMatch(/already holds a provisioned job; pass force \(--force\)/);
    expect(readFileSync(first.serverKitFile, 'utf8')).toBe(before);

    const second = await provision({ ...base(), requests: requests().slice(0, 1), force: true });
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

/** A PEM's base64 body without line breaks. */
function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}

/** The 32-byte seed of an Ed25519 PKCS#8 PEM: its last 32 bytes (RFC 8410 §7). */
function ed25519Seed(pem: string): Buffer {
  const der = Buffer.from(pemBody(pem), 'base64');
  return der.subarray(der.length - 32);
}

describe('provision refuses a forged or malformed certificate request', () => {
  let forgeries: string;
  let good: CertificateRequest;
  let goodKeys: webcrypto.CryptoKeyPair;
  let goodSigning: ReturnType<typeof generateSigningKeyPair>;

  beforeAll(async () => {
    forgeries = mkdtempSync(join(tmpdir(), 'cn-forged-'));
    goodKeys = await generateTlsKeyPair();
    goodSigning = generateSigningKeyPair();
    good = await createCertificateRequest('mallory', goodKeys, goodSigning);
  });

  afterAll(() => {
    rmSync(forgeries, { recursive: true, force: true });
  });

  /** A request whose proof is re-signed over its (altered) CSR, so only the altered part can fail. */
  const proven = (request: Omit<CertificateRequest, 'signingProof'>, signingPem = goodSigning.privateKeyPem): CertificateRequest => ({
    ...request,
    signingProof: sign(null, signingProofMessage(request.participantId, new Uint8Array(new x509.Pkcs10CertificateRequest(request.csr).rawData)), signingPem).toString('base64url'),
  });
  const csrFor = async (name: string, keyPair: webcrypto.CryptoKeyPair, algorithm: object = ECDSA_P256): Promise<string> =>
    (await x509.Pkcs10CertificateRequestGenerator.create({ name, signingAlgorithm: algorithm as x509.Pkcs10CertificateRequestCreateParams['signingAlgorithm'], keys: keyPair })).toString('pem');
  const flipLastByteOfCsr = (pem: string): string => {
    const der = Buffer.from(new x509.Pkcs10CertificateRequest(pem).rawData);
    der[der.length - 1] ^= 0x01;
    return x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
  };

  it.each<[string, () => Promise<unknown> | unknown, string, string?]>([
    ['a CSR naming one key but signed by another', async () => {
      const other = await generateTlsKeyPair();
      return proven({ ...good, csr: await csrFor('CN=mallory', { publicKey: goodKeys.publicKey, privateKey: other.privateKey }) });
    }, 'CSR signature'],
    ['a CSR with tampered bytes', () => proven({ ...good, csr: flipLastByteOfCsr(good.csr) }), 'CSR signature'],
    ['a CSR whose CN is not the id', async () => proven({ ...good, csr: await csrFor('CN=clinic-a', goodKeys) }), 'CSR subject', "the CSR's subject is 'CN=clinic-a', not 'CN=mallory'"],
    ['a request whose id was changed after signing', () => proven({ ...good, participantId: 'clinic-z' }), 'CSR subject'],
    ['a CSR asking for more than the CN', async () => proven({ ...good, csr: await csrFor('CN=mallory, O=Hospital', goodKeys) }), 'CSR subject'],
    ['a CSR for a P-384 key', async () => {
      const p384 = await generateEcdsaCryptoKeyPair('P-384');
      return proven({ ...good, csr: await csrFor('CN=mallory', p384, { name: 'ECDSA', hash: 'SHA-384' }) });
    }, 'CSR key type'],
    ['a csr that is not a CSR', () => ({ ...good, csr: 'hello' }), 'CSR format'],
    ['a signing proof made by another key', () => proven(good, generateSigningKeyPair().privateKeyPem), 'signing-key proof'],
    ['a signing public key swapped for another', () => ({ ...good, signingPublicKey: generateSigningKeyPair().publicKey }), 'signing-key proof'],
    ['a proof over another CSR', async () => ({ ...(await createCertificateRequest('mallory', await generateTlsKeyPair(), goodSigning)), csr: good.csr }), 'signing-key proof'],
    ['a proof with a flipped bit', () => ({ ...good, signingProof: `${good.signingProof[0] === 'A' ? 'B' : 'A'}${good.signingProof.slice(1)}` }), 'signing-key proof'],
  ])('refuses %s naming the file and the check, leaving KITS as they were', async (_what, forge, check, detail) => {
    const earlier = await provision({ ...base(), requests: requests().slice(0, 1) });
    const before = snapshot(outDir);
    const file = join(forgeries, `${check.replace(/\W+/g, '-')}-${Math.random().toString(36).slice(2)}.req.json`);
    writeFileSync(file, JSON.stringify(await forge()));
    const error = await failure(provision({ ...base(), requests: [...requests(), file], force: true }));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ code: 'CERTIFICATE_REQUEST_INVALID', details: { file, check } });
    expect(error.message).toMatch(new RegExp(`^certificate request '${file}' failed the ${check} check: .+; ask the participant to run \`cipher-nexus keygen\` again`));
    if (detail) expect(error.message).toContain(detail);
    expect(error.message).not.toContain('\n');
    expect(snapshot(outDir)).toEqual(before);
    expect(readdirSync(dir)).toEqual(['job-1']);
    expect(earlier.caFingerprint).toBe(certificateFingerprint(loadServerKit(serverKitPath(outDir)).caCertificate));
  });

  it.each([
    ['an id that breaks the pattern', () => ({ ...good, participantId: 'Mallory' }), 'CERTIFICATE_REQUEST_INVALID', "certificate request field 'participantId': expected a string matching"],
    ['an unknown field', () => ({ ...good, note: 'hi' }), 'CERTIFICATE_REQUEST_INVALID', "certificate request has unknown field 'note'"],
    ['a malformed proof', () => ({ ...good, signingProof: 'abc' }), 'CERTIFICATE_REQUEST_INVALID', "certificate request field 'signingProof': expected a string matching"],
    ['another version', () => ({ ...good, version: 2 }), 'CERTIFICATE_REQUEST_INVALID', "certificate request field 'version': expected 1, got 2"],
  ])('refuses a request with %s naming the file and the field, writing nothing', async (_what, forge, code, message) => {
    const file = join(forgeries, `format-${Math.random().toString(36).slice(2)}.req.json`);
    writeFileSync(file, JSON.stringify(forge()));
    const error = await failure(provision({ ...base(), requests: [file] }));
    expect(error).toMatchObject({ code });
    expect(error.message).toContain(message);
    expect(error.message).toContain(`(in '${file}')`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a request file that does not exist, or is not JSON', async () => {
    const missing = join(forgeries, 'nope.req.json');
    expect(await failure(provision({ ...base(), requests: [missing] }))).toMatchObject({ code: 'CERTIFICATE_REQUEST_NOT_FOUND', message: expect.stringContaining(`certificate request '${missing}' does not exist`) });
    const garbled = join(forgeries, 'garbled.req.json');
    writeFileSync(garbled, '{"version": 1,');
    expect(await failure(provision({ ...base(), requests: [garbled] }))).toMatchObject({ code: 'CERTIFICATE_REQUEST_INVALID', message: expect.stringContaining('is not JSON') });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses two requests for one id, one TLS key or one signing key, naming both files', async () => {
    const write = (name: string, request: CertificateRequest): string => {
      const file = join(forgeries, `${name}.req.json`);
      writeFileSync(file, JSON.stringify(request));
      return file;
    };
    const first = write('first', good);
    const cases: Array<[string, CertificateRequest]> = [
      ['duplicate id', await createCertificateRequest('mallory', await generateTlsKeyPair(), generateSigningKeyPair())],
      ['duplicate TLS key', await createCertificateRequest('mallory-2', goodKeys, generateSigningKeyPair())],
      ['duplicate signing key', await createCertificateRequest('mallory-3', await generateTlsKeyPair(), goodSigning)],
    ];
    for (const [check, request] of cases) {
      const second = write(check.replace(/ /g, '-'), request);
      const error = await failure(provision({ ...base(), requests: [first, second] }));
      expect(error).toMatchObject({ code: 'CERTIFICATE_REQUEST_INVALID', details: { file: second, check } });
      expect(error.message).toContain(`as '${first}'`);
    }
    // The same file given twice is the same participant twice.
    expect(await failure(provision({ ...base(), requests: [first, first] }))).toMatchObject({ details: { check: 'duplicate id' } });
    expect(readdirSync(dir)).toEqual([]);
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
