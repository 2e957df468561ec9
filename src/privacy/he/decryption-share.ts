import { createCipheriv, createDecipheriv, diffieHellman, hkdfSync, randomBytes, sign, verify } from 'node:crypto';
import { InvalidInputError, concatBytes, generateCurveKeyPair } from '../../core/index.js';
import { frame, publicKeyObject, publicKeyOf, type AggregateExpectation, type MultipartySetup } from './committee.js';
import { verifiedSum } from './contribution.js';
import { HeAggregateRefusedError, HeKeyError, HeRoundSpentError, HeShareError } from './errors.js';
import type { KeyShareSecret } from './key-share.js';
import { prepareAggregate, type PreparedAggregate } from './aggregate-check.js';
import { multipartyContext, type MultipartyContext } from './multiparty-context.js';
import { addInto, checkReduced, polyWords, uniformSignedCoefficients } from './rns.js';
import { parseSealCiphertext, parseSealPlaintext, writeSealCiphertext } from './seal-format.js';

/** One holder's decryption share of an aggregate, sealed to one recipient holder and signed by the sender. */
export interface SealedShare {
  readonly recipient: string;
  readonly share: Uint8Array;
}

/** Options of `decryptionShares`. */
export interface DecryptionShareOptions {
  /** Holders to seal the share to (default: every holder, this one included, since each needs all K shares). */
  readonly recipients?: readonly string[];
  /**
   * The round's contributions, as the coordinator received them. When given, the holder checks each one's MAC for
   * itself, that they are exactly the claimed contributors', and that the aggregate is their sum, before it decrypts
   * anything: this stops a coordinator that alters ciphertexts (README, "What the checks do not stop").
   */
  readonly contributions?: readonly Uint8Array[];
}

const MAGIC = Buffer.from('CNDS');
const VERSION = 1;
const SIGNATURE_BYTES = 64;
const FIXED = MAGIC.length + 1 + 32 * 3;
const SIGNING_DOMAIN = 'cipher-nexus/he/mp/decryption-share/v1\0';
const MAX_ID_BYTES = 512;

/**
 * c0 + c1 s_i + e_flood for every ciphertext (Mouchet et al. 2021, §4.3 collective decryption with smudging noise):
 * SEAL's Decryptor computes c0 + c1 s_i in NTT form; the flooding noise is sampled in coefficient form and brought to
 * NTT form by SEAL itself, as a non-NTT ciphertext (e, e) that Evaluator.transformToNtt converts.
 */
function shareWords(ctx: MultipartyContext, secret: KeyShareSecret, prepared: PreparedAggregate): BigUint64Array {
  const { runtime, bundle, levelBasis, plan } = ctx;
  const { lib } = runtime;
  const words = polyWords(levelBasis);
  const out = new BigUint64Array(words * prepared.ciphers.length);
  const key = lib.SecretKey();
  try {
    runtime.guard(() => key.loadArray(bundle.context, secret.secretKey));
  } catch (error) {
    if (runtime.alive) key.delete();
    throw new HeKeyError('HE_KEY_INVALID', `the secret key of holder '${secret.holderId}' does not load (${(error as Error).message}); restore it from its sealed file`);
  }
  const decryptor = runtime.guard(() => lib.Decryptor(bundle.context, key));
  try {
    prepared.vector.chunks.forEach((bytes, c) => {
      const cipher = lib.CipherText();
      runtime.guard(() => {
        try {
          cipher.loadArray(bundle.context, bytes);
          const plain = decryptor.decrypt(cipher) as ReturnType<typeof lib.PlainText>;
          try {
            out.set(parseSealPlaintext(plain.saveArray(lib.ComprModeType.none), 'decrypted share').data, c * words);
          } finally {
            plain.setZero();
            plain.delete();
          }
        } finally {
          cipher.delete();
        }
      });
      const noise = floodingNoise(ctx, plan.floodBits);
      addInto(out, noise, levelBasis, 1, c * words);
      noise.fill(0n);
    });
  } finally {
    if (runtime.alive) {
      decryptor.delete();
      key.delete();
    }
  }
  return out;
}

