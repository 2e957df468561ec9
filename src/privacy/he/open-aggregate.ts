import type { AggregateExpectation, MultipartySetup } from './committee.js';
import { checkOpened, prepareAggregate, type DecodedChunk, type PreparedAggregate } from './aggregate-check.js';
import { openShare } from './decryption-share.js';
import { HeShareError } from './errors.js';
import type { KeyShareSecret } from './key-share.js';
import { multipartyContext, payloadSlot, type MultipartyContext } from './multiparty-context.js';
import { addInto, multiplyInto, negated, polyWords, subMultipleInto } from './rns.js';
import { writeSealPlaintext } from './seal-format.js';

/** An opened aggregate: the FedAvg update and what it is made of. */
export interface OpenedAggregate {
  /** Weighted mean of the contributors' updates: sum(weight_j * update_j) / totalWeight. */
  readonly mean: Float32Array;
  /** Ids of the contributors, in round order. */
  readonly contributors: readonly string[];
  readonly totalWeight: number;
}

/** Opens every share, requiring exactly one from each holder. */
function openAll(ctx: MultipartyContext, secret: KeyShareSecret, prepared: PreparedAggregate, sealedShares: readonly Uint8Array[]): BigUint64Array[] {
  const bySender = new Map<string, BigUint64Array>();
  try {
    for (const bytes of sealedShares) {
      const { sender, words } = openShare(ctx, secret, prepared, bytes);
      if (bySender.has(sender)) {
        words.fill(0n);
        throw new HeShareError('HE_SHARE_DUPLICATE', `two decryption shares from '${sender}'; give each holder's once`, { sender });
      }
      bySender.set(sender, words);
    }
    const missing = ctx.setup.holders.filter((h) => !bySender.has(h.id)).map((h) => h.id);
    if (missing.length > 0) throw new HeShareError('HE_SHARES_INCOMPLETE', `decryption shares missing from ${missing.join(', ')}; all ${ctx.setup.holders.length} holders must share`, { missing });
    return [...bySender.values()];
  } catch (error) {
    for (const words of bySender.values()) words.fill(0n);
    throw error;
  }
}

/**
 * m = sum(d_i) - (K-1) c0 for chunk c (Mouchet et al. 2021, §4.3, combining), decoded by SEAL's CKKS encoder, which
 * gives the real parts; the imaginary parts are the real parts of -i m, m multiplied by `minusI`, -X^(N/2).
 */
function decodeChunk(ctx: MultipartyContext, prepared: PreparedAggregate, shares: readonly BigUint64Array[], c: number, minusI: BigUint64Array): DecodedChunk {
  const { levelBasis } = ctx;
  const words = polyWords(levelBasis);
  const m = new BigUint64Array(words);
  for (const share of shares) addInto(m, share, levelBasis, 1, 0, c * words);
  subMultipleInto(m, prepared.ciphers[c].data, shares.length - 1, levelBasis);
  const turned = minusI.slice();
  multiplyInto(turned, m, levelBasis);
  try {
    return { real: decodeWords(ctx, m), imaginary: decodeWords(ctx, turned) };
  } finally {
    m.fill(0n);
    turned.fill(0n);
  }
}

/** The real parts of the slots of a plaintext given as words at the plan's level. */
function decodeWords(ctx: MultipartyContext, data: BigUint64Array): Float64Array {
  const { runtime, bundle } = ctx;
  const bytes = writeSealPlaintext({ parmsId: ctx.levelParmsId, scale: ctx.scale, data });
  const plain = runtime.lib.PlainText();
  try {
    return runtime.guard(() => {
      plain.loadArray(bundle.context, bytes);
      bytes.fill(0);
      const decoded = bundle.encoder.decode(plain) as Float64Array;
      plain.setZero();
      return decoded;
    });
  } finally {
    if (runtime.alive) plain.delete();
  }
}

/**
 * Holder step: combines all K decryption shares, decodes, and releases the weighted mean only if every check passes
 * (`HE_AGGREGATE_REFUSED` with `details.check` otherwise; nothing decrypted is returned or kept).
 */
export async function openAggregate(
  secret: KeyShareSecret,
  setup: MultipartySetup,
  aggregate: Uint8Array,
  sealedShares: readonly Uint8Array[],
  expectation: AggregateExpectation,
): Promise<OpenedAggregate> {
  const ctx = await multipartyContext(setup);
  const prepared = prepareAggregate(ctx, secret, aggregate, expectation);
  const shares = openAll(ctx, secret, prepared, sealedShares);
  const decoded: DecodedChunk[] = [];
  try {
    const minusI = negated(ctx.imaginaryUnit, ctx.levelBasis);
    prepared.ciphers.forEach((_, c) => decoded.push(decodeChunk(ctx, prepared, shares, c, minusI)));
    const { contributors, totalWeight } = checkOpened(ctx, secret, prepared, decoded);
    const { layout } = prepared;
    const length = prepared.vector.length;
    const mean = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      const c = Math.floor(i / layout.payloadPerChunk);
      const k = i - c * layout.payloadPerChunk;
      const { part, slot } = payloadSlot(layout, k);
      mean[i] = decoded[c][part][slot] / totalWeight;
    }
    return { mean, contributors, totalWeight };
  } finally {
    for (const words of shares) words.fill(0n);
    for (const z of decoded) {
      z.real.fill(0);
      z.imaginary.fill(0);
    }
  }
}
