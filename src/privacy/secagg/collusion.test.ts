import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientSecAgg, selfMaskCommitment, survivorTranscript } from './client.js';
import { createRoundConfig, RoundPlan } from './config.js';
import { SecAggAbortError } from './errors.js';
import { agree, agreementKeyPair, generateIdentity, signTranscript } from './keys.js';
import { decodeMaskedInput, decodeMessage, encodeMessage } from './messages.js';
import { applyMask, deriveMaskKey } from './prg.js';
import { combineShares, type Share } from './shamir.js';
import { ServerSecAgg } from './server.js';

/**
 * The review's attack (Bonawitz et al. 2017 §6; Bell et al. 2020 §4): a coordinator with c colluding
 * holders of an honest client v shows group A of v's honest holders (and v) a survivor set that
 * contains v, and group B one that does not. A reveals shares of v's self-mask seed b_v, B shares of
 * its mask key s_v^SK, and the colluders give both. Each group reaches t signatures among v's
 * holders if |A| + 1 + c >= t and |B| + c >= t, which k + 1 = |A| + |B| + 1 + c holders allow
 * exactly when 2t <= k + 1 + c. With both secrets the coordinator strips every mask off v's vector.
 *
 * The round is the complete graph of 15 clients (k = 14), where every holder holds every owner's
 * shares, so a split only has to satisfy v's holders; in a sparse graph the split holders must also
 * pass the same count for every other owner they hold, which only makes the attack harder.
 */

const N = 15;
const D = 4;
const ids = Array.from({ length: N }, (_, i) => `c${i}`);

interface Attack {
  gamma: number;
  threshold: number;
  target: string;
  colluders: readonly string[];
  /** Honest holders (not the target) shown the survivor set with the target; the rest are shown it without. */
  groupA: readonly string[];
}

interface Outcome {
  /** Whether the coordinator rebuilt b_v, and s_v^SK, checked against v's commitment and public key. */
  selfMask: boolean;
  maskKey: boolean;
  /** v's input as the coordinator computes it from both secrets, or undefined. */
  recovered: Uint32Array | undefined;
  truth: Uint32Array;
}

type Held = Map<string, { selfMask: Uint8Array; maskKey: Uint8Array }>;

function attack({ gamma, threshold, target, colluders, groupA }: Attack): Outcome {
  const config = createRoundConfig({ participants: ids, vectorLength: D, clip: 1, gamma, delta: 0, degree: N - 1, threshold });
  const plan = new RoundPlan(config);
  const identities = new Map(ids.map((id) => [id, generateIdentity()]));
  const identityKeys = new Map([...identities].map(([id, pair]) => [id, pair.publicKey]));
  // Every client accepts the config (its own policy assumes the config's gamma).
  const clients = new Map(ids.map((id) => [id, new ClientSecAgg({ id, config, identity: identities.get(id)!.privateKey, identityKeys, policy: { gamma } })]));
  const server = new ServerSecAgg({ config, identityKeys });
  const inputs = new Map(ids.map((id, i) => [id, Uint32Array.from({ length: D }, (_, j) => 0x01000000 * (i + 1) + j)]));

  // Rounds 0 to 2 run honestly; the coordinator keeps what it sees.
  const bundles = new Map(ids.map((id) => [id, decodeMessage('advertiseKeys', clients.get(id)!.advertiseKeys())]));
  for (const id of ids) server.receiveAdvertiseKeys(encodeMessage('advertiseKeys', bundles.get(id)!));
  const keys = server.closeAdvertiseKeys();
  for (const id of ids) server.receiveShareKeys(clients.get(id)!.shareKeys(keys.get(id)!));
  const forwarded = server.closeShareKeys();
  for (const id of ids) server.receiveShareConfirmation(clients.get(id)!.confirmShares(forwarded.get(id)!));
  const confirmed = server.closeShareConfirmation();
  let targetVector = new Uint32Array(0);
  for (const id of ids) {
    const masked = clients.get(id)!.maskedInput(confirmed.get(id)!, inputs.get(id)!);
    if (id === target) targetVector = decodeMaskedInput(masked).vector.slice();
    server.receiveMaskedInput(masked);
  }
  // Colluders hand the coordinator the shares they hold.
  const stolen = colluders.map((c) => (clients.get(c) as unknown as { held: Held }).held.get(target)!).map((s) => ({ selfMask: s.selfMask.slice(), maskKey: s.maskKey.slice() }));
  const colluderPoints = colluders.map((c) => plan.pointOf(c));

  // Round 3: two survivor sets. Colluders sign both.
  const withTarget = [...ids];
  const without = ids.filter((id) => id !== target);
  const groupB = ids.filter((id) => id !== target && !colluders.includes(id) && !groupA.includes(id));
  const viewers = new Map<string, string[]>([...[target, ...groupA].map((id) => [id, withTarget] as const), ...groupB.map((id) => [id, without] as const)]);
  const signatures = new Map<string[], { id: string; signature: Uint8Array }[]>([
    [withTarget, []],
    [without, []],
  ]);
  for (const [id, view] of viewers) {
    const message = encodeMessage('survivors', { round: plan.round, survivors: view });
    signatures.get(view)!.push({ id, ...decodeMessage('consistencySignature', clients.get(id)!.consistencyCheck(message)) });
  }
  for (const view of [withTarget, without]) {
    for (const c of colluders) signatures.get(view)!.push({ id: c, signature: signTranscript(identities.get(c)!.privateKey, survivorTranscript(plan.context, view)) });
  }

  // Round 4: each honest client sees the signatures of its own view; it reveals, or refuses.
  const selfMaskShares: Share[] = stolen.map((s, i) => ({ x: colluderPoints[i], y: s.selfMask }));
  const maskKeyShares: Share[] = stolen.map((s, i) => ({ x: colluderPoints[i], y: s.maskKey }));
  for (const [id, view] of viewers) {
    const proof = encodeMessage('consistencyProof', { round: plan.round, signatures: plan.inOrder(signatures.get(view)!.map((s) => s.id)).map((s) => signatures.get(view)!.find((e) => e.id === s)!) });
    let reply: Uint8Array;
    try {
      reply = clients.get(id)!.unmask(proof);
    } catch (error) {
      if (error instanceof SecAggAbortError) continue;
      throw error;
    }
    const { selfMaskShares: b, keyShares: s } = decodeMessage('unmaskShares', reply);
    for (const share of b) if (share.owner === target) selfMaskShares.push({ x: plan.pointOf(id), y: share.share });
    for (const share of s) if (share.owner === target) maskKeyShares.push({ x: plan.pointOf(id), y: share.share });
  }

  // The coordinator's attempt: both secrets, checked as the honest server would check them.
  const bundle = bundles.get(target)!;
  const seed = selfMaskShares.length >= threshold ? combineShares(selfMaskShares, threshold) : undefined;
  const secretKey = maskKeyShares.length >= threshold ? combineShares(maskKeyShares, threshold) : undefined;
  const selfMask = seed !== undefined && Buffer.from(selfMaskCommitment(plan.context, target, seed)).equals(bundle.selfMaskCommitment);
  const maskKey = secretKey !== undefined && Buffer.from(agreementKeyPair(secretKey).publicKey).equals(bundle.maskKey);
  let recovered: Uint32Array | undefined;
  if (selfMask && maskKey) {
    recovered = targetVector.slice();
    applyMask(recovered, deriveMaskKey(seed!, plan.context, 'self-mask'), -1);
    const pair = agreementKeyPair(secretKey!);
    for (const w of ids) {
      if (w === target) continue;
      const shared = agree(pair, bundles.get(w)!.maskKey);
      applyMask(recovered, deriveMaskKey(shared, plan.context, 'pairwise-mask'), plan.pairSign(target, w) === 1 ? -1 : 1);
    }
  }
  return { selfMask, maskKey, recovered, truth: inputs.get(target)! };
}

