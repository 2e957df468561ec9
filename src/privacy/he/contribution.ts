import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { InvalidInputError, concatBytes } from '../../core/index.js';
import { checkRound, contributionMac, holderTags, pairKeys, publicKeyOf, type CheckedRound, type MultipartySetup, type ParticipantIdentity, type RoundInfo } from './committee.js';
import { HeCiphertextError, HeKeyError, HeMismatchError } from './errors.js';
import { loadJointPublicKey } from './key-share.js';
import { chunkCount, chunkProblem, multipartyContext, payloadSlot, slotLayout, type MultipartyContext } from './multiparty-context.js';
import { TAGS_PER_HOLDER } from './multiparty-plan.js';
import { topLevel } from './params.js';
import { addInto, multiplyInto } from './rns.js';
import { SEAL_HEADER_BYTES, parseSealCiphertextMeta, parseSealPlaintext, writeSealPlaintext } from './seal-format.js';

/** What a participant encrypts in a round, and the round it is for. */
export interface ContributionInput extends RoundInfo {
  readonly self: ParticipantIdentity;
  /** The update (model delta), unweighted. */
  readonly weights: Float32Array | Float64Array;
  /** The participant's FedAvg weight (e.g. its sample count), positive. */
  readonly weight: number;
}

/** A contribution or an aggregate as parsed from the wire: header fields and the SEAL ciphertexts, not yet checked. */
export interface RoundVector {
  readonly kind: 'contribution' | 'aggregate';
  readonly roundDigest: string;
  readonly length: number;
  /** The contributor's position in the round (contributions only). */
  readonly position: number;
  /** Uncompressed SEAL ciphertexts, one per chunk of the vector. */
  readonly chunks: readonly Uint8Array[];
  /** One HMAC per holder, in setup order (contributions only). */
  readonly macs: readonly Uint8Array[];
  /** Everything the MACs cover. */
  readonly body: Uint8Array;
}

const MAGIC = Buffer.from('CNMC');
/** 2: the update fills the imaginary parts of the slots too; a version-1 vector would be read wrongly, so it is refused. */
const VERSION = 2;
const KIND = { contribution: 1, aggregate: 2 } as const;
const MAC_BYTES = 32;
const HEAD = MAGIC.length + 2 + 32 + 32 + 8;

/**
 * Wire form: "CNMC", version, kind, setup digest, round digest, length and chunk count (u32 LE), for a contribution
 * its position (u32), the ciphertexts (uncompressed SEAL, each sized by its own header), for a contribution one HMAC per
 * holder over all that. Uncompressed on purpose: every byte is checked here before SEAL parses anything.
 */
export function encodeRoundVector(ctx: MultipartyContext, vector: Omit<RoundVector, 'body' | 'macs'>, macsFor?: (bodyDigest: Buffer) => Uint8Array[]): Uint8Array {
  const head = Buffer.alloc(HEAD + (vector.kind === 'contribution' ? 4 : 0));
  MAGIC.copy(head, 0);
  head[4] = VERSION;
  head[5] = KIND[vector.kind];
  head.write(ctx.setup.digest, 6, 'hex');
  head.write(vector.roundDigest, 38, 'hex');
  head.writeUInt32LE(vector.length, 70);
  head.writeUInt32LE(vector.chunks.length, 74);
  if (vector.kind === 'contribution') head.writeUInt32LE(vector.position, HEAD);
  // The MACs' digest is taken part by part and the vector copied once: these are megabytes per participant.
  let macs: Uint8Array[] = [];
  if (macsFor) {
    const digest = createHash('sha256').update(head);
    for (const chunk of vector.chunks) digest.update(chunk);
    macs = macsFor(digest.digest());
  }
  return concatBytes([head, ...vector.chunks, ...macs]);
}

