import { randomBytes, sign } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CipherNexusError } from '../../core/index.js';
import { checkRound, generateHolderIdentity, generateParticipantIdentity, type AggregateExpectation, type MultipartySetup, type RoundInfo } from './committee.js';
import { contributionCheck, encodeRoundVector, encryptContribution, parseRoundVector, sumContributions } from './contribution.js';
import { decryptionShares, type SealedShare } from './decryption-share.js';
import { combinePublicKey, generateKeyShare, loadJointPublicKey, type KeyShareSecret } from './key-share.js';
import { multipartyContext, multipartyPlanOf, slotLayout, type MultipartyContext } from './multiparty-context.js';
import { openAggregate } from './open-aggregate.js';
import { addInto, multiplyInto, polyWords } from './rns.js';
import { parseSealCiphertext, parseSealPlaintext, writeSealCiphertext } from './seal-format.js';

/*
 * K = 3 holders, 5 participants. The coordinator in these tests is an attacker with everything but the keys: the
 * public key, every contribution of this and the previous round, SEAL's evaluator, and the wire format.
 */

const holders = ['hA', 'hB', 'hC'].map((id) => generateHolderIdentity(id));
const participants = ['p1', 'p2', 'p3', 'p4', 'p5'].map((id) => generateParticipantIdentity(id));
const setup: MultipartySetup = { jobId: 'mp-job', preset: 'n8192', crs: randomBytes(32), holders: holders.map((h) => h.info), minContributors: 3 };
const weights = [12, 30, 7, 51, 20];
let secrets: KeyShareSecret[];
let publicKey: Uint8Array;
let ctx: MultipartyContext;

/** The round's info and the claim of all its participants as contributors, with their weights. */
function roundOf(roundContext: string): { round: RoundInfo; all: AggregateExpectation } {
  const round = { roundContext, participants: participants.map((p) => p.info) };
  return { round, all: { ...round, contributors: participants.map((p, i) => ({ id: p.info.id, weight: weights[i] })) } };
}

function updates(length: number, seed: number): Float32Array[] {
  let s = seed;
  const next = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
  return participants.map(() => Float32Array.from({ length }, next));
}

async function contributions(round: RoundInfo, values: Float32Array[]): Promise<Uint8Array[]> {
  const out = [];
  for (let k = 0; k < participants.length; k++) out.push(await encryptContribution(setup, publicKey, { ...round, self: participants[k].identity, weights: values[k], weight: weights[k] }));
  return out;
}

/** A copy of a holder's secret that has not shared any round yet: lets one test ask for many attack aggregates. */
const fresh = (secret: KeyShareSecret): KeyShareSecret => ({ ...secret, spentRounds: new Set() });

/** Every holder's shares, then every holder's opening; each outcome is 'opened' or the refusal's code and check. */
async function attempt(aggregate: Uint8Array, expectation: AggregateExpectation, options: { contributions?: Uint8Array[] } = {}): Promise<string[]> {
  const holdersNow = secrets.map(fresh);
  const outcomeOf = (error: unknown): string => {
    if (!(error instanceof CipherNexusError)) throw error;
    const check = (error.details as { check?: string } | undefined)?.check;
    return check === undefined ? error.code : `${error.code}:${check}`;
  };
  const sealed: SealedShare[][] = [];
  for (const secret of holdersNow) {
    try {
      sealed.push(await decryptionShares(secret, setup, aggregate, expectation, options));
    } catch (error) {
      return [outcomeOf(error)];
    }
  }
  const outcomes = [];
  for (const secret of holdersNow) {
    const mine = sealed.map((list) => list.find((s) => s.recipient === secret.holderId)?.share ?? new Uint8Array());
    outcomes.push(await openAggregate(secret, setup, aggregate, mine, expectation).then(() => 'opened', outcomeOf));
  }
  return outcomes;
}

/** The attacker's tool: an aggregate with these SEAL ciphertexts under any round's header. */
function wrap(roundDigest: string, length: number, chunks: Uint8Array[]): Uint8Array {
  return encodeRoundVector(ctx, { kind: 'aggregate', roundDigest, length, position: -1, chunks });
}

