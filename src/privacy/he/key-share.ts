import { createHash, createPrivateKey, randomBytes, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { CipherNexusError, concatBytes, parseWithSchema } from '../../core/index.js';
import { frame, publicKeyObject, publicKeyOf, type HolderIdentity, type MultipartySetup } from './committee.js';
import { HeKeyError, HeShareError } from './errors.js';
import { DEFAULT_SCRYPT_LOG2N, open, scryptKey, seal } from './keys.js';
import { multipartyContext, type MultipartyContext } from './multiparty-context.js';
import { addInto, checkReduced, polyWords, rlweError, rlweSample } from './rns.js';
import { parseSealCiphertext, parseSealPlaintext, writeSealCiphertext } from './seal-format.js';

/** A holder's part of the job's secret key, with its identity keys and the rounds it already shared; never leaves the holder. */
export interface KeyShareSecret {
  readonly jobId: string;
  readonly holderId: string;
  /** Digest of the setup this share belongs to. */
  readonly setupDigest: string;
  /** s_i as a SEAL SecretKey, uncompressed. */
  readonly secretKey: Uint8Array;
  readonly signingKey: KeyObject;
  readonly transportKey: KeyObject;
  /** Round contexts this holder gave decryption shares for; store it again (`sealKeyShareAtRest`) after every round. */
  readonly spentRounds: Set<string>;
}

/**
 * A new key share: the secret to keep; a signed commitment to the public share, to send to everyone first; and the
 * signed public share b_i, to send only once every holder's commitment has arrived.
 */
export interface KeyShare {
  readonly secret: KeyShareSecret;
  readonly commitment: Uint8Array;
  readonly publicShare: Uint8Array;
}

const PUBLIC = { magic: Buffer.from('CNPK'), domain: 'cipher-nexus/he/mp/public-share/v1\0', what: 'public key share' };
const COMMITMENT = { magic: Buffer.from('CNKC'), domain: 'cipher-nexus/he/mp/public-share-commitment/v1\0', what: 'public key share commitment' };
const FORMAT_VERSION = 1;
const SIGNATURE_BYTES = 64;

type Envelope = typeof PUBLIC;

/** magic, version, setup digest, holder id, payload, then the holder's Ed25519 signature over a domain and all of it. */
function signedEnvelope(kind: Envelope, ctx: MultipartyContext, identity: HolderIdentity, payload: Uint8Array): Uint8Array {
  const body = Buffer.concat([kind.magic, Buffer.of(FORMAT_VERSION), Buffer.from(ctx.setup.digest, 'hex'), frame(identity.id), payload]);
  return concatBytes([body, sign(null, Buffer.concat([Buffer.from(kind.domain), body]), identity.signingKey)]);
}

/** Checks a signed envelope of `payloadBytes` and returns the holder it is from and its payload. */
function openEnvelope(kind: Envelope, ctx: MultipartyContext, bytes: Uint8Array, payloadBytes: number): { holderId: string; payload: Buffer } {
  const invalid = (problem: string): never => {
    throw new HeShareError('HE_SHARE_INVALID', `a ${kind.what} is damaged (${problem}); ask its holder to send it again`, { problem });
  };
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = kind.magic.length + 1 + 32;
  if (buffer.length < head + 4 + SIGNATURE_BYTES || !buffer.subarray(0, 4).equals(kind.magic)) invalid(`not a ${kind.what}`);
  if (buffer[4] !== FORMAT_VERSION) invalid(`format version ${buffer[4]}`);
  const idEnd = head + 4 + buffer.readUInt32LE(head);
  if (buffer.length !== idEnd + payloadBytes + SIGNATURE_BYTES) invalid(`length ${buffer.length} does not fit these parameters`);
  const holderId = buffer.toString('utf8', head + 4, idEnd);
  const holder = ctx.setup.holders.find((h) => h.id === holderId);
  if (holder === undefined) throw new HeShareError('HE_SHARE_FORGED', `a ${kind.what} names '${holderId}', who is not a holder of job ${ctx.setup.jobId}`, { holder: holderId });
  const body = buffer.subarray(0, buffer.length - SIGNATURE_BYTES);
  if (!verify(null, Buffer.concat([Buffer.from(kind.domain), body]), publicKeyObject(holder.signingPublicKey, 'Ed25519'), buffer.subarray(body.length))) {
    throw new HeShareError('HE_SHARE_FORGED', `the ${kind.what} of '${holderId}' is not signed by that holder's signing key`, { holder: holderId });
  }
  if (buffer.toString('hex', 5, head) !== ctx.setup.digest) {
    throw new HeShareError('HE_SHARE_MISMATCH', `the ${kind.what} of '${holderId}' was made for another setup of job ${ctx.setup.jobId}`, { holder: holderId });
  }
  return { holderId, payload: buffer.subarray(idEnd, idEnd + payloadBytes) };
}

function ownHolder(ctx: MultipartyContext, identity: { id: string; signingKey: KeyObject; transportKey: KeyObject }): void {
  const holder = ctx.setup.holders.find((h) => h.id === identity.id);
  if (holder === undefined) throw new HeKeyError('HE_KEY_INVALID', `'${identity.id}' is not a holder of job ${ctx.setup.jobId}; the setup lists ${ctx.setup.holders.map((h) => h.id).join(', ')}`);
  const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b);
  if (!same(publicKeyOf(identity.signingKey), holder.signingPublicKey) || !same(publicKeyOf(identity.transportKey), holder.transportPublicKey)) {
    throw new HeKeyError('HE_KEY_INVALID', `the keys given for holder '${identity.id}' are not the ones the setup of job ${ctx.setup.jobId} lists for it`);
  }
}