/** Parses the wire form; damage is `HE_CIPHERTEXT_CORRUPT`, another release's format `HE_FORMAT_VERSION`, another setup's vector `HE_SETUP_MISMATCH`. */
export function parseRoundVector(ctx: MultipartyContext, bytes: Uint8Array, what: string): RoundVector {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (problem: string): never => {
    throw new HeCiphertextError(`${what} is damaged or not a multi-party CKKS vector: ${problem}`, { problem });
  };
  if (buffer.length < HEAD || !buffer.subarray(0, 4).equals(MAGIC)) corrupt('bad magic or too short');
  if (buffer[4] !== VERSION) {
    throw new HeMismatchError('HE_FORMAT_VERSION', `${what} is in multi-party CKKS format version ${buffer[4]}, this release reads version ${VERSION}; run one release on the coordinator and every participant`, {
      version: buffer[4],
      expected: VERSION,
    });
  }
  const kind = buffer[5] === KIND.contribution ? 'contribution' : buffer[5] === KIND.aggregate ? 'aggregate' : corrupt(`kind ${buffer[5]}`);
  if (buffer.toString('hex', 6, 38) !== ctx.setup.digest) {
    throw new HeMismatchError('HE_SETUP_MISMATCH', `${what} belongs to another setup than job ${ctx.setup.jobId}'s (other holders, seed or parameters)`);
  }
  const count = buffer.readUInt32LE(74);
  const start = HEAD + (kind === 'contribution' ? 4 : 0);
  const bodyEnd = buffer.length - (kind === 'contribution' ? MAC_BYTES * ctx.setup.holders.length : 0);
  // Chunks are split by their own SEAL headers, so that a ciphertext of another shape (rescaled, unrelinearised) is
  // refused by name when checked rather than as damage here; any size but that of a SEAL ciphertext is damage.
  if (count === 0 || count > (bodyEnd - start) / SEAL_HEADER_BYTES) corrupt(`${count} ciphertexts in ${buffer.length} bytes`);
  const chunks: Uint8Array[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    const size = at + SEAL_HEADER_BYTES <= bodyEnd ? buffer.readBigUInt64LE(at + 8) : 0n;
    if (size < BigInt(SEAL_HEADER_BYTES) || size > BigInt(bodyEnd - at) || size > BigInt(4 * ctx.chunkBytes)) corrupt(`ciphertext ${i} does not fit in the bytes received`);
    chunks.push(bytes.subarray(at, at + Number(size)));
    at += Number(size);
  }
  if (at !== bodyEnd) corrupt(`${bodyEnd - at} bytes after the last ciphertext`);
  const macs = Array.from({ length: (buffer.length - bodyEnd) / MAC_BYTES }, (_, i) => bytes.subarray(bodyEnd + i * MAC_BYTES, bodyEnd + (i + 1) * MAC_BYTES));
  return {
    kind,
    roundDigest: buffer.toString('hex', 38, 70),
    length: buffer.readUInt32LE(70),
    position: kind === 'contribution' ? buffer.readUInt32LE(HEAD) : -1,
    chunks,
    macs,
    body: bytes.subarray(0, bodyEnd),
  };
}

/**
 * Loads one ciphertext of a vector into `target` after checking its structure and shape here (level, scale, size), so
 * that SEAL only ever parses consistent bytes; SEAL's loader then checks every word is reduced.
 */
function loadChunk(ctx: MultipartyContext, target: SealCipherText, bytes: Uint8Array, what: string): void {
  const problem = chunkProblem(ctx, parseSealCiphertextMeta(bytes, what));
  if (problem !== undefined) throw new HeCiphertextError(`${what}: ${problem.message}`, { check: problem.check });
  try {
    ctx.runtime.guard(() => target.loadArray(ctx.bundle.context, bytes));
  } catch (error) {
    throw new HeCiphertextError(`${what} is damaged: ${(error as Error).message}`);
  }
}

/**
 * Participant step: encrypts weight * weights under the joint public key, one ciphertext per chunk of the slots left
 * after the round's metadata, which every ciphertext carries: 1 in its own slot of the contributor block, its weight,
 * and for each holder TAGS_PER_HOLDER values in [1, 2) that only it and that holder can compute (round and chunk bound).
 * A MAC per holder over the whole contribution lets holders check it came from this participant.
 */
