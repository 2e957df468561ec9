import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes,
  scryptSync,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { generateCurveKeyPair, parseWithSchema } from '../../core/index.js';
import { HeKeyError } from './errors.js';
import { checkParams, paramsHash, resolveParams, type EncryptionParams, type PresetName } from './params.js';
import { SealRuntime } from './seal.js';

/** What every holder of a job key knows: the job, the key's id and generation, and the parameters. */
export interface JobKeyInfo {
  readonly jobId: string;
  /** Hex id bound to the job, the parameters and the public key; every ciphertext carries it. */
  readonly keyId: string;
  /** 1 for a job's first key, +1 on each rotation. */
  readonly generation: number;
  readonly params: EncryptionParams;
  readonly paramsHash: string;
  /** SEAL public key (seeded, zstd). */
  readonly publicKey: Uint8Array;
  /** SEAL relinearisation keys (seeded, zstd): the evaluation keys ciphertext multiplication needs. */
  readonly relinKeys: Uint8Array;
}

/** The coordinator's view of a job key: public and evaluation keys only. `secretKey?: never` makes participant keys unassignable to it. */
export interface EvaluationKeys extends JobKeyInfo {
  readonly kind: 'evaluation';
  readonly secretKey?: never;
}

/** A participant's job key, secret key included (SEAL-serialised). */
export interface ParticipantKeys extends JobKeyInfo {
  readonly kind: 'participant';
  readonly secretKey: Uint8Array;
}

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) {
    throw new HeKeyError('HE_KEY_INVALID', `job id '${jobId}' must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`, {
      jobId,
    });
  }
}

/** Key id: sha256 over the job, parameters and public key, first 16 bytes in hex. */
export function computeKeyId(jobId: string, hash: string, publicKey: Uint8Array): string {
  return createHash('sha256').update(`cipher-nexus/he/key-id/v1\0${jobId}\0${hash}\0`).update(publicKey).digest('hex').slice(0, 32);
}

/** Generates a job's CKKS keys on the participant chosen as key holder; share the result with `shareSecretKey`. */
export async function generateJobKeys(jobId: string, params: EncryptionParams | PresetName = 'n8192', generation = 1): Promise<ParticipantKeys> {
  checkJobId(jobId);
  const resolved = resolveParams(params);
  const runtime = await SealRuntime.shared();
  const { context } = runtime.context(resolved);
  const { lib } = runtime;
  const zstd = lib.ComprModeType.zstd;
  return runtime.guard(() => {
    const generator = lib.KeyGenerator(context);
    const secret = generator.secretKey();
    // Serializable forms store the uniformly random half of each key as a seed (SEAL examples/7_serialization.cpp).
    const publicSerializable = generator.createPublicKeySerializable();
    const relinSerializable = generator.createRelinKeysSerializable();
    try {
      const publicKey = publicSerializable.saveArray(zstd);
      const hash = paramsHash(resolved);
      return {
        kind: 'participant',
        jobId,
        keyId: computeKeyId(jobId, hash, publicKey),
        generation,
        params: resolved,
        paramsHash: hash,
        publicKey,
        relinKeys: relinSerializable.saveArray(zstd),
        secretKey: secret.saveArray(zstd),
      };
    } finally {
      publicSerializable.delete();
      relinSerializable.delete();
      secret.delete();
      generator.delete();
    }
  });
}

/** A job's next key (generation + 1), for rotation: ciphertexts under the old key id are refused by instances of the new one. */
export async function rotateJobKeys(current: JobKeyInfo): Promise<ParticipantKeys> {
  return generateJobKeys(current.jobId, current.params, current.generation + 1);
}

/** What the coordinator may hold: a copy without the secret key. */
export function evaluationKeysOf(keys: JobKeyInfo): EvaluationKeys {
  const { jobId, keyId, generation, params, paramsHash: hash, publicKey, relinKeys } = keys;
  return { kind: 'evaluation', jobId, keyId, generation, params, paramsHash: hash, publicKey: publicKey.slice(), relinKeys: relinKeys.slice() };
}

/** Overwrites the secret key bytes; call when the keys are no longer needed. */
export function zeroiseKeys(keys: ParticipantKeys): void {
  keys.secretKey.fill(0);
}

