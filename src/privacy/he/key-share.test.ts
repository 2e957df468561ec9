import { randomBytes, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CipherNexusError } from '../../core/index.js';
import { generateHolderIdentity, generateParticipantIdentity, type MultipartySetup } from './committee.js';
import { encryptContribution } from './contribution.js';
import { combinePublicKey, generateKeyShare, openKeyShareAtRest, sealKeyShareAtRest, zeroiseKeyShare, type KeyShare } from './key-share.js';
import { SealRuntime } from './seal.js';
import { PRESETS } from './params.js';

const FAST = { log2N: 14 };
const holders = ['alpha', 'bravo', 'charlie'].map((id) => generateHolderIdentity(id));
const setup: MultipartySetup = { jobId: 'key-share-test', preset: 'n8192', crs: randomBytes(32), holders: holders.map((h) => h.info), minContributors: 1 };
let shares: KeyShare[];

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return error instanceof CipherNexusError ? error.code : `not a CipherNexusError: ${String(error)}`;
  }
  return undefined;
}

beforeAll(async () => {
  shares = [];
  for (const h of holders) shares.push(await generateKeyShare(setup, h.identity));
});

describe('multi-party key shares', () => {
  it('combines into one SEAL public key, the same bytes in any order, on the seed-given polynomial a', async () => {
    const commitments = shares.map((s) => s.commitment);
    const key = await combinePublicKey(setup, shares.map((s) => s.publicShare), commitments);
    const again = await combinePublicKey(setup, [shares[2], shares[0], shares[1]].map((s) => s.publicShare), [...commitments].reverse());
    expect(Buffer.from(again).equals(Buffer.from(key))).toBe(true);
    const { lib } = await SealRuntime.shared();
    const loaded = lib.PublicKey();
    loaded.loadArray((await SealRuntime.shared()).context(PRESETS.n8192).context, key);
    loaded.delete();
    // Another seed gives another key from the same secrets' holders.
    const other = { ...setup, crs: randomBytes(32) };
    const otherShares = [];
    for (const h of holders) otherShares.push(await generateKeyShare(other, h.identity));
    const otherKey = await combinePublicKey(other, otherShares.map((s) => s.publicShare), otherShares.map((s) => s.commitment));
    expect(Buffer.from(otherKey).equals(Buffer.from(key))).toBe(false);
  });

  it('refuses missing, repeated, altered, forged and other-setup public shares and commitments', async () => {
    const good = shares.map((s) => s.publicShare);
    const committed = shares.map((s) => s.commitment);
    const combine = (list: Uint8Array[], commitments = committed): Promise<Uint8Array> => combinePublicKey(setup, list, commitments);
    expect(await codeOf(combine(good.slice(0, 2)))).toBe('HE_SHARES_INCOMPLETE');
    expect(await codeOf(combine(good, committed.slice(1)))).toBe('HE_SHARES_INCOMPLETE');
    expect(await codeOf(combine([...good, good[1]]))).toBe('HE_SHARE_DUPLICATE');
    expect(await codeOf(combine(good, [...committed, committed[0]]))).toBe('HE_SHARE_DUPLICATE');
    const flipped = good[1].slice();
    flipped[5000] ^= 1;
    expect(await codeOf(combine([good[0], flipped, good[2]]))).toBe('HE_SHARE_FORGED');
    const flippedCommitment = committed[1].slice();
    flippedCommitment[60] ^= 1;
    expect(await codeOf(combine(good, [committed[0], flippedCommitment, committed[2]]))).toBe('HE_SHARE_FORGED');
    // bravo's share re-signed by alpha's key still names bravo.
    const body = good[1].subarray(0, good[1].length - 64);
    const resigned = Buffer.concat([body, sign(null, Buffer.concat([Buffer.from('cipher-nexus/he/mp/public-share/v1\0'), body]), holders[0].identity.signingKey)]);
    expect(await codeOf(combine([good[0], resigned, good[2]]))).toBe('HE_SHARE_FORGED');
    const otherSetup = { ...setup, minContributors: 2 };
    const foreign = (await generateKeyShare(otherSetup, holders[1].identity)).publicShare;
    expect(await codeOf(combine([good[0], foreign, good[2]]))).toBe('HE_SHARE_MISMATCH');
    expect(await codeOf(combine([good[0], good[1].subarray(0, 100), good[2]]))).toBe('HE_SHARE_INVALID');
  });

  it('refuses a public share other than the one its holder committed to (no rogue key chosen after seeing the others)', async () => {
    const committed = shares.map((s) => s.commitment);
    const second = await generateKeyShare(setup, holders[2].identity);
    const revealed = [shares[0].publicShare, shares[1].publicShare, second.publicShare];
    expect(await codeOf(combinePublicKey(setup, revealed, committed))).toBe('HE_SHARE_MISMATCH');
    expect(await combinePublicKey(setup, revealed, [committed[0], committed[1], second.commitment])).toBeInstanceOf(Uint8Array);
  });

  it('refuses a holder not in the setup, or one whose keys differ from the listed ones', async () => {
    expect(await codeOf(generateKeyShare(setup, generateHolderIdentity('delta').identity))).toBe('HE_KEY_INVALID');
    const impostor = { ...generateHolderIdentity('alpha').identity };
    expect(await codeOf(generateKeyShare(setup, impostor))).toBe('HE_KEY_INVALID');
    expect(await codeOf(generateKeyShare({ ...setup, holders: [holders[0].info, holders[0].info] }, holders[0].identity))).toBe('HE_SETUP_INVALID');
    expect(await codeOf(generateKeyShare({ ...setup, preset: 'n4096' }, holders[0].identity))).toBe('HE_PARAMS_INVALID');
  });

  it('lets participants encrypt only under the joint key of this seed, not under a key made by one party', async () => {
    const participant = generateParticipantIdentity('p1');
    const round = { roundContext: 'r1', participants: [participant.info] };
    const runtime = await SealRuntime.shared();
    const generator = runtime.lib.KeyGenerator(runtime.context(PRESETS.n8192).context);
    const single = generator.createPublicKey();
    const foreignKey = single.saveArray(runtime.lib.ComprModeType.none);
    single.delete();
    generator.delete();
    const input = { ...round, self: participant.identity, weights: new Float32Array(10), weight: 1 };
    expect(await codeOf(encryptContribution(setup, foreignKey, input))).toBe('HE_KEY_INVALID');
    const joint = await combinePublicKey(setup, shares.map((s) => s.publicShare), shares.map((s) => s.commitment));
    expect((await encryptContribution(setup, joint, input)).length).toBeGreaterThan(390_000);
  });

  it('stores a key share at rest with its spent rounds, and refuses a wrong passphrase or a damaged file', () => {
    const secret = shares[0].secret;
    secret.spentRounds.add('round-0');
    const file = sealKeyShareAtRest(secret, 'correct horse', FAST);
    const text = new TextDecoder().decode(file);
    expect(text).not.toContain(Buffer.from(secret.secretKey.subarray(200, 260)).toString('base64'));
    const opened = openKeyShareAtRest(file, 'correct horse');
    expect(Buffer.from(opened.secretKey).equals(Buffer.from(secret.secretKey))).toBe(true);
    expect([...opened.spentRounds]).toEqual(['round-0']);
    expect(opened.signingKey.export({ format: 'jwk' })).toEqual(secret.signingKey.export({ format: 'jwk' }));
    expect(opened.transportKey.export({ format: 'jwk' })).toEqual(secret.transportKey.export({ format: 'jwk' }));
    expect(opened.setupDigest).toBe(secret.setupDigest);
    return Promise.all([
      codeOf(() => openKeyShareAtRest(file, 'wrong')).then((c) => expect(c).toBe('HE_KEY_WRONG')),
      codeOf(() => openKeyShareAtRest(new TextEncoder().encode(text.replace('"holderId":"alpha"', '"holderId":"bravo"')), 'correct horse')).then((c) => expect(c).toBe('HE_KEY_WRONG')),
      codeOf(() => openKeyShareAtRest(file.subarray(0, 40), 'correct horse')).then((c) => expect(c).toBe('HE_KEY_INVALID')),
      codeOf(() => sealKeyShareAtRest(secret, '', FAST)).then((c) => expect(c).toBe('HE_KEY_INVALID')),
    ]);
  });

  it('zeroises the secret key bytes', async () => {
    const { secret } = await generateKeyShare(setup, holders[2].identity);
    zeroiseKeyShare(secret);
    expect(secret.secretKey.every((b) => b === 0)).toBe(true);
  });
});