export async function encryptContribution(setup: MultipartySetup, publicKey: Uint8Array, input: ContributionInput): Promise<Uint8Array> {
  const ctx = await multipartyContext(setup);
  const round = checkRound(ctx.setup, { roundContext: input.roundContext, participants: input.participants }, ctx.plan.maxParticipants);
  const { self, weights, weight } = input;
  const position = round.positions.get(self.id);
  if (position === undefined) throw new InvalidInputError('HE_ROUND_INVALID', `participant '${self.id}' is not in round '${round.roundContext}'`, { participant: self.id });
  const listed = round.participants[position].transportPublicKey;
  const own = publicKeyOf(self.transportKey);
  if (own.length !== listed.length || !timingSafeEqual(own, listed)) {
    throw new HeKeyError('HE_KEY_INVALID', `the transport key given for '${self.id}' is not the one round '${round.roundContext}' lists for it`);
  }
  const layout = slotLayout(ctx, round.participants.length);
  if (layout.payloadPerChunk < 1) throw new InvalidInputError('HE_ROUND_INVALID', `round '${round.roundContext}' leaves no slot for the update`);
  // A slot's modulus |real + i imaginary| is what the message room bounds, hence the square root of 2.
  checkValues(weights, weight, 2 ** ctx.plan.messageBits / round.participants.length / Math.SQRT2);
  const pairs = ctx.setup.holders.map((h) => pairKeys(self.transportKey, h.transportPublicKey, ctx.setup, h.id, self.id));
  const { runtime, bundle, plan } = ctx;
  const key = loadJointPublicKey(ctx, publicKey);
  const real = new Float64Array(plan.slots);
  const imaginary = new Float64Array(plan.slots);
  try {
    const encryptor = runtime.guard(() => runtime.lib.Encryptor(bundle.context, key));
    try {
      const chunks: Uint8Array[] = [];
      for (let c = 0; c < chunkCount(layout, weights.length); c++) {
        real.fill(0);
        imaginary.fill(0);
        real[position] = 1;
        real[layout.weightSlot] = weight;
        pairs.forEach((pair, h) => real.set(holderTags(pair.tagKey, round.digest, c), layout.tagStart + TAGS_PER_HOLDER * h));
        const from = c * layout.payloadPerChunk;
        const to = Math.min(weights.length, from + layout.payloadPerChunk);
        const parts = { real, imaginary };
        for (let i = from; i < to; i++) {
          const { part, slot } = payloadSlot(layout, i - from);
          parts[part][slot] = weight * weights[i];
        }
        chunks.push(runtime.guard(() => encryptSlots(ctx, encryptor, real, imaginary)));
      }
      return encodeRoundVector(ctx, { kind: 'contribution', roundDigest: round.digest, length: weights.length, position, chunks }, (digest) =>
        pairs.map((pair) => contributionMac(pair.macKey, digest)),
      );
    } finally {
      if (runtime.alive) encryptor.delete();
    }
  } finally {
    real.fill(0);
    imaginary.fill(0);
    for (const pair of pairs) {
      pair.tagKey.fill(0);
      pair.macKey.fill(0);
    }
    if (runtime.alive) key.delete();
  }
}

type Encryptor = ReturnType<MultipartyContext['runtime']['lib']['Encryptor']>;
type SealCipherText = ReturnType<MultipartyContext['runtime']['lib']['CipherText']>;

/**
 * Encrypts the slots real + i * imaginary: SEAL's encoder takes reals only, so the imaginary parts are encoded as
 * reals and multiplied by X^(N/2) (i in every slot) before the two plaintexts are added, word by word in NTT form.
 */
function encryptSlots(ctx: MultipartyContext, encryptor: Encryptor, real: Float64Array, imaginary: Float64Array): Uint8Array {
  const data = encodedWords(ctx, real);
  let lifted: BigUint64Array | undefined;
  const plain = ctx.runtime.lib.PlainText();
  try {
    lifted = encodedWords(ctx, imaginary);
    multiplyInto(lifted, ctx.imaginaryUnit, ctx.levelBasis);
    addInto(data, lifted, ctx.levelBasis);
    const bytes = writeSealPlaintext({ parmsId: ctx.levelParmsId, scale: ctx.scale, data });
    plain.loadArray(ctx.bundle.context, bytes);
    bytes.fill(0);
    const cipher = encryptor.encrypt(plain) as SealCipherText;
    try {
      return cipher.saveArray(ctx.runtime.lib.ComprModeType.none);
    } finally {
      cipher.delete();
    }
  } finally {
    data.fill(0n);
    lifted?.fill(0n);
    plain.setZero();
    plain.delete();
  }
}