/** Checks that a key's id matches its job, parameters and public key; throws `HE_KEY_INVALID` otherwise. */
export function checkKeyBinding(info: JobKeyInfo): void {
  if (info.paramsHash !== paramsHash(info.params) || info.keyId !== computeKeyId(info.jobId, info.paramsHash, info.publicKey)) {
    throw new HeKeyError('HE_KEY_INVALID', `key ${info.keyId} of job ${info.jobId} does not match its public key or parameters; obtain it again from the key holder`, {
      keyId: info.keyId,
    });
  }
}

// Authenticated data for both wrappings: a wrapped secret key only opens as the key of the job and id it was made for.
function associatedData(info: JobKeyInfo, purpose: string): Buffer {
  return Buffer.from(`cipher-nexus/he/${purpose}/v1\0${info.jobId}\0${info.keyId}\0${info.generation}\0${info.paramsHash}`);
}

/** AES-256-GCM under `key` with a fresh nonce; also the box of multi-party key shares at rest. */
export function seal(key: Buffer, plaintext: Uint8Array, aad: Buffer): { iv: Buffer; ciphertext: Buffer; tag: Buffer } {
  // AES-256-GCM with a fresh random 96-bit nonce (NIST SP 800-38D §8.2.2); each key encrypts one message only.
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

/** Opens a `seal` box; a wrong key or altered box or associated data gives `HE_KEY_WRONG` with the message `wrong`. */
export function open(key: Buffer, box: { iv: Uint8Array; ciphertext: Uint8Array; tag: Uint8Array }, aad: Buffer, wrong: string): Uint8Array {
  const decipher = createDecipheriv('aes-256-gcm', key, box.iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(box.tag);
  const first = decipher.update(box.ciphertext);
  try {
    return new Uint8Array(Buffer.concat([first, decipher.final()]));
  } catch {
    first.fill(0);
    throw new HeKeyError('HE_KEY_WRONG', wrong);
  }
}

/** A participant's X25519 key pair for receiving the job's secret key. */
export function generateTransportKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateCurveKeyPair('x25519');
}

/** The job's secret key encrypted to one participant's X25519 public key, with the public keys it belongs to. */
export interface SharedSecretKey extends JobKeyInfo {
  /** Sender's ephemeral X25519 public key (raw, 32 bytes). */
  readonly ephemeralPublicKey: Uint8Array;
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly tag: Uint8Array;
}

function transportKey(shared: Buffer, ephemeral: Uint8Array, info: JobKeyInfo): Buffer {
  // ECIES-style: X25519 (RFC 7748) then HKDF-SHA256 (RFC 5869) salted with the ephemeral key, info naming the job key.
  return Buffer.from(hkdfSync('sha256', shared, ephemeral, `cipher-nexus/he/share/v1\0${info.keyId}`, 32));
}

const rawX25519 = (key: KeyObject): Buffer => Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url');

/** Encrypts the job's secret key for one participant (ephemeral X25519 + HKDF-SHA256 + AES-256-GCM). */
export function shareSecretKey(keys: ParticipantKeys, recipient: KeyObject): SharedSecretKey {
  const ephemeral = generateCurveKeyPair('x25519');
  const ephemeralPublicKey = rawX25519(ephemeral.publicKey);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const key = transportKey(shared, ephemeralPublicKey, keys);
  try {
    const box = seal(key, keys.secretKey, associatedData(keys, 'share'));
    const { kind: _kind, secretKey: _secret, ...info } = keys;
    return { ...info, ephemeralPublicKey, ...box };
  } finally {
    shared.fill(0);
    key.fill(0);
  }
}

/** Opens a shared secret key with the recipient's X25519 private key; a different private key gives `HE_KEY_WRONG`. */
export function openSharedSecretKey(share: SharedSecretKey, recipient: KeyObject): ParticipantKeys {
  const info: JobKeyInfo = { ...share, params: checkParams(share.params) };
  checkKeyBinding(info);
  const ephemeral = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(share.ephemeralPublicKey).toString('base64url') }, format: 'jwk' });
  const shared = diffieHellman({ privateKey: recipient, publicKey: ephemeral });
  const key = transportKey(shared, share.ephemeralPublicKey, info);
  try {
    const secretKey = open(key, share, associatedData(info, 'share'), `the secret key of job ${share.jobId} was not shared with this transport key`);
    return { kind: 'participant', ...pick(info), secretKey };
  } finally {
    shared.fill(0);
    key.fill(0);
  }
}

function pick(info: JobKeyInfo): JobKeyInfo {
  const { jobId, keyId, generation, params, paramsHash: hash, publicKey, relinKeys } = info;
  return { jobId, keyId, generation, params, paramsHash: hash, publicKey, relinKeys };
}