describe('a malicious coordinator with colluding holders, showing holders different survivor sets', () => {
  // 2t > (k + 1)(1 + gamma) with k + 1 = 15 and gamma = 2/15: t = 9, and gamma(k + 1) = 2 colluders.
  const gamma = 2 / 15;
  const threshold = 9;

  it('the old parameters (t = 8, a least majority of 15): one colluder rebuilds both secrets and the exact input (the review: 7 + 1 and 7 + 1 of 15)', () => {
    const outcome = attack({ gamma: 0, threshold: 8, target: 'c0', colluders: ['c14'], groupA: ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'] });
    expect(outcome.recovered).toEqual(outcome.truth);
  });

  it('property: with gamma(k + 1) = 2 colluding holders, no split of the honest holders lets it rebuild both secrets of any target', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(ids, { minLength: 3, maxLength: 3 }),
        fc.array(fc.boolean(), { minLength: N, maxLength: N }),
        ([target, ...colluders], inA) => {
          const honest = ids.filter((id) => id !== target && !colluders.includes(id));
          const outcome = attack({ gamma, threshold, target, colluders, groupA: honest.filter((_, i) => inA[i]) });
          expect(outcome.selfMask && outcome.maskKey).toBe(false);
          expect(outcome.recovered).toBeUndefined();
        },
      ),
      { numRuns: 12 },
    );
  });

  it('with gamma(k + 1) = 2 colluders, the closest splits get one secret and fall one signature short of the other', () => {
    // 12 honest holders besides v: |A| + 1 + 2 >= 9 needs |A| >= 6, |B| + 2 >= 9 needs |B| >= 7, and 6 + 7 > 12.
    for (const [groupSize, selfMask, maskKey] of [
      [5, false, true],
      [6, true, false],
      [7, true, false],
    ] as const) {
      const honest = ids.slice(1, 13);
      const outcome = attack({ gamma, threshold, target: 'c0', colluders: ['c13', 'c14'], groupA: honest.slice(0, groupSize) });
      expect([outcome.selfMask, outcome.maskKey]).toEqual([selfMask, maskKey]);
      expect(outcome.recovered).toBeUndefined();
    }
  });

  it('one colluder more than the bound (3 > gamma(k + 1)) breaks it: 5 + 1 + 3 and 6 + 3 both reach t = 9, and the input is recovered exactly', () => {
    const outcome = attack({ gamma, threshold, target: 'c0', colluders: ['c12', 'c13', 'c14'], groupA: ['c1', 'c2', 'c3', 'c4', 'c5'] });
    expect(outcome.selfMask).toBe(true);
    expect(outcome.maskKey).toBe(true);
    expect(outcome.recovered).toEqual(outcome.truth);
  });
});
