import { HeParamsError } from './errors.js';
import { topLevel, type EncryptionParams } from './params.js';

/*
 * How big the numbers of a multi-party CKKS round get, and the level, scale and flooding width that follow; README.md
 * ("Multi-party CKKS: bounds") walks through the same steps with the n8192 figures.
 *
 *   fresh noise     e = v * sum(e_i) + e0 + e1 * s, s = sum(s_i): per coefficient Var <= sigma^2 (1 + 4NK/3)
 *                   (v, s_i ternary with variance 2/3, SEAL's error variance sigma^2 <= 10.5). SEAL encrypts one level
 *                   up and divides by the dropped prime, which only shrinks this; the bound ignores that.
 *   aggregate noise B_e = TAIL * sqrt(P_max) * that deviation, P_max = N/4 contributors (half the slots); a coefficient
 *                   beyond it has probability below 2^-100 (Gaussian tail by the central limit theorem).
 *   flooding        each holder adds u uniform in [-2^f, 2^f) to every coefficient of its share. Smudging lemma
 *                   (Asharov et al. 2012, lemma 2.1): SD(u, u + e) <= |e| / 2^(f+1) per coefficient, so
 *                   f = ceil(log2(N * B_e) + FLOOD_SECURITY_BITS - 1) keeps a whole share within 2^-40 of one that
 *                   does not depend on the decryption noise (Mouchet et al. 2021, §5, the collective decryption's
 *                   smudging noise). One honest holder's noise suffices: the others may know theirs.
 *   precision       K holders' flooding shows in a decoded slot with deviation sqrt(N K / 6) 2^f / Delta (a real slot
 *                   sums N/2 coefficient variances of 2^(2f)/3); Delta = 2^ceil(f + log2 sqrt(NK/6) + PRECISION_BITS).
 *   message room    a coefficient of Delta * encode(z) is at most Delta * max|z| (the inverse canonical embedding
 *                   averages N terms), so |z| < 2^messageBits with Delta 2^messageBits + B_e + K 2^f < q / 2.
 *   level           the lowest level whose modulus leaves at least MIN_MESSAGE_BITS of message room.
 */

/** Largest variance of SEAL's error distribution: centred binomial of 21 coin pairs (10.5), or Gaussian sigma 3.2 (10.24). */
const NOISE_VARIANCE = 10.5;
/** Deviations a coefficient of the aggregate's noise stays within, except with probability 2 exp(-72) < 2^-100. */
const TAIL = 12;
/** Statistical distance, as -log2, between a decryption share and one independent of the ciphertext's noise. */
export const FLOOD_SECURITY_BITS = 40;
/** -log2 of the flooding noise's deviation in a decoded slot. */
export const PRECISION_BITS = 30;
/** Least room, in bits, an aggregate's slots must have for a level to be chosen. */
const MIN_MESSAGE_BITS = 24;
/** Pseudo-random tag slots each holder reads in every ciphertext. */
export const TAGS_PER_HOLDER = 8;

/** The level, scale and noise widths of a job's multi-party CKKS, all derived from the parameters and the committee size. */
export interface MultipartyPlan {
  readonly params: EncryptionParams;
  /** Committee size K. */
  readonly holders: number;
  /** SEAL chain index contributions are encrypted at and aggregates must stay at. */
  readonly level: number;
  /** Delta = 2^scaleBits: every contribution and aggregate carries exactly this scale. */
  readonly scaleBits: number;
  /** Each holder's flooding noise is uniform in [-2^floodBits, 2^floodBits). */
  readonly floodBits: number;
  /** Every slot of an aggregate must stay below 2^messageBits in magnitude. */
  readonly messageBits: number;
  /** Largest round (participants) the bounds cover: a quarter of N, half the slots. */
  readonly maxParticipants: number;
  /** Slots per ciphertext, N/2. */
  readonly slots: number;
}

/** Derives the multi-party plan for `params`, whose primes are `moduli` (SEAL's, in chain order), and K holders; `HE_PARAMS_INVALID` if no level fits. */
export function multipartyPlan(params: EncryptionParams, moduli: readonly bigint[], holders: number): MultipartyPlan {
  const n = params.polyModulusDegree;
  const slots = n / 2;
  const maxParticipants = slots / 2;
  const freshDeviation = Math.sqrt(NOISE_VARIANCE * (1 + (4 * n * holders) / 3) + 0.25);
  const noiseBound = TAIL * Math.sqrt(maxParticipants) * freshDeviation;
  const floodBits = Math.ceil(Math.log2(n * noiseBound) + FLOOD_SECURITY_BITS - 1);
  const scaleBits = Math.ceil(floodBits + 0.5 * Math.log2((n * holders) / 6) + PRECISION_BITS);
  let log2q = 0;
  for (let level = 0; level <= topLevel(params); level++) {
    log2q += Math.log2(Number(moduli[level]));
    // q/2 must exceed Delta 2^m + B_e + K 2^f; the last two are below 2^(scaleBits - 20), hence the extra bit.
    const messageBits = Math.floor(log2q - 2 - scaleBits);
    if (messageBits >= MIN_MESSAGE_BITS) {
      return Object.freeze({ params, holders, level, scaleBits, floodBits, messageBits, maxParticipants, slots });
    }
  }
  throw new HeParamsError(
    'HE_PARAMS_INVALID',
    `parameters ${JSON.stringify(params.coeffModulusBits)} at N = ${n} leave fewer than ${MIN_MESSAGE_BITS} bits of message room for multi-party ` +
      `decryption with ${holders} holders (scale 2^${scaleBits}, flooding 2^${floodBits}); use the n8192 or n16384 preset`,
    { params, holders, scaleBits, floodBits },
  );
}