function chunksOf(vector: Uint8Array): Uint8Array[] {
  return [...parseRoundVector(ctx, vector, 'vector').chunks];
}

/** Slot-wise sum of ciphertexts with coefficients (negative subtracts), as an evaluator would compute it. */
function combine(terms: [Uint8Array, number][]): Uint8Array {
  const acc = parseSealCiphertext(terms[0][0]);
  acc.data.fill(0n);
  const words = polyWords(ctx.levelBasis);
  for (const [bytes, times] of terms) {
    const data = parseSealCiphertext(bytes).data;
    const term = times >= 0 ? data : data.map((w, i) => (w === 0n ? 0n : ctx.levelBasis.moduli[Math.floor((i % words) / ctx.levelBasis.degree)] - w));
    for (let t = 0; t < Math.abs(times); t++) addInto(acc.data, term, ctx.levelBasis, 2);
  }
  return writeSealCiphertext(acc);
}

/** Multiplies a ciphertext by the plaintext 1 encoded at scale 2^20, optionally rescaling: what SEAL's evaluator gives. */
function timesPlain(bytes: Uint8Array, rescale: boolean): Uint8Array {
  const { lib } = ctx.runtime;
  const cipher = lib.CipherText();
  cipher.loadArray(ctx.bundle.context, bytes);
  const plain = ctx.bundle.encoder.encode(new Float64Array(ctx.plan.slots).fill(1), 2 ** 20) as ReturnType<typeof lib.PlainText>;
  ctx.bundle.evaluator.plainModSwitchTo(plain, cipher.parmsId, plain);
  ctx.bundle.evaluator.multiplyPlain(cipher, plain, cipher);
  if (rescale) ctx.bundle.evaluator.rescaleToNext(cipher, cipher);
  const out = cipher.saveArray(lib.ComprModeType.none);
  cipher.delete();
  plain.delete();
  return out;
}

/** What a coordinator can make without a participant's keys: its contributor bit and weight right, its tags guessed. */
function forged(round: RoundInfo, id: string, weight: number): Uint8Array {
  const { lib } = ctx.runtime;
  const checked = checkRound(ctx.setup, round, ctx.plan.maxParticipants);
  const layout = slotLayout(ctx, checked.participants.length);
  const slots = new Float64Array(ctx.plan.slots);
  slots[checked.positions.get(id) ?? -1] = 1;
  slots[layout.weightSlot] = weight;
  slots.fill(1.5, layout.tagStart, layout.payloadStart);
  const key = loadJointPublicKey(ctx, publicKey);
  const encryptor = lib.Encryptor(ctx.bundle.context, key);
  const plain = ctx.bundle.encoder.encode(slots, ctx.scale) as ReturnType<typeof lib.PlainText>;
  const cipher = encryptor.encrypt(plain) as ReturnType<typeof lib.CipherText>;
  const out = cipher.saveArray(lib.ComprModeType.none);
  for (const o of [key, encryptor, plain, cipher]) o.delete();
  return out;
}

beforeAll(async () => {
  const shares = [];
  for (const h of holders) shares.push(await generateKeyShare(setup, h.identity));
  secrets = shares.map((s) => s.secret);
  publicKey = await combinePublicKey(setup, shares.map((s) => s.publicShare), shares.map((s) => s.commitment));
  ctx = await multipartyContext(setup);
});