/** Uniform flooding noise in NTT form at the plan's level. */
function floodingNoise(ctx: MultipartyContext, bits: number): BigUint64Array {
  const { runtime, bundle, levelBasis } = ctx;
  const { lib } = runtime;
  const coefficients = uniformSignedCoefficients(bits, levelBasis);
  const words = coefficients.length;
  const data = new BigUint64Array(2 * words);
  data.set(coefficients);
  // SEAL refuses a transparent ciphertext (second polynomial zero), so the noise fills both polynomials.
  data.set(coefficients, words);
  coefficients.fill(0n);
  const bytes = writeSealCiphertext({
    parmsId: ctx.levelParmsId,
    nttForm: false,
    size: 2,
    polyModulusDegree: levelBasis.degree,
    coeffModulusSize: levelBasis.moduli.length,
    scale: ctx.scale,
    data,
  });
  data.fill(0n);
  const cipher = lib.CipherText();
  try {
    const ntt = runtime.guard(() => {
      cipher.loadArray(bundle.context, bytes);
      bundle.evaluator.cipherTransformToNtt(cipher, cipher);
      return cipher.saveArray(lib.ComprModeType.none);
    });
    bytes.fill(0);
    const parsed = parseSealCiphertext(ntt, 'flooding noise');
    ntt.fill(0);
    const noise = parsed.data.slice(0, words);
    parsed.data.fill(0n);
    return noise;
  } finally {
    if (runtime.alive) cipher.delete();
  }
}

function header(ctx: MultipartyContext, prepared: PreparedAggregate, sender: string, recipient: string): Buffer {
  return Buffer.concat([
    MAGIC,
    Buffer.of(VERSION),
    Buffer.from(ctx.setup.digest, 'hex'),
    Buffer.from(prepared.round.digest, 'hex'),
    Buffer.from(prepared.digest, 'hex'),
    frame(sender, recipient),
  ]);
}

function shareKey(shared: Buffer, ephemeral: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, ephemeral, 'cipher-nexus/he/mp/share-key/v1', 32));
}

/** Ephemeral-static X25519 + HKDF-SHA256 + AES-256-GCM to the recipient, the header (job, round, aggregate, sender, recipient) as associated data, then an Ed25519 signature over all of it. */
function sealShare(ctx: MultipartyContext, secret: KeyShareSecret, prepared: PreparedAggregate, recipient: string, words: BigUint64Array): Uint8Array {
  const to = ctx.setup.holders.find((h) => h.id === recipient);
  if (to === undefined) throw new InvalidInputError('HE_INPUT_INVALID', `recipient '${recipient}' is not a holder of job ${ctx.setup.jobId}`, { recipient });
  const head = header(ctx, prepared, secret.holderId, recipient);
  const ephemeral = generateCurveKeyPair('x25519');
  const ephemeralPublic = publicKeyOf(ephemeral.privateKey);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyObject(to.transportPublicKey, 'X25519') });
  const key = shareKey(shared, ephemeralPublic);
  try {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(head);
    const body = Buffer.concat([cipher.update(new Uint8Array(words.buffer, words.byteOffset, words.byteLength)), cipher.final()]);
    const signed = Buffer.concat([head, ephemeralPublic, iv, cipher.getAuthTag(), body]);
    return concatBytes([signed, sign(null, Buffer.concat([Buffer.from(SIGNING_DOMAIN), signed]), secret.signingKey)]);
  } finally {
    shared.fill(0);
    key.fill(0);
  }
}

/**
 * Holder step: this holder's decryption share of the aggregate, sealed to each recipient. Refuses a second request for
 * the same round context (`HE_ROUND_ALREADY_SHARED`) and anything the checks before decryption refuse
 * (`HE_AGGREGATE_REFUSED`); the round is recorded as spent in `secret.spentRounds` once the checks pass.
 */
export async function decryptionShares(
  secret: KeyShareSecret,
  setup: MultipartySetup,
  aggregate: Uint8Array,
  expectation: AggregateExpectation,
  options: DecryptionShareOptions = {},
): Promise<SealedShare[]> {
  const ctx = await multipartyContext(setup);
  const prepared = prepareAggregate(ctx, secret, aggregate, expectation);
  const recipients = options.recipients ?? ctx.setup.holders.map((h) => h.id);
  const stranger = recipients.find((r) => !ctx.setup.holders.some((h) => h.id === r));
  if (stranger !== undefined) throw new InvalidInputError('HE_INPUT_INVALID', `recipient '${stranger}' is not a holder of job ${ctx.setup.jobId}`, { recipient: stranger });
  if (new Set(recipients).size !== recipients.length) throw new InvalidInputError('HE_INPUT_INVALID', 'a recipient is listed twice');
  if (options.contributions !== undefined) {
    const { chunks, problem } = verifiedSum(ctx, { id: secret.holderId, transportKey: secret.transportKey }, prepared.round, new Set(prepared.claimed.keys()), options.contributions);
    if (problem !== undefined) throw new HeAggregateRefusedError('sum', problem);
    chunks.forEach((bytes, c) => {
      const sum = parseSealCiphertext(bytes).data;
      const given = prepared.ciphers[c].data;
      if (sum.some((w, i) => w !== given[i])) throw new HeAggregateRefusedError('sum', `ciphertext ${c} of the aggregate is not the sum of the contributions`, { chunk: c });
    });
  }
  const { roundContext } = prepared.round;
  if (secret.spentRounds.has(roundContext)) throw new HeRoundSpentError(roundContext);
  secret.spentRounds.add(roundContext);
  const words = shareWords(ctx, secret, prepared);
  try {
    return recipients.map((recipient) => ({ recipient, share: sealShare(ctx, secret, prepared, recipient, words) }));
  } finally {
    words.fill(0n);
  }
}

