import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/index.js';
import { CertificateAuthority, certificateFingerprint } from './certificate-authority.js';
import { assembleParticipantKit, certificateBundlePath, type CertificateBundle } from './certificate-bundle.js';
import { generateParticipantKeys, type GenerateParticipantKeysResult } from './participant-keys.js';
import { provision } from './provision.js';
import { rosterSignedBy, signRoster } from './roster.js';
import { loadParticipantKit, loadServerKit, serverKitPath } from './startup-kit.js';

let dir: string;
let alice: GenerateParticipantKeysResult;
let bob: GenerateParticipantKeysResult;
let job: string;
let bundle: (id: string) => CertificateBundle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-bundle-'));
  alice = await generateParticipantKeys({ participantId: 'alice', outDir: join(dir, 'alice') });
  bob = await generateParticipantKeys({ participantId: 'bob', outDir: join(dir, 'bob') });
  job = join(dir, 'job');
  await provision({ outDir: job, requests: [alice.requestFile, bob.requestFile], serverHost: 'coord.example', serverPort: 9443, validDays: 5 });
  bundle = (id) => JSON.parse(readFileSync(certificateBundlePath(job, id), 'utf8'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function scratch(value: unknown): string {
  const file = join(dir, `bundle-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

/** Alice's bundle with a certificate from another CA for `name` and the TLS key in `keysOf`'s request. */
async function rogueBundle(name: string, keysOf: GenerateParticipantKeysResult): Promise<string> {
  const ca = await CertificateAuthority.create({ commonName: 'rogue', validDays: 1 });
  const key = new x509.Pkcs10CertificateRequest(JSON.parse(readFileSync(keysOf.requestFile, 'utf8')).csr).publicKey;
  const certificate = (await ca.issueParticipantCertificate(name, key, 1)).certificatePem;
  return scratch({ ...bundle('alice'), caCertificate: ca.certificatePem, certificate });
}

function refusal(run: () => unknown): InvalidInputError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('the kit was assembled');
}

describe('assembleParticipantKit', () => {
  it('writes the kit the client loads, beside the key file and readable by the owner only, and tells the CA fingerprint', () => {
    const result = assembleParticipantKit({ keyFile: alice.keyFile, bundleFile: certificateBundlePath(job, 'alice') });
    expect(result.kitFile).toBe(join(dir, 'alice', 'alice.kit.json'));
    expect(statSync(result.kitFile).mode & 0o777).toBe(0o600);
    expect(loadParticipantKit(result.kitFile)).toEqual(result.kit);
    expect(result.kit).toMatchObject({ participantId: 'alice', coordinatorUrl: 'https://coord.example:9443', certificate: bundle('alice').certificate });
    expect(result.caFingerprint).toBe(certificateFingerprint(loadServerKit(serverKitPath(job)).caCertificate));
    // The kit's certificate is the one the coordinator pins for alice.
    expect(certificateFingerprint(result.kit.certificate)).toBe(loadServerKit(serverKitPath(job)).participants.get('alice')?.certificateFingerprint);
  });

  it('refuses to replace an existing kit unless forced', () => {
    const outFile = join(dir, 'kits', 'bob.json');
    assembleParticipantKit({ keyFile: bob.keyFile, bundleFile: certificateBundlePath(job, 'bob'), outFile });
    const error = refusal(() => assembleParticipantKit({ keyFile: bob.keyFile, bundleFile: certificateBundlePath(job, 'bob'), outFile }));
    expect(error).toMatchObject({ code: 'KIT_EXISTS', message: `'${outFile}' exists; pass force (--force) to replace it with the kit of this bundle` });
    expect(assembleParticipantKit({ keyFile: bob.keyFile, bundleFile: certificateBundlePath(job, 'bob'), outFile, force: true }).kitFile).toBe(outFile);
  });

  it.each<[string, () => Promise<string> | string, string]>([
    ["another participant's bundle", () => certificateBundlePath(job, 'bob'), 'participant'],
    // What an operator who swapped in a key of its own would hand out: its CA, alice's name, not alice's key.
    ['a certificate in its name for another key', () => rogueBundle('alice', bob), 'public key'],
    ['a certificate for its key in another name', () => rogueBundle('bob', alice), 'subject'],
    ['a certificate not issued by the CA in the bundle', async () => scratch({ ...bundle('alice'), caCertificate: (await CertificateAuthority.create({ commonName: 'other', validDays: 1 })).certificatePem }), 'issuer'],
  ])('refuses %s naming the bundle and the check, writing nothing', async (_what, bundleFile, check) => {
    const file = await bundleFile();
    const outFile = join(dir, 'refused', `${check.replace(/ /g, '-')}.kit.json`);
    const error = refusal(() => assembleParticipantKit({ keyFile: alice.keyFile, bundleFile: file, outFile }));
    expect(error.code).toBe('CERTIFICATE_BUNDLE_MISMATCH');
    expect(error.details).toEqual({ file, check });
    expect(error.message).toMatch(new RegExp(`^certificate bundle '${file}' failed the ${check} check: `));
    expect(() => statSync(outFile)).toThrow();
  });

  it('refuses a bundle or key file that is missing or malformed, naming the file and the field', () => {
    expect(refusal(() => assembleParticipantKit({ keyFile: alice.keyFile, bundleFile: join(dir, 'none.json') }))).toMatchObject({ code: 'CERTIFICATE_BUNDLE_NOT_FOUND' });
    expect(refusal(() => assembleParticipantKit({ keyFile: certificateBundlePath(job, 'alice'), bundleFile: certificateBundlePath(job, 'alice') }))).toMatchObject({ code: 'PARTICIPANT_KEY_INVALID' });
    const bad = scratch({ ...bundle('alice'), coordinatorUrl: 'http://coord.example:9443' });
    expect(refusal(() => assembleParticipantKit({ keyFile: alice.keyFile, bundleFile: bad }))).toMatchObject({
      code: 'CERTIFICATE_BUNDLE_INVALID',
      message: expect.stringContaining("certificate bundle field 'coordinatorUrl'"),
    });
  });

  it('copies the CA-signed roster of every participant into the kit, and refuses a roster that was altered or re-signed', async () => {
    const out = join(dir, 'roster-kit.json');
    const { kit } = assembleParticipantKit({ keyFile: alice.keyFile, bundleFile: certificateBundlePath(job, 'alice'), outFile: out });
    expect(Object.keys(kit.roster?.participants ?? {}).sort()).toEqual(['alice', 'bob']);
    expect(kit.roster?.participants.bob).toBe(JSON.parse(readFileSync(bob.keyFile, 'utf8')).signingPublicKey);
    expect(rosterSignedBy(kit.roster!, kit.caCertificate)).toBe(true);
    const original = bundle('alice');
    const roster = original.roster!;
    const mallory = { ...roster, participants: { ...roster.participants, mallory: roster.participants.bob } };
    expect(refusal(() => assembleParticipantKit({ keyFile: alice.keyFile, bundleFile: scratch({ ...original, roster: mallory }), outFile: join(dir, 'x1.json') })).details).toMatchObject({ check: 'roster' });
    const rogue = await CertificateAuthority.create({ commonName: 'rogue', validDays: 1 });
    const resigned = await signRoster(rogue, mallory.participants);
    expect(refusal(() => assembleParticipantKit({ keyFile: alice.keyFile, bundleFile: scratch({ ...original, roster: resigned }), outFile: join(dir, 'x2.json') })).details).toMatchObject({ check: 'roster' });
    const withoutAlice = await signRoster(rogue, { bob: roster.participants.bob });
    expect(rosterSignedBy(withoutAlice, rogue.certificatePem)).toBe(true);
    expect(rosterSignedBy(withoutAlice, original.caCertificate)).toBe(false);
  });
});
