import { createHash } from 'node:crypto';
import { InvalidInputError } from '../../core/index.js';
import { checkRound, holderTags, pairKeys, type AggregateExpectation, type CheckedRound } from './committee.js';
import { parseRoundVector, type RoundVector } from './contribution.js';
import { HeAggregateRefusedError, HeMismatchError } from './errors.js';
import type { KeyShareSecret } from './key-share.js';
import { chunkCount, chunkProblem, slotLayout, type MultipartyContext, type SlotLayout } from './multiparty-context.js';
import { PRECISION_BITS, TAGS_PER_HOLDER } from './multiparty-plan.js';
import { checkReduced } from './rns.js';
import { parseSealCiphertext, type SealCiphertextData } from './seal-format.js';

/** An aggregate that passed every check possible before decryption, with what the checks after decryption need. */
export interface PreparedAggregate {
  readonly round: CheckedRound;
  /** Claimed contributors and their declared weights. */
  readonly claimed: ReadonlyMap<string, number>;
  readonly layout: SlotLayout;
  readonly vector: RoundVector;
  readonly ciphers: readonly SealCiphertextData[];
  /** sha256 of the aggregate's bytes, hex: decryption shares are bound to it. */
  readonly digest: string;
}

/** A chunk's slots, real and imaginary parts apart. */
export interface DecodedChunk {
  readonly real: Float64Array;
  readonly imaginary: Float64Array;
}

/**
 * Absolute tolerance of a metadata slot: the flooding noise's deviation is 2^-PRECISION_BITS (2^-30) per slot, so
 * 2^-20 is over 1,000 deviations; the tags are secret and uniform over [1, 2), so a value aimed without knowing them
 * lands within 2^-20 of eight of them with probability 2^-152.
 */
const TOLERANCE = 2 ** -(PRECISION_BITS - 10);
/**
 * Relative part: SEAL decodes through doubles, whose rounding grows with the largest magnitude in the ciphertext
 * (measured about 2^-54 of it; 2^-44 leaves a factor 1,000). At the 2^30 limit the tolerance is 2^-14 and a guess of
 * eight tags still succeeds with probability below 2^-104.
 */
const RELATIVE_TOLERANCE = 2 ** -44;

function refuse(check: string, message: string, details: Record<string, unknown> = {}): never {
  throw new HeAggregateRefusedError(check, message, details);
}

/**
 * Everything a holder checks before computing anything with its key share: the key share belongs to this setup, the
 * claim is well formed (known, distinct contributors, at least minContributors), and every ciphertext is a fresh-form
 * ciphertext at the agreed level and exact scale, of this round, in the right number.
 */
export function prepareAggregate(ctx: MultipartyContext, secret: KeyShareSecret, aggregate: Uint8Array, expectation: AggregateExpectation): PreparedAggregate {
  if (secret.setupDigest !== ctx.setup.digest || !ctx.setup.holders.some((h) => h.id === secret.holderId)) {
    throw new HeMismatchError('HE_KEY_MISMATCH', `the key share of '${secret.holderId}' belongs to another setup than this one of job ${ctx.setup.jobId}`);
  }
  const round = checkRound(ctx.setup, expectation, ctx.plan.maxParticipants);
  if (expectation.contributors === undefined) throw new InvalidInputError('HE_ROUND_INVALID', 'the expectation must list the claimed contributors and their weights');
  const claimed = new Map<string, number>();
  for (const { id, weight } of expectation.contributors) {
    if (!round.positions.has(id)) refuse('claim', `claimed contributor '${id}' is not a participant of round '${round.roundContext}'`, { contributor: id });
    if (claimed.has(id)) refuse('claim', `contributor '${id}' is claimed twice`, { contributor: id });
    claimed.set(id, weight);
  }
  if (claimed.size < ctx.setup.minContributors) {
    refuse('min-contributors', `${claimed.size} claimed contributors, at least ${ctx.setup.minContributors} required`, { claimed: claimed.size, minContributors: ctx.setup.minContributors });
  }
  const vector = parseRoundVector(ctx, aggregate, 'the aggregate');
  if (vector.kind !== 'aggregate') refuse('kind', 'a single contribution was given where an aggregate was expected');
  if (vector.roundDigest !== round.digest) refuse('round', `the aggregate was not made for round '${round.roundContext}' and its participants`);
  const layout = slotLayout(ctx, round.participants.length);
  if (layout.payloadPerChunk < 1 || vector.chunks.length !== chunkCount(layout, vector.length)) {
    refuse('length', `${vector.chunks.length} ciphertexts for ${vector.length} values; ${chunkCount(layout, vector.length)} expected`);
  }
  const ciphers = vector.chunks.map((bytes, c) => {
    const cipher = parseSealCiphertext(bytes, `aggregate ciphertext ${c}`);
    const problem = chunkProblem(ctx, cipher);
    if (problem !== undefined) refuse(problem.check, problem.message, { chunk: c });
    checkReduced(cipher.data, ctx.levelBasis, `aggregate ciphertext ${c}`, 2);
    return cipher;
  });
  return { round, claimed, layout, vector, ciphers, digest: createHash('sha256').update(aggregate).digest('hex') };
}