/** The words of SEAL's encoding of `values` at the plan's level and scale (NTT form). */
function encodedWords(ctx: MultipartyContext, values: Float64Array): BigUint64Array {
  const { bundle, plan } = ctx;
  const plain = bundle.encoder.encode(values, ctx.scale) as ReturnType<MultipartyContext['runtime']['lib']['PlainText']>;
  try {
    // SEAL encodes at the top level; the plaintext is switched down to the level contributions live at.
    if (plan.level < topLevel(plan.params)) bundle.evaluator.plainModSwitchTo(plain, bundle.parmsIds[plan.level], plain);
    const bytes = plain.saveArray(ctx.runtime.lib.ComprModeType.none);
    const { data } = parseSealPlaintext(bytes, 'an encoded plaintext');
    bytes.fill(0);
    return data;
  } finally {
    plain.setZero();
    plain.delete();
  }
}

/** Refuses weights and values whose sum over a full round could leave the plan's message room (CKKS would wrap silently). */
function checkValues(values: Float32Array | Float64Array, weight: number, bound: number): void {
  if (!Number.isFinite(weight) || weight <= 0 || weight >= bound) {
    throw new InvalidInputError('HE_VALUE_OUT_OF_RANGE', `the weight must be positive and below ${bound} (the plan's room shared by the round's participants), got ${weight}`, { weight, bound });
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i] * weight;
    if (!Number.isFinite(v) || Math.abs(v) >= bound) {
      throw new InvalidInputError('HE_VALUE_OUT_OF_RANGE', `weight * value at index ${i} is ${v}, not finite or not below ${bound} in magnitude; clip the update or lower the weight`, {
        index: i,
        value: v,
        bound,
      });
    }
  }
}

/** The chunk-wise sum of vectors of one round: SEAL's ciphertext addition, after the checks of `loadChunk`. */
export function sumVectors(ctx: MultipartyContext, vectors: readonly RoundVector[]): Uint8Array[] {
  const first = vectors[0];
  for (const [i, v] of vectors.entries()) {
    if (v.roundDigest !== first.roundDigest) throw new HeMismatchError('HE_ROUND_MISMATCH', `vector ${i} belongs to another round (or participant list) than vector 0`, { index: i });
    if (v.length !== first.length || v.chunks.length !== first.chunks.length) {
      throw new InvalidInputError('HE_LENGTH_MISMATCH', `vector ${i} holds ${v.length} values in ${v.chunks.length} ciphertexts, vector 0 ${first.length} in ${first.chunks.length}`, { index: i });
    }
  }
  const { runtime, bundle } = ctx;
  return first.chunks.map((_, c) => {
    const acc = runtime.lib.CipherText();
    const next = runtime.lib.CipherText();
    try {
      loadChunk(ctx, acc, first.chunks[c], `vector 0, ciphertext ${c}`);
      for (let i = 1; i < vectors.length; i++) {
        loadChunk(ctx, next, vectors[i].chunks[c], `vector ${i}, ciphertext ${c}`);
        runtime.guard(() => bundle.evaluator.add(acc, next, acc));
      }
      return runtime.guard(() => acc.saveArray(runtime.lib.ComprModeType.none));
    } finally {
      if (runtime.alive) {
        acc.delete();
        next.delete();
      }
    }
  });
}

/** The coordinator's check of one arriving contribution: `participantId`'s, of `length` values (see `contributionCheck`). */
export type ContributionCheck = (participantId: string, bytes: Uint8Array, length: number) => void;

/**
 * Coordinator step, once a round's participants are known: checks the round (`HE_ROUND_INVALID`) and returns the check
 * each contribution takes as it arrives: it is in this release's format, of this setup, a contribution (not an
 * aggregate) made for this round by `participantId` at its own position, of `length` values in as many ciphertexts as
 * the layout needs, each of the agreed shape. A contribution that fails is refused alone (`HE_CIPHERTEXT_CORRUPT` with
 * `details.check`, `HE_FORMAT_VERSION`, `HE_SETUP_MISMATCH`) instead of failing the round's sum. What the ciphertexts
 * hold only the key holders can check. The round is checked here once, not per contribution: its digest covers every
 * participant, so checking it per contribution cost O(n) each, O(n^2) a round.
 */