/** Parses, authenticates and opens a sealed share addressed to this holder; returns its sender and words. */
export function openShare(ctx: MultipartyContext, secret: KeyShareSecret, prepared: PreparedAggregate, bytes: Uint8Array): { sender: string; words: BigUint64Array } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const invalid = (problem: string): never => {
    throw new HeShareError('HE_SHARE_INVALID', `a decryption share is damaged (${problem}); ask its holder to send it again`, { problem });
  };
  if (buffer.length < FIXED + 8 + 32 + 12 + 16 + SIGNATURE_BYTES || !buffer.subarray(0, 4).equals(MAGIC)) invalid('not a decryption share');
  if (buffer[4] !== VERSION) invalid(`format version ${buffer[4]}`);
  const senderLength = buffer.readUInt32LE(FIXED);
  if (senderLength > MAX_ID_BYTES || FIXED + 8 + senderLength > buffer.length) invalid('bad sender field');
  const sender = buffer.toString('utf8', FIXED + 4, FIXED + 4 + senderLength);
  const recipientAt = FIXED + 4 + senderLength;
  const recipientLength = buffer.readUInt32LE(recipientAt);
  if (recipientLength > MAX_ID_BYTES || recipientAt + 4 + recipientLength + 32 + 12 + 16 + SIGNATURE_BYTES > buffer.length) invalid('bad recipient field');
  const recipient = buffer.toString('utf8', recipientAt + 4, recipientAt + 4 + recipientLength);
  const headEnd = recipientAt + 4 + recipientLength;
  const from = ctx.setup.holders.find((h) => h.id === sender);
  if (from === undefined) throw new HeShareError('HE_SHARE_FORGED', `a decryption share names '${sender}', who is not a holder of job ${ctx.setup.jobId}`, { sender });
  const signed = buffer.subarray(0, buffer.length - SIGNATURE_BYTES);
  if (!verify(null, Buffer.concat([Buffer.from(SIGNING_DOMAIN), signed]), publicKeyObject(from.signingPublicKey, 'Ed25519'), buffer.subarray(signed.length))) {
    throw new HeShareError('HE_SHARE_FORGED', `the decryption share from '${sender}' is not signed by that holder's key (altered or forged)`, { sender });
  }
  if (recipient !== secret.holderId) {
    throw new HeShareError('HE_SHARE_MISDIRECTED', `the decryption share from '${sender}' is sealed for '${recipient}', not for '${secret.holderId}'`, { sender, recipient });
  }
  if (!buffer.subarray(0, headEnd).equals(header(ctx, prepared, sender, recipient))) {
    throw new HeShareError('HE_SHARE_MISMATCH', `the decryption share from '${sender}' was made for another job setup, round or aggregate`, { sender });
  }
  const ephemeral = buffer.subarray(headEnd, headEnd + 32);
  const iv = buffer.subarray(headEnd + 32, headEnd + 44);
  const tag = buffer.subarray(headEnd + 44, headEnd + 60);
  const body = buffer.subarray(headEnd + 60, signed.length);
  const expected = 8 * polyWords(ctx.levelBasis) * prepared.ciphers.length;
  if (body.length !== expected) invalid(`${body.length} bytes of share for ${expected} expected`);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: secret.transportKey, publicKey: publicKeyObject(ephemeral, 'X25519') });
  } catch {
    return invalid('bad ephemeral key');
  }
  const key = shareKey(shared, ephemeral);
  shared.fill(0);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(buffer.subarray(0, headEnd));
  decipher.setAuthTag(tag);
  const plain = decipher.update(body);
  try {
    decipher.final();
  } catch {
    plain.fill(0);
    return invalid(`sealed by '${sender}' with a key this holder cannot open`);
  } finally {
    key.fill(0);
  }
  const words = new BigUint64Array(plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.length));
  plain.fill(0);
  try {
    checkReduced(words, ctx.levelBasis, `share from '${sender}'`, prepared.ciphers.length);
  } catch {
    words.fill(0n);
    invalid(`the share from '${sender}' holds unreduced words`);
  }
  return { sender, words };
}