/**
 * Key generation of Mouchet et al. 2021 (§4.1, "EncKeyGen"): a fresh SEAL secret key s_i and the public share
 * b_i = -a s_i + e_i on the common polynomial a. The error e_i comes from SEAL's own sampler: the public key SEAL makes
 * for s_i is (-a' s_i + e_i, a'), so e_i = b' + a' s_i, computed pointwise in NTT form and never published.
 */
export async function generateKeyShare(setup: MultipartySetup, identity: HolderIdentity): Promise<KeyShare> {
  const ctx = await multipartyContext(setup);
  ownHolder(ctx, identity);
  const { runtime } = ctx;
  const { lib } = runtime;
  const none = lib.ComprModeType.none;
  const { secretKey, ownPublic } = runtime.guard(() => {
    const generator = lib.KeyGenerator(ctx.bundle.context);
    const sk = generator.secretKey();
    const pk = generator.createPublicKey();
    try {
      return { secretKey: sk.saveArray(none), ownPublic: pk.saveArray(none) };
    } finally {
      pk.delete();
      sk.delete();
      generator.delete();
    }
  });
  const s = parseSealPlaintext(secretKey, 'secret key').data;
  const own = parseSealCiphertext(ownPublic, 'public key').data;
  const error = rlweError(own, own, s, ctx.keyBasis, polyWords(ctx.keyBasis));
  const b = rlweSample(ctx.crsPoly, s, error, ctx.keyBasis);
  for (const secretWords of [s, own, error]) secretWords.fill(0n);
  ownPublic.fill(0);
  const publicShare = signedEnvelope(PUBLIC, ctx, identity, new Uint8Array(b.buffer));
  return {
    secret: {
      jobId: ctx.setup.jobId,
      holderId: identity.id,
      setupDigest: ctx.setup.digest,
      secretKey,
      signingKey: identity.signingKey,
      transportKey: identity.transportKey,
      spentRounds: new Set(),
    },
    commitment: signedEnvelope(COMMITMENT, ctx, identity, createHash('sha256').update(publicShare).digest()),
    publicShare,
  };
}

function parsePublicShare(ctx: MultipartyContext, bytes: Uint8Array): { holderId: string; b: BigUint64Array } {
  const words = polyWords(ctx.keyBasis);
  const { holderId, payload } = openEnvelope(PUBLIC, ctx, bytes, 8 * words);
  const b = new BigUint64Array(payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.length));
  try {
    checkReduced(b, ctx.keyBasis, `public key share of '${holderId}'`);
  } catch {
    throw new HeShareError('HE_SHARE_INVALID', `the public key share of '${holderId}' holds unreduced words; ask it to send it again`, { holder: holderId });
  }
  return { holderId, b };
}

/** Exactly one item per holder, or `HE_SHARE_DUPLICATE` / `HE_SHARES_INCOMPLETE`. */
function onePerHolder<T>(ctx: MultipartyContext, items: readonly { holderId: string; value: T }[], what: string): Map<string, T> {
  const byHolder = new Map<string, T>();
  for (const { holderId, value } of items) {
    if (byHolder.has(holderId)) throw new HeShareError('HE_SHARE_DUPLICATE', `two ${what}s from holder '${holderId}'; give each holder's once`, { holder: holderId });
    byHolder.set(holderId, value);
  }
  const missing = ctx.setup.holders.filter((h) => !byHolder.has(h.id)).map((h) => h.id);
  if (missing.length > 0) throw new HeShareError('HE_SHARES_INCOMPLETE', `${what}s missing from ${missing.join(', ')}; the joint key needs all holders`, { missing });
  return byHolder;
}

