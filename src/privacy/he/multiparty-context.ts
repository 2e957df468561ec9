import { hkdfSync } from 'node:crypto';
import { InvalidInputError } from '../../core/index.js';
import { checkSetup, type CheckedSetup, type MultipartySetup } from './committee.js';
import { multipartyPlan, TAGS_PER_HOLDER, type MultipartyPlan } from './multiparty-plan.js';
import { paramsHash } from './params.js';
import { polyWords, uniformFromKey, type RnsBasis } from './rns.js';
import { SealRuntime, type ContextBundle } from './seal.js';
import { parmsIdHex, parseSealCiphertext, sealCiphertextBytes, writeSealCiphertext, type SealCiphertextMeta } from './seal-format.js';

/** Everything the protocol steps need about one job's setup, built once per SEAL runtime. */
export interface MultipartyContext {
  readonly setup: CheckedSetup;
  readonly runtime: SealRuntime;
  readonly bundle: ContextBundle;
  readonly plan: MultipartyPlan;
  /** All primes, the special one included: the level keys live at. */
  readonly keyBasis: RnsBasis;
  /** The primes of `plan.level`: the level contributions and aggregates live at. */
  readonly levelBasis: RnsBasis;
  readonly keyParmsId: string;
  readonly levelParmsId: string;
  /** Delta, 2^plan.scaleBits. */
  readonly scale: number;
  /** Bytes of one serialised ciphertext at the plan's level. */
  readonly chunkBytes: number;
  /** The public polynomial a of the joint key, expanded from the setup's seed (NTT form, key level). */
  readonly crsPoly: BigUint64Array;
  /**
   * X^(N/2) in NTT form at the plan's level: a plaintext multiplied by it has every slot multiplied by i, which is how
   * a real-only encoder (node-seal's) fills the imaginary parts of the slots too.
   */
  readonly imaginaryUnit: BigUint64Array;
}

/** Where things sit in the slots of a round's ciphertexts. */
export interface SlotLayout {
  /** Slots 0..participants-1: the contributor block, 1 at the contributor's position. */
  readonly participants: number;
  /** The contributor's declared weight. */
  readonly weightSlot: number;
  /** First of TAGS_PER_HOLDER slots per holder, holders in setup order. */
  readonly tagStart: number;
  /** First slot of the weighted update. */
  readonly payloadStart: number;
  /**
   * Update values each ciphertext carries: the real parts of slots payloadStart.. (the first `realPayload` values),
   * then the imaginary parts of every slot. Slots are complex; carrying reals in both parts halves the ciphertexts.
   */
  readonly payloadPerChunk: number;
  /** Update values in the real parts of a ciphertext's slots. */
  readonly realPayload: number;
}

const cache = new Map<string, MultipartyContext>();
const CACHE_LIMIT = 8;

/** The context of `setup` in the current SEAL runtime (cached; rebuilt after a module abort). */
export async function multipartyContext(setup: MultipartySetup): Promise<MultipartyContext> {
  const checked = checkSetup(setup);
  const runtime = await SealRuntime.shared();
  const cached = cache.get(checked.digest);
  if (cached !== undefined && cached.runtime === runtime && runtime.alive) return cached;
  const bundle = runtime.context(checked.params);
  const { context } = bundle;
  const moduli = runtime.guard(() => Array.from(context.keyContextData.parms.coeffModulus));
  const plan = multipartyPlan(checked.params, moduli, checked.holders.length);
  if (checked.minContributors > plan.maxParticipants) {
    throw new InvalidInputError('HE_SETUP_INVALID', `minContributors ${checked.minContributors} is more than the ${plan.maxParticipants} participants a round can have with these parameters`, {
      minContributors: checked.minContributors,
    });
  }
  const degree = checked.params.polyModulusDegree;
  const keyBasis = { moduli, degree };
  // The seed is hashed with the parameters, so one seed reused across parameter sets gives unrelated polynomials.
  const prgKey = new Uint8Array(hkdfSync('sha256', checked.crs, Buffer.alloc(0), `cipher-nexus/he/mp/crs/v1\0${paramsHash(checked.params)}`, 32));
  const built: MultipartyContext = {
    setup: checked,
    runtime,
    bundle,
    plan,
    keyBasis,
    levelBasis: { moduli: moduli.slice(0, plan.level + 1), degree },
    keyParmsId: runtime.guard(() => parmsIdHex(context.keyParmsId.values)),
    levelParmsId: parmsIdHex(bundle.parmsIds[plan.level].values),
    scale: 2 ** plan.scaleBits,
    chunkBytes: sealCiphertextBytes(2, plan.level + 1, degree),
    crsPoly: uniformFromKey(prgKey, keyBasis),
    imaginaryUnit: imaginaryUnit(runtime, bundle, parmsIdHex(bundle.parmsIds[plan.level].values), { moduli: moduli.slice(0, plan.level + 1), degree }),
  };
  cache.delete(checked.digest);
  cache.set(checked.digest, built);
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  return built;
}