export async function contributionCheck(setup: MultipartySetup, round: RoundInfo): Promise<ContributionCheck> {
  const ctx = await multipartyContext(setup);
  const checked = checkRound(ctx.setup, round, ctx.plan.maxParticipants);
  const expected = (length: number): number => chunkCount(slotLayout(ctx, checked.participants.length), length);
  return (participantId, bytes, length) => {
    const what = `the contribution of '${participantId}'`;
    const vector = parseRoundVector(ctx, bytes, what);
    const refuse = (check: string, message: string): never => {
      throw new HeCiphertextError(`${what} ${message}`, { check });
    };
    if (vector.kind !== 'contribution') refuse('kind', 'is an aggregate, not a contribution');
    if (vector.roundDigest !== checked.digest) refuse('round', `was not made for round '${round.roundContext}' and its participants`);
    if (vector.position !== checked.positions.get(participantId)) refuse('position', `claims position ${vector.position} in the round, not its own`);
    if (vector.length !== length) refuse('length', `holds ${vector.length} values; the model has ${length}`);
    if (vector.chunks.length !== expected(length)) refuse('length', `comes in ${vector.chunks.length} ciphertexts; ${expected(length)} hold ${length} values`);
    vector.chunks.forEach((chunk, c) => {
      const problem = chunkProblem(ctx, parseSealCiphertextMeta(chunk, `${what}, ciphertext ${c}`));
      if (problem !== undefined) refuse(problem.check, `has a bad ciphertext ${c}: ${problem.message}`);
    });
  };
}

/** Coordinator step: the encrypted sum of contributions (or of partial sums) of one round; needs no key at all. */
export async function sumContributions(setup: MultipartySetup, contributions: readonly Uint8Array[]): Promise<Uint8Array> {
  if (contributions.length === 0) throw new InvalidInputError('HE_INPUT_INVALID', 'nothing to sum: the list of contributions is empty');
  const ctx = await multipartyContext(setup);
  const vectors = contributions.map((bytes, i) => parseRoundVector(ctx, bytes, `contribution ${i}`));
  const chunks = sumVectors(ctx, vectors);
  return encodeRoundVector(ctx, { kind: 'aggregate', roundDigest: vectors[0].roundDigest, length: vectors[0].length, position: -1, chunks });
}

/**
 * A holder's check that `contributions` are exactly the claimed contributors' own (each MAC keyed by this holder and
 * that participant) and returns their sum; what a holder runs before giving a share when it receives the contributions.
 */
export function verifiedSum(
  ctx: MultipartyContext,
  holder: { id: string; transportKey: KeyObject },
  round: CheckedRound,
  claimed: ReadonlySet<string>,
  contributions: readonly Uint8Array[],
): { chunks: Uint8Array[]; problem?: string } {
  const index = ctx.setup.holders.findIndex((h) => h.id === holder.id);
  const seen = new Set<string>();
  const vectors = contributions.map((bytes, i) => parseRoundVector(ctx, bytes, `contribution ${i}`));
  for (const [i, v] of vectors.entries()) {
    const participant = round.participants[v.position];
    if (v.kind !== 'contribution' || v.roundDigest !== round.digest || participant === undefined) return { chunks: [], problem: `contribution ${i} is not one of this round's` };
    const keys = pairKeys(holder.transportKey, participant.transportPublicKey, ctx.setup, holder.id, participant.id);
    const mac = contributionMac(keys.macKey, createHash('sha256').update(v.body).digest());
    keys.macKey.fill(0);
    keys.tagKey.fill(0);
    if (!timingSafeEqual(mac, v.macs[index])) return { chunks: [], problem: `contribution ${i} does not carry ${participant.id}'s MAC for this holder` };
    if (seen.has(participant.id)) return { chunks: [], problem: `two contributions of ${participant.id}` };
    seen.add(participant.id);
  }
  if (seen.size !== claimed.size || [...claimed].some((id) => !seen.has(id))) return { chunks: [], problem: 'the contributions are not exactly those of the claimed contributors' };
  return { chunks: sumVectors(ctx, vectors) };
}