/**
 * The joint public key (sum of b_i, a) as a SEAL PublicKey (uncompressed), from every holder's signed share: the same
 * bytes whoever computes it, so participants recompute it from the shares instead of trusting anyone's copy. Each share
 * must match the commitment its holder signed before any share was revealed: without that round, the last holder to
 * reveal could pick b_K = (-a s' + e') - (the others' sum) and hold the whole key s' alone (a rogue-key attack).
 */
export async function combinePublicKey(setup: MultipartySetup, publicShares: readonly Uint8Array[], commitments: readonly Uint8Array[]): Promise<Uint8Array> {
  const ctx = await multipartyContext(setup);
  const committed = onePerHolder(ctx, commitments.map((bytes) => {
    const { holderId, payload } = openEnvelope(COMMITMENT, ctx, bytes, 32);
    return { holderId, value: payload };
  }), 'public key share commitment');
  const shares = onePerHolder(ctx, publicShares.map((bytes) => {
    const { holderId, b } = parsePublicShare(ctx, bytes);
    if (!createHash('sha256').update(bytes).digest().equals(committed.get(holderId) ?? Buffer.alloc(0))) {
      throw new HeShareError('HE_SHARE_MISMATCH', `the public key share of '${holderId}' is not the one it committed to; a holder must not change its share after seeing the others'`, {
        holder: holderId,
      });
    }
    return { holderId, value: b };
  }), 'public key share');
  const sum = new BigUint64Array(polyWords(ctx.keyBasis));
  for (const b of shares.values()) addInto(sum, b, ctx.keyBasis);
  const data = new BigUint64Array(2 * sum.length);
  data.set(sum);
  data.set(ctx.crsPoly, sum.length);
  const bytes = writeSealCiphertext({
    parmsId: ctx.keyParmsId,
    nttForm: true,
    size: 2,
    polyModulusDegree: ctx.keyBasis.degree,
    coeffModulusSize: ctx.keyBasis.moduli.length,
    scale: 1,
    data,
  });
  // SEAL itself must accept what was written: its loader runs the same validity checks Encryptor relies on.
  loadJointPublicKey(ctx, bytes).delete();
  return bytes;
}

type SealPublicKey = ReturnType<MultipartyContext['runtime']['lib']['PublicKey']>;

/** Loads the joint public key into SEAL after checking that it is a key-level key on this job's polynomial a. */
export function loadJointPublicKey(ctx: MultipartyContext, bytes: Uint8Array): SealPublicKey {
  const wrong = (why: string): never => {
    throw new HeKeyError('HE_KEY_INVALID', `not the joint public key of job ${ctx.setup.jobId} (${why}); recompute it with combinePublicKey from the holders' signed shares`);
  };
  let parsed;
  try {
    parsed = parseSealCiphertext(bytes, 'public key');
  } catch (error) {
    return wrong((error as Error).message);
  }
  const words = polyWords(ctx.keyBasis);
  if (parsed.parmsId !== ctx.keyParmsId || parsed.size !== 2 || !parsed.nttForm || parsed.data.length !== 2 * words) wrong('wrong level, size or form');
  for (let i = 0; i < words; i++) if (parsed.data[words + i] !== ctx.crsPoly[i]) wrong('its polynomial a is not the one the common seed gives');
  const { lib } = ctx.runtime;
  const key = lib.PublicKey();
  try {
    ctx.runtime.guard(() => key.loadArray(ctx.bundle.context, bytes));
  } catch (error) {
    if (ctx.runtime.alive) key.delete();
    return wrong(`SEAL refuses it: ${(error as Error).message}`);
  }
  return key;
}

/** Overwrites the secret key bytes of a key share; call when the job is over. */
export function zeroiseKeyShare(secret: KeyShareSecret): void {
  secret.secretKey.fill(0);
}

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const FileSchema = z
  .object({
    format: z.literal('cipher-nexus/he-key-share'),
    version: z.literal(1),
    jobId: z.string(),
    holderId: z.string(),
    setupDigest: z.string().regex(/^[0-9a-f]{64}$/),
    kdf: z.object({ name: z.literal('scrypt'), log2N: z.number().int().min(14).max(22), r: z.number().int().min(1).max(32), p: z.number().int().min(1).max(16), salt: b64 }).strict(),
    iv: b64,
    tag: b64,
    box: b64,
  })
  .strict();