/**
 * SEAL's own NTT of the monomial X^(N/2): written as the first polynomial of a coefficient-form ciphertext (the second
 * is 1, since SEAL refuses a transparent one) and transformed by SEAL's evaluator, so the NTT's ordering is SEAL's.
 */
function imaginaryUnit(runtime: SealRuntime, bundle: ContextBundle, parmsId: string, basis: RnsBasis): BigUint64Array {
  const words = polyWords(basis);
  const data = new BigUint64Array(2 * words);
  for (let j = 0; j < basis.moduli.length; j++) {
    data[j * basis.degree + basis.degree / 2] = 1n;
    data[words + j * basis.degree] = 1n;
  }
  const bytes = writeSealCiphertext({ parmsId, nttForm: false, size: 2, polyModulusDegree: basis.degree, coeffModulusSize: basis.moduli.length, scale: 1, data });
  const cipher = runtime.lib.CipherText();
  try {
    const ntt = runtime.guard(() => {
      cipher.loadArray(bundle.context, bytes);
      bundle.evaluator.cipherTransformToNtt(cipher, cipher);
      return cipher.saveArray(runtime.lib.ComprModeType.none);
    });
    return parseSealCiphertext(ntt, 'the NTT of X^(N/2)').data.slice(0, words);
  } finally {
    if (runtime.alive) cipher.delete();
  }
}

/** The plan a setup leads to (level, scale, flooding, message room, largest round): what callers size rounds by. */
export async function multipartyPlanOf(setup: MultipartySetup): Promise<MultipartyPlan> {
  return (await multipartyContext(setup)).plan;
}

/** The slot layout of a round with `participants` participants; `HE_ROUND_INVALID` when nothing is left for the update. */
export function slotLayout(ctx: MultipartyContext, participants: number): SlotLayout {
  const tagStart = participants + 1;
  const payloadStart = tagStart + TAGS_PER_HOLDER * ctx.setup.holders.length;
  const realPayload = ctx.plan.slots - payloadStart;
  const payloadPerChunk = realPayload < 0 ? 0 : realPayload + ctx.plan.slots;
  return { participants, weightSlot: participants, tagStart, payloadStart, payloadPerChunk, realPayload };
}

/** Where value `k` of a chunk sits: the real part of slot payloadStart + k, then the imaginary part of slot k - realPayload. */
export function payloadSlot(layout: SlotLayout, k: number): { part: 'real' | 'imaginary'; slot: number } {
  return k < layout.realPayload ? { part: 'real', slot: layout.payloadStart + k } : { part: 'imaginary', slot: k - layout.realPayload };
}

/** Ciphertexts a vector of `length` values takes: at least one, since every ciphertext carries the round's metadata. */
export function chunkCount(layout: SlotLayout, length: number): number {
  return Math.max(1, Math.ceil(length / layout.payloadPerChunk));
}

/**
 * What makes a ciphertext other than a sum of fresh contributions, or undefined: size 2 (no unrelinearised product),
 * the plan's level (no rescale or modulus switch), exactly the plan's scale (no plaintext or ciphertext product), NTT form.
 */
export function chunkProblem(ctx: MultipartyContext, cipher: SealCiphertextMeta): { check: string; message: string } | undefined {
  if (cipher.size !== 2) return { check: 'size', message: `a ciphertext has ${cipher.size} polynomials, 2 expected` };
  if (cipher.parmsId !== ctx.levelParmsId || cipher.coeffModulusSize !== ctx.levelBasis.moduli.length) {
    return { check: 'level', message: `a ciphertext is not at the agreed level ${ctx.plan.level} (rescaled or switched down?)` };
  }
  if (cipher.scale !== ctx.scale) {
    return { check: 'scale', message: `a ciphertext has scale 2^${Math.log2(cipher.scale).toFixed(3)}, exactly 2^${ctx.plan.scaleBits} expected (multiplied?)` };
  }
  if (!cipher.nttForm || cipher.polyModulusDegree !== ctx.keyBasis.degree) return { check: 'ntt', message: 'a ciphertext is not in NTT form of degree N' };
  return undefined;
}