describe('multi-party CKKS aggregation', () => {
  it('opens the weighted mean of 5 updates of 10,000 parameters within 1e-5 at every holder, then refuses that round again', async () => {
    const { round, all } = roundOf('round-correct');
    const values = updates(10_000, 1);
    const aggregate = await sumContributions(setup, await contributions(round, values));
    const sealed = [];
    for (const secret of secrets) sealed.push(await decryptionShares(secret, setup, aggregate, all));
    const total = weights.reduce((s, w) => s + w, 0);
    const results = [];
    for (const secret of secrets) {
      const mine = sealed.map((list) => list.find((s) => s.recipient === secret.holderId)?.share ?? new Uint8Array());
      results.push(await openAggregate(secret, setup, aggregate, mine, all));
    }
    let worst = 0;
    for (let i = 0; i < 10_000; i++) {
      const expected = values.reduce((s, v, k) => s + weights[k] * v[i], 0) / total;
      worst = Math.max(worst, Math.abs(results[0].mean[i] - expected));
    }
    expect(worst).toBeLessThan(1e-5);
    expect(results[0].contributors).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
    expect(results[0].totalWeight).toBe(total);
    // All holders combine the same K shares, so they release the same bytes.
    for (const r of results) expect(Buffer.from(r.mean.buffer).equals(Buffer.from(results[0].mean.buffer))).toBe(true);

    for (const secret of secrets) {
      expect(secret.spentRounds.has('round-correct')).toBe(true);
      await expect(decryptionShares(secret, setup, aggregate, all)).rejects.toMatchObject({ code: 'HE_ROUND_ALREADY_SHARED' });
    }
  });

  it('carries the update in the imaginary parts of the slots too: N values a ciphertext less the metadata, i squared -1', async () => {
    const layout = slotLayout(ctx, participants.length);
    expect(layout.payloadPerChunk).toBe(ctx.levelBasis.degree - layout.payloadStart);
    const { round } = roundOf('round-packing');
    const bytes = await encryptContribution(setup, publicKey, { ...round, self: participants[0].identity, weights: new Float32Array(2 * layout.payloadPerChunk + 1), weight: 1 });
    expect(parseRoundVector(ctx, bytes, 'the contribution').chunks).toHaveLength(3);
    const squared = ctx.imaginaryUnit.slice();
    multiplyInto(squared, ctx.imaginaryUnit, ctx.levelBasis);
    const n = ctx.levelBasis.degree;
    ctx.levelBasis.moduli.forEach((q, j) => expect(squared.subarray(j * n, (j + 1) * n).every((w) => w === q - 1n)).toBe(true));
  });

  it('checks a contribution as it arrives: its own, of this round, of the model\'s length, in the right shape; each failure named', async () => {
    const { round } = roundOf('round-admission');
    const { round: other } = roundOf('round-other');
    const input = { self: participants[0].identity, weights: new Float32Array(10).fill(0.5), weight: 12 };
    const mine = await encryptContribution(setup, publicKey, { ...round, ...input });
    const check = await contributionCheck(setup, round);
    expect(() => check('p1', mine, 10)).not.toThrow();
    const refused = async (bytes: Uint8Array, id: string, length: number): Promise<unknown> => {
      try {
        check(id, bytes, length);
        return 'accepted';
      } catch (error) {
        const { code, details } = error as { code: string; details?: { check?: string } };
        return `${code}:${details?.check ?? ''}`;
      }
    };
    expect(await refused(mine, 'p2', 10)).toBe('HE_CIPHERTEXT_CORRUPT:position');
    expect(await refused(await encryptContribution(setup, publicKey, { ...other, ...input }), 'p1', 10)).toBe('HE_CIPHERTEXT_CORRUPT:round');
    expect(await refused(await sumContributions(setup, [mine]), 'p1', 10)).toBe('HE_CIPHERTEXT_CORRUPT:kind');
    expect(await refused(mine, 'p1', 11)).toBe('HE_CIPHERTEXT_CORRUPT:length');
    const parsed = parseRoundVector(ctx, mine, 'mine');
    const multiplied = encodeRoundVector(ctx, { ...parsed, chunks: parsed.chunks.map((c) => timesPlain(c, false)) }, () => holders.map(() => new Uint8Array(32)));
    expect(await refused(multiplied, 'p1', 10)).toBe('HE_CIPHERTEXT_CORRUPT:scale');
    const old = Uint8Array.from(mine);
    old[4] = 1;
    expect(await refused(old, 'p1', 10)).toBe('HE_FORMAT_VERSION:');
  });

  it('refuses a vector of the real-only format version 1 by name, with both versions', async () => {
    const { round } = roundOf('round-version');
    const bytes = await encryptContribution(setup, publicKey, { ...round, self: participants[0].identity, weights: new Float32Array(10), weight: 1 });
    const old = Uint8Array.from(bytes);
    old[4] = 1;
    expect(() => parseRoundVector(ctx, old, 'the contribution')).toThrow(expect.objectContaining({ code: 'HE_FORMAT_VERSION', message: expect.stringMatching(/version 1, this release reads version 2/) }));
  });

  it('shows the flooding noise in released slots with the deviation the plan predicts, 2^-30', async () => {
    const { round, all } = roundOf('round-noise');
    const layout = slotLayout(ctx, participants.length);
    const zeros = participants.map(() => new Float32Array(2 * layout.realPayload));
    const aggregate = await sumContributions(setup, await contributions(round, zeros));
    const sealed = [];
    for (const secret of secrets) sealed.push(await decryptionShares(secret, setup, aggregate, all));
    const mine = sealed.map((list) => list.find((s) => s.recipient === secrets[0].holderId)?.share ?? new Uint8Array());
    const { mean, totalWeight } = await openAggregate(secrets[0], setup, aggregate, mine, all);
    // The updates are zero, so each released value is the sum of the holders' flooding noise divided by the weight.
    // The first realPayload values sit in real parts of slots, the rest in imaginary parts: both carry the same noise.
    for (const part of [mean.subarray(0, layout.realPayload), mean.subarray(layout.realPayload)]) {
      const deviation = Math.sqrt(part.reduce((s, v) => s + (v * totalWeight) ** 2, 0) / part.length);
      expect(Math.abs(Math.log2(deviation) + 30)).toBeLessThan(0.2);
    }
  });

  describe('a coordinator relaying or reshaping ciphertexts: every holder refuses, naming the check, and nothing is released', () => {
    const length = 10000; // two ciphertexts per vector
    let current: Uint8Array[];
    let previous: Uint8Array[];
    let legit: Uint8Array;
    const { round, all } = roundOf('round-7');
    const { round: before } = roundOf('round-6');
    let digest: string;

    beforeAll(async () => {
      current = await contributions(round, updates(length, 7));
      previous = await contributions(before, updates(length, 6));
      legit = await sumContributions(setup, current);
      digest = parseRoundVector(ctx, legit, 'aggregate').roundDigest;
    });

    const relayOfP1 = (): Uint8Array => wrap(digest, length, chunksOf(current[0]));

    it('the honest aggregate opens (the baseline every variant below departs from)', async () => {
      expect(await attempt(legit, all)).toEqual(['opened', 'opened', 'opened']);
    });

    it("one participant's contribution as the aggregate: as sent, rewrapped, and claimed alone", async () => {
      expect(await attempt(current[0], all)).toEqual(['HE_AGGREGATE_REFUSED:kind']);
      expect(await attempt(relayOfP1(), all)).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:contributors'));
      expect(await attempt(relayOfP1(), { ...round, contributors: [{ id: 'p1', weight: 12 }] })).toEqual(['HE_AGGREGATE_REFUSED:min-contributors']);
    });

    it('that ciphertext times an integer', async () => {
      const five = chunksOf(current[0]).map((c) => combine([[c, 5]]));
      expect(await attempt(wrap(digest, length, five), all)).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:contributor-block'));
    });

    it("that ciphertext plus the other participants' ciphertexts of the previous round", async () => {
      const mixed = chunksOf(current[0]).map((c, i) => combine([[c, 1], ...previous.slice(1).map((p): [Uint8Array, number] => [chunksOf(p)[i], 1])]));
      expect(await attempt(wrap(digest, length, mixed), all)).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:tags'));
    });

    it("this round's aggregate with one participant swapped for another's previous-round ciphertext minus a third's", async () => {
      // Passes a {0, 1} contributor block and (with equal weights across rounds) the weight slot; the tags catch it.
      const swapped = chunksOf(legit).map((c, i) => combine([[c, 1], [chunksOf(current[1])[i], -1], [chunksOf(previous[1])[i], 1]]));
      expect(await attempt(wrap(digest, length, swapped), all)).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:tags'));
    });

    it('with a plaintext multiplied in, rescaled or not', async () => {
      expect(await attempt(wrap(digest, length, chunksOf(legit).map((c) => timesPlain(c, false))), all)).toEqual(['HE_AGGREGATE_REFUSED:scale']);
      expect(await attempt(wrap(digest, length, chunksOf(legit).map((c) => timesPlain(c, true))), all)).toEqual(['HE_AGGREGATE_REFUSED:level']);
    });

    it('an aggregate of the previous round, as made and relabelled for this round', async () => {
      const old = await sumContributions(setup, previous);
      expect(await attempt(old, all)).toEqual(['HE_AGGREGATE_REFUSED:round']);
      expect(await attempt(wrap(digest, length, chunksOf(old)), all)).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:tags'));
    });

    it("one participant's ciphertext plus contributions the coordinator encrypted itself for the others", async () => {
      const faked = chunksOf(current[0]).map((c) =>
        combine([[c, 1], ...participants.slice(1).map((p, k): [Uint8Array, number] => [forged(round, p.info.id, weights[k + 1]), 1])]),
      );
      expect(await attempt(wrap(digest, length, faked), all)).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:tags'));
    });

    it('the ciphertexts of the aggregate in another order', async () => {
      expect(await attempt(wrap(digest, length, chunksOf(legit).reverse()), all)).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:tags'));
    });

    it('the aggregate multiplied by i (X^(N/2), which keeps scale and level): refused, and refused in verified mode', async () => {
      // Multiplying both polynomials by X^(N/2) makes the ciphertext decrypt to i m: the imaginary parts, all of them
      // update values, move into the real parts, where the metadata are checked.
      const turned = chunksOf(legit).map((bytes) => {
        const cipher = parseSealCiphertext(bytes);
        const words = polyWords(ctx.levelBasis);
        for (const half of [cipher.data.subarray(0, words), cipher.data.subarray(words)]) multiplyInto(half, ctx.imaginaryUnit, ctx.levelBasis);
        return writeSealCiphertext(cipher);
      });
      const aggregate = wrap(digest, length, turned);
      expect(await attempt(aggregate, all)).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:contributor-block'));
      expect(await attempt(aggregate, all, { contributions: current })).toEqual(['HE_AGGREGATE_REFUSED:sum']);
    });

    it('a claim that differs from what was summed: a weight, a contributor, a non-participant', async () => {
      expect(await attempt(legit, { ...all, contributors: all.contributors.map((c) => (c.id === 'p2' ? { ...c, weight: 31 } : c)) })).toEqual(
        Array(3).fill('HE_AGGREGATE_REFUSED:weight'),
      );
      expect(await attempt(legit, { ...all, contributors: all.contributors.slice(1) })).toEqual(Array(3).fill('HE_AGGREGATE_REFUSED:contributors'));
      expect(await attempt(legit, { ...all, contributors: [...all.contributors, { id: 'p9', weight: 1 }] })).toEqual(['HE_AGGREGATE_REFUSED:claim']);
    });

    it('documented limit: without the contributions, an aggregate with a crafted polynomial added to c1 opens; with them, it is refused', async () => {
      // delta * s shows only in the update slots (delta encodes 1 there, 0 on the metadata), so every slot check passes
      // and the released mean carries a function of the joint secret key. README: "What the checks do not stop".
      const { lib } = ctx.runtime;
      const layout = slotLayout(ctx, participants.length);
      const mask = new Float64Array(ctx.plan.slots).fill(1, layout.payloadStart);
      const plain = ctx.bundle.encoder.encode(mask, 2 ** (ctx.plan.scaleBits - 10)) as ReturnType<typeof lib.PlainText>;
      const delta = parseSealPlaintext(plain.saveArray(lib.ComprModeType.none)).data;
      plain.delete();
      const tampered = chunksOf(legit).map((bytes) => {
        const cipher = parseSealCiphertext(bytes);
        addInto(cipher.data, delta, ctx.levelBasis, 1, polyWords(ctx.levelBasis));
        return writeSealCiphertext(cipher);
      });
      const aggregate = wrap(digest, length, tampered);
      expect(await attempt(aggregate, all)).toEqual(['opened', 'opened', 'opened']);
      expect(await attempt(aggregate, all, { contributions: current })).toEqual(['HE_AGGREGATE_REFUSED:sum']);
    });

    it('with the contributions (verified mode), holders open the honest sum and refuse a relay, a forged MAC or a missing contributor before decrypting', async () => {
      expect(await attempt(legit, all, { contributions: current })).toEqual(['opened', 'opened', 'opened']);
      expect(await attempt(relayOfP1(), all, { contributions: current })).toEqual(['HE_AGGREGATE_REFUSED:sum']);
      const altered = current[2].slice();
      altered[altered.length - 40] ^= 1;
      expect(await attempt(legit, all, { contributions: [current[0], current[1], altered, current[3], current[4]] })).toEqual(['HE_AGGREGATE_REFUSED:sum']);
      expect(await attempt(legit, all, { contributions: current.slice(1) })).toEqual(['HE_AGGREGATE_REFUSED:sum']);
    });

    it("property: one flipped byte in one participant's contribution is refused by the coordinator's check, by SEAL's load, or in verified mode by every holder; nothing is released", async () => {
      const check = await contributionCheck(setup, round);
      const code = (error: unknown): string => (error instanceof CipherNexusError ? error.code : `unexpected ${String(error)}`);
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: participants.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (who, at, mask) => {
          const altered = [...current];
          altered[who] = current[who].slice();
          altered[who][at % altered[who].length] ^= mask;
          try {
            check(participants[who].info.id, altered[who], length);
          } catch (error) {
            expect(code(error)).toMatch(/^HE_(CIPHERTEXT_CORRUPT|SETUP_MISMATCH|FORMAT_VERSION)$/);
            return;
          }
          let aggregate: Uint8Array;
          try {
            aggregate = await sumContributions(setup, altered);
          } catch (error) {
            expect(code(error)).toBe('HE_CIPHERTEXT_CORRUPT');
            return;
          }
          expect(await attempt(aggregate, all, { contributions: altered })).toEqual(['HE_AGGREGATE_REFUSED:sum']);
        }),
        { numRuns: 12 },
      );
    });
  });

  describe('decryption shares in transit', () => {
    const { round, all } = roundOf('round-shares');
    let aggregate: Uint8Array;
    let sealed: SealedShare[][];
    let opener: KeyShareSecret;
    const forOpener = (): Uint8Array[] => sealed.map((list) => list.find((s) => s.recipient === 'hA')?.share ?? new Uint8Array());

    beforeAll(async () => {
      aggregate = await sumContributions(setup, await contributions(round, updates(100, 3)));
      sealed = [];
      for (const secret of secrets) sealed.push(await decryptionShares(secret, setup, aggregate, all));
      opener = secrets[0];
    });

    const codeOf = (shares: Uint8Array[], on = aggregate): Promise<string> =>
      openAggregate(opener, setup, on, shares, all).then(
        () => 'opened',
        (error: unknown) => (error instanceof CipherNexusError ? error.code : `unexpected ${String(error)}`),
      );

    it('open when all three arrive, and are refused when one is missing, repeated, flipped, re-signed, misdirected or for another aggregate', async () => {
      const good = forOpener();
      expect(await codeOf(good)).toBe('opened');
      expect(await codeOf(good.slice(0, 2))).toBe('HE_SHARES_INCOMPLETE');
      expect(await codeOf([...good, good[1]])).toBe('HE_SHARE_DUPLICATE');
      const flipped = good[1].slice();
      flipped[flipped.length - 1000] ^= 0x08;
      expect(await codeOf([good[0], flipped, good[2]])).toBe('HE_SHARE_FORGED');
      // hB's share with a valid signature by hC's key: the signature does not match the sender it names.
      const body = good[1].subarray(0, good[1].length - 64);
      const resigned = Buffer.concat([body, sign(null, Buffer.concat([Buffer.from('cipher-nexus/he/mp/decryption-share/v1\0'), body]), holders[2].identity.signingKey)]);
      expect(await codeOf([good[0], resigned, good[2]])).toBe('HE_SHARE_FORGED');
      const toB = sealed[1].find((s) => s.recipient === 'hB')?.share ?? new Uint8Array();
      expect(await codeOf([good[0], toB, good[2]])).toBe('HE_SHARE_MISDIRECTED');
    });

    it('seals only to holders, refusing an unknown recipient before the round counts as shared', async () => {
      const holder = fresh(secrets[0]);
      await expect(decryptionShares(holder, setup, aggregate, all, { recipients: ['hA', 'hZ'] })).rejects.toMatchObject({ code: 'HE_INPUT_INVALID' });
      expect(holder.spentRounds.size).toBe(0);
      const one = await decryptionShares(holder, setup, aggregate, all, { recipients: ['hB'] });
      expect(one.map((s) => s.recipient)).toEqual(['hB']);
    });

    it('refuses shares made for another aggregate of the same round with HE_SHARE_MISMATCH', async () => {
      const values = updates(100, 4);
      const again = await sumContributions(setup, await contributions(round, values));
      expect(await codeOf(forOpener(), again)).toBe('HE_SHARE_MISMATCH');
    });

    it('property: any flipped byte of a share is a clean refusal, never a crash or a value', async () => {
      const good = forOpener();
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, at, mask) => {
          const shares = good.map((s) => s.slice());
          shares[which][at % shares[which].length] ^= mask;
          expect(['HE_SHARE_INVALID', 'HE_SHARE_FORGED', 'HE_SHARE_MISDIRECTED', 'HE_SHARE_MISMATCH']).toContain(await codeOf(shares));
        }),
        { numRuns: 60 },
      );
    });

    it('property: any flipped byte of the aggregate before sharing is a clean refusal by every holder, never a released value', async () => {
      await fc.assert(
        fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (at, mask) => {
          const bad = aggregate.slice();
          bad[at % bad.length] ^= mask;
          const outcomes = await attempt(bad, all).catch((error: unknown) => [`unexpected ${String(error)}`]);
          for (const outcome of outcomes) expect(outcome).toMatch(/^HE_(AGGREGATE_REFUSED|CIPHERTEXT_CORRUPT|SETUP_MISMATCH|FORMAT_VERSION)/);
        }),
        { numRuns: 20 },
      );
    });
  });

  it('tells callers the plan of their setup: level 2, scale 2^107, 30 bits of room, rounds of up to 2,048', async () => {
    expect(await multipartyPlanOf(setup)).toMatchObject({ level: 2, scaleBits: 107, messageBits: 30, maxParticipants: 2048 });
  });

  it('refuses contributions outside the round or the plan: a stranger, a wrong key, a weight or value too large', async () => {
    const { round } = roundOf('round-inputs');
    const stranger = generateParticipantIdentity('p9');
    const input = { ...round, self: participants[0].identity, weights: new Float32Array(4), weight: 1 };
    await expect(encryptContribution(setup, publicKey, { ...input, self: stranger.identity })).rejects.toMatchObject({ code: 'HE_ROUND_INVALID' });
    await expect(encryptContribution(setup, publicKey, { ...input, self: { id: 'p1', transportKey: stranger.identity.transportKey } })).rejects.toMatchObject({ code: 'HE_KEY_INVALID' });
    await expect(encryptContribution(setup, publicKey, { ...input, weight: 2 ** 29 })).rejects.toMatchObject({ code: 'HE_VALUE_OUT_OF_RANGE' });
    await expect(encryptContribution(setup, publicKey, { ...input, weights: Float32Array.of(0, Number.NaN) })).rejects.toMatchObject({ code: 'HE_VALUE_OUT_OF_RANGE' });
    await expect(sumContributions(setup, [])).rejects.toMatchObject({ code: 'HE_INPUT_INVALID' });
    const a = await encryptContribution(setup, publicKey, input);
    const b = await encryptContribution(setup, publicKey, { ...input, roundContext: 'round-other' });
    await expect(sumContributions(setup, [a, b])).rejects.toMatchObject({ code: 'HE_ROUND_MISMATCH' });
    await expect(sumContributions({ ...setup, crs: randomBytes(32) }, [a])).rejects.toMatchObject({ code: 'HE_SETUP_MISMATCH' });
  });
});
