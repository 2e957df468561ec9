import { beforeAll, describe, expect, it } from 'vitest';
import { HomomorphicEncryption } from './homomorphic-encryption.js';
import {
  evaluationKeysOf,
  generateJobKeys,
  generateTransportKeyPair,
  openKeysAtRest,
  openSharedSecretKey,
  rotateJobKeys,
  sealKeysAtRest,
  shareSecretKey,
  zeroiseKeys,
  type EvaluationKeys,
  type ParticipantKeys,
} from './keys.js';

// Cheap scrypt for tests; the default (2^17) is what stored keys use.
const FAST = { log2N: 14 };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

let keys: ParticipantKeys;

beforeAll(async () => {
  keys = await generateJobKeys('job-keys', 'n4096');
});

describe('job keys', () => {
  it('gives the coordinator a type and an object without a secret key', () => {
    const evaluation = evaluationKeysOf(keys);
    expect('secretKey' in evaluation).toBe(false);
    expect(evaluation.keyId).toBe(keys.keyId);
    // @ts-expect-error participant keys carry a secret key, which EvaluationKeys excludes.
    const leaked: EvaluationKeys = keys;
    expect(leaked.kind).toBe('participant');
  });

  it('refuses evaluation keys that smuggle a secret key at run time', async () => {
    const smuggled = { ...evaluationKeysOf(keys), secretKey: keys.secretKey } as unknown as EvaluationKeys;
    await expect(HomomorphicEncryption.create(smuggled)).rejects.toMatchObject({ code: 'HE_KEY_INVALID' });
  });

  it('shares the secret key with another participant, who can then decrypt', async () => {
    const alice = generateTransportKeyPair();
    const share = shareSecretKey(keys, alice.publicKey);
    const received = openSharedSecretKey(share, alice.privateKey);
    expect(received.keyId).toBe(keys.keyId);
    const holder = await HomomorphicEncryption.create(keys);
    const other = await HomomorphicEncryption.create(received);
    const values = await other.decrypt(await holder.encrypt([0.5, -0.75]));
    expect(Math.abs(values[0] - 0.5) + Math.abs(values[1] + 0.75)).toBeLessThan(1e-6);
    holder.dispose();
    other.dispose();
  });

  it('refuses a share opened with the wrong transport key or re-labelled for another key', () => {
    const share = shareSecretKey(keys, generateTransportKeyPair().publicKey);
    expect(codeOf(() => openSharedSecretKey(share, generateTransportKeyPair().privateKey))).toBe('HE_KEY_WRONG');
    expect(codeOf(() => openSharedSecretKey({ ...share, jobId: 'another-job' }, generateTransportKeyPair().privateKey))).toBe('HE_KEY_INVALID');
  });

  it('stores the secret key encrypted at rest and refuses a wrong passphrase', () => {
    const file = sealKeysAtRest(keys, 'correct horse battery staple', FAST);
    const text = new TextDecoder().decode(file);
    expect(text).not.toContain(Buffer.from(keys.secretKey).toString('base64').slice(0, 40));
    const opened = openKeysAtRest(file, 'correct horse battery staple');
    expect(Buffer.from(opened.secretKey).equals(Buffer.from(keys.secretKey))).toBe(true);
    expect(codeOf(() => openKeysAtRest(file, 'wrong passphrase'))).toBe('HE_KEY_WRONG');
    expect(codeOf(() => openKeysAtRest(file.subarray(0, 50), 'correct horse battery staple'))).toBe('HE_KEY_INVALID');
    const relabelled = new TextEncoder().encode(text.replace('"generation":1', '"generation":2'));
    expect(codeOf(() => openKeysAtRest(relabelled, 'correct horse battery staple'))).toBe('HE_KEY_WRONG');
    expect(codeOf(() => sealKeysAtRest(keys, '', FAST))).toBe('HE_KEY_INVALID');
  });

  it('rotates per job: a new key id, and ciphertexts under the old one are refused', async () => {
    const next = await rotateJobKeys(keys);
    expect(next.generation).toBe(2);
    expect(next.jobId).toBe(keys.jobId);
    expect(next.keyId).not.toBe(keys.keyId);
    const old = await HomomorphicEncryption.create(keys);
    const current = await HomomorphicEncryption.create(next);
    await expect(current.decrypt(await old.encrypt([1]))).rejects.toMatchObject({ code: 'HE_KEY_MISMATCH' });
    old.dispose();
    current.dispose();
  });

  it('zeroises secret key bytes and refuses use after dispose', async () => {
    const copy = { ...keys, secretKey: keys.secretKey.slice() };
    const he = await HomomorphicEncryption.create(copy);
    zeroiseKeys(copy);
    expect(copy.secretKey.every((b) => b === 0)).toBe(true);
    expect(await he.decrypt(await he.encrypt([0.25]))).toHaveLength(1);
    he.dispose();
    await expect(he.encrypt([1])).rejects.toMatchObject({ code: 'HE_KEY_MISSING' });
  });

  it('refuses job ids that could escape a key directory', async () => {
    await expect(generateJobKeys('../etc', 'n4096')).rejects.toMatchObject({ code: 'HE_KEY_INVALID' });
  });
});