function restAssociatedData(jobId: string, holderId: string, setupDigest: string): Buffer {
  return frame('cipher-nexus/he/mp/key-share-at-rest/v1', jobId, holderId, setupDigest);
}

/** Encrypts a key share for storage (scrypt + AES-256-GCM, as `sealKeysAtRest`), spent rounds included; returns the file's bytes. */
export function sealKeyShareAtRest(secret: KeyShareSecret, passphrase: string, options: { log2N?: number } = {}): Uint8Array {
  if (passphrase.length === 0) throw new HeKeyError('HE_KEY_INVALID', 'a passphrase is required to store a key share');
  const log2N = options.log2N ?? DEFAULT_SCRYPT_LOG2N;
  const salt = randomBytes(16);
  const key = scryptKey(passphrase, salt, log2N, 8, 1);
  const der = (k: KeyObject): Buffer => k.export({ format: 'der', type: 'pkcs8' });
  const inner = frame(secret.secretKey, der(secret.signingKey), der(secret.transportKey), JSON.stringify([...secret.spentRounds]));
  try {
    const box = seal(key, inner, restAssociatedData(secret.jobId, secret.holderId, secret.setupDigest));
    const file = {
      format: 'cipher-nexus/he-key-share',
      version: 1,
      jobId: secret.jobId,
      holderId: secret.holderId,
      setupDigest: secret.setupDigest,
      kdf: { name: 'scrypt', log2N, r: 8, p: 1, salt: salt.toString('base64') },
      iv: box.iv.toString('base64'),
      tag: box.tag.toString('base64'),
      box: box.ciphertext.toString('base64'),
    };
    return new TextEncoder().encode(JSON.stringify(file));
  } finally {
    key.fill(0);
    inner.fill(0);
  }
}

function unframe(bytes: Uint8Array, count: number): Uint8Array[] {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > view.length) throw new HeKeyError('HE_KEY_INVALID', 'the key share file is damaged');
    const length = view.readUInt32LE(at);
    if (at + 4 + length > view.length) throw new HeKeyError('HE_KEY_INVALID', 'the key share file is damaged');
    parts.push(bytes.slice(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (at !== view.length) throw new HeKeyError('HE_KEY_INVALID', 'the key share file is damaged');
  return parts;
}

/** Opens a key share stored by `sealKeyShareAtRest`; a wrong passphrase gives `HE_KEY_WRONG`, a damaged file `HE_KEY_INVALID`. */
export function openKeyShareAtRest(bytes: Uint8Array, passphrase: string): KeyShareSecret {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new HeKeyError('HE_KEY_INVALID', 'the key share file is not JSON; it is damaged or not a Cipher Nexus key share');
  }
  const file = parseWithSchema(json, FileSchema, 'HE key share file', { code: 'HE_KEY_INVALID' });
  const key = scryptKey(passphrase, Buffer.from(file.kdf.salt, 'base64'), file.kdf.log2N, file.kdf.r, file.kdf.p);
  let inner: Uint8Array;
  try {
    const box = { iv: Buffer.from(file.iv, 'base64'), tag: Buffer.from(file.tag, 'base64'), ciphertext: Buffer.from(file.box, 'base64') };
    inner = open(key, box, restAssociatedData(file.jobId, file.holderId, file.setupDigest), `wrong passphrase for the key share of '${file.holderId}' in job ${file.jobId}, or the file was altered`);
  } finally {
    key.fill(0);
  }
  try {
    const [secretKey, signing, transport, spent] = unframe(inner, 4);
    const rounds = z.array(z.string()).safeParse(JSON.parse(new TextDecoder().decode(spent)));
    if (!rounds.success) throw new HeKeyError('HE_KEY_INVALID', 'the key share file is damaged: its spent rounds are not a list of strings');
    const privateKey = (der: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    return {
      jobId: file.jobId,
      holderId: file.holderId,
      setupDigest: file.setupDigest,
      secretKey,
      signingKey: privateKey(signing),
      transportKey: privateKey(transport),
      spentRounds: new Set(rounds.data),
    };
  } catch (error) {
    if (error instanceof CipherNexusError) throw error;
    throw new HeKeyError('HE_KEY_INVALID', `the key share file is damaged: ${(error as Error).message}`);
  } finally {
    inner.fill(0);
  }
}