/**
 * The checks on the decrypted slots of every ciphertext, before anything is released: the contributor block holds only
 * 0 and 1, the same in every ciphertext, exactly the claimed set; the weight slot is the sum of declared weights; and
 * this holder's tags are the sum of what the claimed contributors' keys give for this round and chunk. A sum of fresh
 * contributions of this round passes; a relayed, multiplied, replayed, mixed or forged one does not.
 */
export function checkOpened(
  ctx: MultipartyContext,
  secret: KeyShareSecret,
  prepared: PreparedAggregate,
  chunks: readonly DecodedChunk[],
): { contributors: string[]; totalWeight: number } {
  const { layout, round, claimed } = prepared;
  // The metadata sit in the real parts; the doubles' rounding follows the largest modulus of any slot.
  const largest = (z: Float64Array): number => z.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const tolerances = chunks.map((z) => TOLERANCE + RELATIVE_TOLERANCE * Math.SQRT2 * Math.max(largest(z.real), largest(z.imaginary)));
  const decoded = chunks.map((z) => z.real);
  let pattern: boolean[] | undefined;
  decoded.forEach((z, c) => {
    const bits = round.participants.map((_, j) => {
      const v = z[j];
      if (Math.abs(v - 1) <= tolerances[c]) return true;
      if (Math.abs(v) <= tolerances[c]) return false;
      return refuse('contributor-block', `ciphertext ${c} has ${v.toPrecision(6)} in the contributor slot of position ${j}; only 0 or 1 is a sum of distinct contributions`, {
        chunk: c,
        position: j,
      });
    });
    if (pattern !== undefined && bits.some((b, j) => b !== pattern?.[j])) {
      refuse('contributor-consistency', `ciphertext ${c} has other contributors than ciphertext 0; the chunks were mixed`, { chunk: c });
    }
    pattern = bits;
  });
  const found = round.participants.filter((_, j) => pattern?.[j]).map((p) => p.id);
  if (found.length !== claimed.size || found.some((id) => !claimed.has(id))) {
    refuse('contributors', `the aggregate holds contributions of [${found.join(', ')}], not the claimed [${[...claimed.keys()].join(', ')}]`, { found, claimed: [...claimed.keys()] });
  }
  const totalWeight = [...claimed.values()].reduce((s, w) => s + w, 0);
  decoded.forEach((z, c) => {
    const weight = z[layout.weightSlot];
    if (Math.abs(weight - totalWeight) > tolerances[c]) {
      refuse('weight', `ciphertext ${c} carries total weight ${weight}, the claimed contributors declared ${totalWeight}`, { chunk: c });
    }
  });
  const h = ctx.setup.holders.findIndex((holder) => holder.id === secret.holderId);
  const tagKeys = found.map((id) => {
    const keys = pairKeys(secret.transportKey, round.participants[round.positions.get(id) ?? -1].transportPublicKey, ctx.setup, secret.holderId, id);
    keys.macKey.fill(0);
    return keys.tagKey;
  });
  try {
    decoded.forEach((z, c) => {
      const expected = new Float64Array(TAGS_PER_HOLDER);
      for (const key of tagKeys) holderTags(key, round.digest, c).forEach((t, k) => (expected[k] += t));
      for (let k = 0; k < TAGS_PER_HOLDER; k++) {
        if (Math.abs(z[layout.tagStart + TAGS_PER_HOLDER * h + k] - expected[k]) > tolerances[c]) {
          refuse('tags', `ciphertext ${c} does not carry the tags of the claimed contributors for this round and chunk (replayed, mixed or forged)`, { chunk: c });
        }
      }
    });
  } finally {
    for (const key of tagKeys) key.fill(0);
  }
  return { contributors: found, totalWeight };
}