/** scrypt cost for keys at rest: log2 N = 17, r = 8, p = 1 (RFC 7914 §2; OWASP's minimum for scrypt), about 128 MiB. */
export const DEFAULT_SCRYPT_LOG2N = 17;

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const KeyFileSchema = z
  .object({
    format: z.literal('cipher-nexus/he-key'),
    version: z.literal(1),
    jobId: z.string(),
    keyId: z.string(),
    generation: z.number().int().min(1),
    params: z.unknown(),
    paramsHash: z.string(),
    publicKey: b64,
    relinKeys: b64,
    kdf: z.object({ name: z.literal('scrypt'), log2N: z.number().int().min(14).max(22), r: z.number().int().min(1).max(32), p: z.number().int().min(1).max(16), salt: b64 }).strict(),
    iv: b64,
    tag: b64,
    secretKey: b64,
  })
  .strict();

/** The 32-byte key scrypt derives from a passphrase (NFC-normalised). */
export function scryptKey(passphrase: string, salt: Buffer, log2N: number, r: number, p: number): Buffer {
  const N = 2 ** log2N;
  // scrypt needs 128 * N * r bytes; Node refuses above maxmem (32 MiB by default), so allow that plus slack.
  return scryptSync(passphrase.normalize('NFC'), salt, 32, { N, r, p, maxmem: 128 * N * r + 2 ** 24 });
}

/** Encrypts a participant's keys for storage: scrypt-derived key, AES-256-GCM bound to the job and key id; returns the file's bytes. */
export function sealKeysAtRest(keys: ParticipantKeys, passphrase: string, options: { log2N?: number } = {}): Uint8Array {
  if (passphrase.length === 0) throw new HeKeyError('HE_KEY_INVALID', 'a passphrase is required to store a secret key');
  const log2N = options.log2N ?? DEFAULT_SCRYPT_LOG2N;
  const salt = randomBytes(16);
  const key = scryptKey(passphrase, salt, log2N, 8, 1);
  try {
    const box = seal(key, keys.secretKey, associatedData(keys, 'rest'));
    const file = {
      format: 'cipher-nexus/he-key',
      version: 1,
      jobId: keys.jobId,
      keyId: keys.keyId,
      generation: keys.generation,
      params: keys.params,
      paramsHash: keys.paramsHash,
      publicKey: Buffer.from(keys.publicKey).toString('base64'),
      relinKeys: Buffer.from(keys.relinKeys).toString('base64'),
      kdf: { name: 'scrypt', log2N, r: 8, p: 1, salt: salt.toString('base64') },
      iv: box.iv.toString('base64'),
      tag: box.tag.toString('base64'),
      secretKey: box.ciphertext.toString('base64'),
    };
    return new TextEncoder().encode(JSON.stringify(file));
  } finally {
    key.fill(0);
  }
}

/** Opens keys stored by `sealKeysAtRest`; a wrong passphrase gives `HE_KEY_WRONG`, a damaged file `HE_KEY_INVALID`. */
export function openKeysAtRest(bytes: Uint8Array, passphrase: string): ParticipantKeys {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new HeKeyError('HE_KEY_INVALID', 'the key file is not JSON; it is damaged or not a Cipher Nexus HE key');
  }
  const file = parseWithSchema(json, KeyFileSchema, 'HE key file', { code: 'HE_KEY_INVALID' });
  const info: JobKeyInfo = {
    jobId: file.jobId,
    keyId: file.keyId,
    generation: file.generation,
    params: checkParams(file.params),
    paramsHash: file.paramsHash,
    publicKey: new Uint8Array(Buffer.from(file.publicKey, 'base64')),
    relinKeys: new Uint8Array(Buffer.from(file.relinKeys, 'base64')),
  };
  checkKeyBinding(info);
  const key = scryptKey(passphrase, Buffer.from(file.kdf.salt, 'base64'), file.kdf.log2N, file.kdf.r, file.kdf.p);
  try {
    const box = { iv: Buffer.from(file.iv, 'base64'), tag: Buffer.from(file.tag, 'base64'), ciphertext: Buffer.from(file.secretKey, 'base64') };
    const secretKey = open(key, box, associatedData(info, 'rest'), `wrong passphrase for the key ${info.keyId} of job ${info.jobId}, or the key file was altered`);
    return { kind: 'participant', ...info, secretKey };
  } finally {
    key.fill(0);
  }
}
