import { describe, expect, it } from 'vitest';
import { ClientSecAgg, keyBundleTranscript, selfMaskCommitment, survivorTranscript } from './client.js';
import { createRoundConfig, RoundPlan, type CreateRoundConfigParameters, type RoundConfig } from './config.js';
import { generateAgreementKeyPair, generateIdentity, signTranscript } from './keys.js';
import { decodeMaskedInput, decodeMessage, encodeMaskedInput, encodeMessage } from './messages.js';
import { quantise } from './quantise.js';
import { ServerSecAgg } from './server.js';

/** A round of n clients driven by hand, so that tests can play a lying server or a forger. */
function setup(n: number, vectorLength = 8, config?: Partial<CreateRoundConfigParameters>) {
  const ids = Array.from({ length: n }, (_, i) => `c${i}`);
  const roundConfig: RoundConfig = createRoundConfig({ participants: ids, vectorLength, clip: 1, ...config });
  const identities = new Map(ids.map((id) => [id, generateIdentity()]));
  const identityKeys = new Map([...identities].map(([id, pair]) => [id, pair.publicKey]));
  const clients = new Map(
    ids.map((id) => [id, new ClientSecAgg({ id, config: roundConfig, identity: identities.get(id)!.privateKey, identityKeys, policy: { gamma: roundConfig.gamma } })]),
  );
  const server = new ServerSecAgg({ config: roundConfig, identityKeys });
  const inputs = new Map<string, Uint32Array>(ids.map((id, i) => [id, new Uint32Array(vectorLength).fill(i + 1)]));
  return { ids, roundConfig, identities, identityKeys, clients, server, inputs };
}

type Round = ReturnType<typeof setup>;

/** Rounds 0 and 1 with everyone present; returns the forwarded shares. */
function throughShareKeys({ ids, clients, server }: Round): Map<string, Uint8Array> {
  for (const id of ids) server.receiveAdvertiseKeys(clients.get(id)!.advertiseKeys());
  const keys = server.closeAdvertiseKeys();
  for (const id of ids) server.receiveShareKeys(clients.get(id)!.shareKeys(keys.get(id)!));
  return server.closeShareKeys();
}

/** Through share confirmation; returns the confirmed partners. */
function throughConfirmation(round: Round): Map<string, Uint8Array> {
  const shares = throughShareKeys(round);
  for (const id of round.ids) round.server.receiveShareConfirmation(round.clients.get(id)!.confirmShares(shares.get(id)!));
  return round.server.closeShareConfirmation();
}

/** Through the masked inputs; returns the survivor messages. */
function throughMaskedInput(round: Round): Map<string, Uint8Array> {
  const confirmed = throughConfirmation(round);
  for (const id of round.ids) round.server.receiveMaskedInput(round.clients.get(id)!.maskedInput(confirmed.get(id)!, round.inputs.get(id)!));
  return round.server.closeMaskedInputCollection();
}

describe('consistency check against a lying server (Bonawitz et al. 2017 round 3)', () => {
  it('a client shown a different survivor set cannot gather t signatures on it; the others reveal only shares of b_c3', () => {
    const round = setup(5, 8, { degree: 4 });
    const survivors = throughMaskedInput(round);
    const truth = decodeMessage('survivors', survivors.get('c0')!);
    // The server tells c4 that c3 dropped, hoping to get c3's key shares from c4 and b-shares from the rest.
    const lie = encodeMessage('survivors', { round: truth.round, survivors: truth.survivors.filter((id) => id !== 'c3') });
    const signatures = round.ids.map((id) => {
      const message = id === 'c4' ? lie : survivors.get(id)!;
      const { signature } = decodeMessage('consistencySignature', round.clients.get(id)!.consistencyCheck(message));
      return { id, signature };
    });
    // An honest server would refuse c4's signature; a lying one forwards everything.
    const proof = encodeMessage('consistencyProof', { round: truth.round, signatures });
    expect(() => round.clients.get('c4')!.unmask(proof)).toThrow(expect.objectContaining({ code: expect.stringMatching(/SECAGG_INCONSISTENT_VIEW|SECAGG_BELOW_THRESHOLD/) }));
    for (const id of ['c0', 'c1', 'c2', 'c3']) {
      const { selfMaskShares, keyShares } = decodeMessage('unmaskShares', round.clients.get(id)!.unmask(proof));
      expect(selfMaskShares.map((s) => s.owner)).toContain('c3');
      expect(keyShares).toEqual([]);
    }
  });

  it('a client refuses a proof holding a signature over another survivor set when it needs that signer', () => {
    const round = setup(4, 8, { degree: 3, threshold: 4 });
    const survivors = throughMaskedInput(round);
    const truth = decodeMessage('survivors', survivors.get('c0')!);
    const signatures = round.ids.map((id) => ({ id, signature: decodeMessage('consistencySignature', round.clients.get(id)!.consistencyCheck(survivors.get(id)!)).signature }));
    // c2's signature swapped for one over a set without c3.
    const plan = new RoundPlan(round.roundConfig);
    signatures[2].signature = signTranscript(round.identities.get('c2')!.privateKey, survivorTranscript(plan.context, ['c0', 'c1', 'c2']));
    // With t = 4 of 4 holders every signature is needed, so the odd one is checked and caught.
    const proof = encodeMessage('consistencyProof', { round: truth.round, signatures });
    expect(() => round.clients.get('c0')!.unmask(proof)).toThrow(expect.objectContaining({ code: 'SECAGG_INCONSISTENT_VIEW', details: { id: 'c2' } }));
  });

  it('a client refuses a survivor set that leaves itself out or repeats a client', () => {
    const round = setup(4, 8, { degree: 3 });
    const survivors = throughMaskedInput(round);
    const truth = decodeMessage('survivors', survivors.get('c0')!);
    const without = encodeMessage('survivors', { round: truth.round, survivors: ['c1', 'c2', 'c3'] });
    expect(() => round.clients.get('c0')!.consistencyCheck(without)).toThrow(expect.objectContaining({ code: 'SECAGG_INCONSISTENT_VIEW' }));
    const twice = encodeMessage('survivors', { round: truth.round, survivors: ['c1', 'c1', 'c2', 'c3'] });
    expect(() => round.clients.get('c1')!.consistencyCheck(twice)).toThrow(expect.objectContaining({ code: 'SECAGG_INCONSISTENT_VIEW' }));
  });

  it('a client will not sign a survivor set smaller than the DP floor minSummands', () => {
    const round = setup(4, 8, { degree: 3, minSummands: 4 });
    const survivors = throughMaskedInput(round);
    const truth = decodeMessage('survivors', survivors.get('c0')!);
    const small = encodeMessage('survivors', { round: truth.round, survivors: ['c0', 'c1', 'c2'] });
    expect(() => round.clients.get('c0')!.consistencyCheck(small)).toThrow(expect.objectContaining({ code: 'SECAGG_BELOW_THRESHOLD' }));
  });

  it('the honest server refuses a consistency signature over another set', () => {
    const round = setup(4, 8, { degree: 3 });
    const survivors = throughMaskedInput(round);
    const truth = decodeMessage('survivors', survivors.get('c0')!);
    const lie = encodeMessage('survivors', { round: truth.round, survivors: ['c0', 'c1', 'c2'] });
    const forged = round.clients.get('c0')!.consistencyCheck(lie);
    expect(() => round.server.receiveConsistencySignature(forged)).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_SIGNATURE' }));
  });

  it('a server that hides a holder from its owner, then counts it as a survivor, makes the owner abort', () => {
    // Isolation: the owner stops masking with a holder the server says has left, while the holder keeps
    // its share and would reveal it. The owner catches it when that holder shows up in U3.
    const round = setup(6, 8, { degree: 5, gamma: 0, delta: 0.2 });
    const confirmed = throughConfirmation(round);
    const forC0 = decodeMessage('confirmedPartners', confirmed.get('c0')!);
    const hidden = encodeMessage('confirmedPartners', { ...forC0, live: forC0.live.filter((id) => id !== 'c5') });
    round.server.receiveMaskedInput(round.clients.get('c0')!.maskedInput(hidden, round.inputs.get('c0')!));
    for (const id of round.ids.slice(1)) round.server.receiveMaskedInput(round.clients.get(id)!.maskedInput(confirmed.get(id)!, round.inputs.get(id)!));
    const survivors = round.server.closeMaskedInputCollection();
    expect(() => round.clients.get('c0')!.consistencyCheck(survivors.get('c0')!)).toThrow(/'c5' as a survivor after telling this client it had dropped out/);
  });

  it('a client chosen as holder by more clients than random draws allow leaves the round (a flood)', () => {
    // 60 participants, 3 holders each: honest draws give a client at most maxInDegree owners but for 2^-40.
    const round = setup(60, 4, { gamma: 0, delta: 0 });
    const plan = new RoundPlan(round.roundConfig);
    const victim = round.clients.get('c0')!;
    victim.advertiseKeys();
    // Colluders grind their holder seeds until their draw includes c0, and advertise.
    const flood = round.ids.slice(1, plan.maxInDegree + 2).map((id) => {
      let holderSeed: Uint8Array;
      do holderSeed = new Uint8Array(generateAgreementKeyPair().secretKey);
      while (!plan.holdersOf(id, holderSeed).includes('c0'));
      const [encryptionKey, maskKey] = [generateAgreementKeyPair().publicKey, generateAgreementKeyPair().publicKey];
      const commitment = selfMaskCommitment(plan.context, id, new Uint8Array(32));
      const signature = signTranscript(round.identities.get(id)!.privateKey, keyBundleTranscript(plan.context, id, encryptionKey, maskKey, commitment, holderSeed));
      return { id, encryptionKey, maskKey, selfMaskCommitment: commitment, holderSeed, signature };
    });
    const keys = encodeMessage('neighbourKeys', { round: plan.round, keys: flood });
    expect(() => victim.shareKeys(keys)).toThrow(expect.objectContaining({ code: 'SECAGG_FLOODED', details: expect.objectContaining({ owners: plan.maxInDegree + 1 }) }));
  });
});

describe('forged, tampered, replayed and malformed messages', () => {
  it('a tampered or misrouted share is blamed by its holder instead of aborting it', () => {
    const round = setup(4, 8, { degree: 3 });
    const shares = throughShareKeys(round);
    const forC0 = decodeMessage('forwardedShares', shares.get('c0')!);
    const flipped = forC0.shares.map((s, i) => (i === 0 ? { ...s, ciphertext: s.ciphertext.map((b, j) => (j === 5 ? b ^ 1 : b)) } : s));
    const tampered = encodeMessage('forwardedShares', { round: forC0.round, shares: flipped });
    const blamesC0 = decodeMessage('shareConfirmation', round.clients.get('c0')!.confirmShares(tampered)).blames;
    expect(blamesC0.map((b) => [b.owner, b.reason])).toEqual([[forC0.shares[0].sender, 1]]);
    // c1's ciphertexts relabelled as coming from c2: the associated data no longer matches.
    const forC3 = decodeMessage('forwardedShares', shares.get('c3')!);
    const relabelled = forC3.shares.map((s) => (s.sender === 'c1' ? { ...s, sender: 'c2' } : s.sender === 'c2' ? { ...s, sender: 'c1' } : s));
    const misrouted = encodeMessage('forwardedShares', { round: forC3.round, shares: relabelled });
    const blamesC3 = decodeMessage('shareConfirmation', round.clients.get('c3')!.confirmShares(misrouted)).blames;
    expect(blamesC3.map((b) => b.owner).sort()).toEqual(['c1', 'c2']);
    expect(round.clients.get('c3')!.finished).toBe(false);
  });

  it('a server substituting a partner key is caught by its signature', () => {
    const round = setup(3, 8, { degree: 2 });
    for (const id of round.ids) round.server.receiveAdvertiseKeys(round.clients.get(id)!.advertiseKeys());
    const replies = round.server.closeAdvertiseKeys();
    const keys = decodeMessage('neighbourKeys', replies.get('c0')!);
    const mine = generateIdentity();
    const swapped = encodeMessage('neighbourKeys', { round: keys.round, keys: keys.keys.map((k, i) => (i === 0 ? { ...k, maskKey: mine.publicKey } : k)) });
    expect(() => round.clients.get('c0')!.shareKeys(swapped)).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_SIGNATURE' }));
    // Nor can it swap a client's holder seed to pick its holders for it.
    const forC1 = decodeMessage('neighbourKeys', replies.get('c1')!);
    const reseeded = encodeMessage('neighbourKeys', { round: forC1.round, keys: forC1.keys.map((k, i) => (i === 0 ? { ...k, holderSeed: new Uint8Array(32) } : k)) });
    expect(() => round.clients.get('c1')!.shareKeys(reseeded)).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_SIGNATURE' }));
  });

  it('the server refuses a key bundle with a small-order X25519 key, for its partners', () => {
    const round = setup(3, 8, { degree: 2 });
    const plan = new RoundPlan(round.roundConfig);
    const bundle = decodeMessage('advertiseKeys', round.clients.get('c0')!.advertiseKeys());
    // u = 0 is a point of small order: every agreement with it is zero (RFC 7748 §6.1).
    const zero = new Uint8Array(32);
    const signature = signTranscript(round.identities.get('c0')!.privateKey, keyBundleTranscript(plan.context, 'c0', zero, bundle.maskKey, bundle.selfMaskCommitment, bundle.holderSeed));
    expect(() => round.server.receiveAdvertiseKeys(encodeMessage('advertiseKeys', { ...bundle, encryptionKey: zero, signature }))).toThrow(
      expect.objectContaining({ code: 'SECAGG_BAD_KEY' }),
    );
  });

  it('the server refuses bad messages with a reason and the round still completes', () => {
    const round = setup(4, 8, { degree: 3 });
    const other = setup(4, 8, { degree: 3 });
    const { clients, server, ids, inputs } = round;
    const advertised = ids.map((id) => clients.get(id)!.advertiseKeys());
    // Signed by someone else's identity: a client impersonating c1.
    const bundle = decodeMessage('advertiseKeys', advertised[1]);
    const forged = encodeMessage('advertiseKeys', { ...bundle, signature: decodeMessage('advertiseKeys', advertised[2]).signature });
    expect(() => server.receiveAdvertiseKeys(forged)).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_SIGNATURE' }));
    // A message from another round (replay).
    expect(() => server.receiveAdvertiseKeys(other.clients.get('c0')!.advertiseKeys())).toThrow(expect.objectContaining({ code: 'SECAGG_WRONG_ROUND' }));
    // Garbage and truncated bytes.
    expect(() => server.receiveAdvertiseKeys(new Uint8Array([1, 2, 3]))).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_MESSAGE' }));
    expect(() => server.receiveAdvertiseKeys(advertised[0].subarray(0, advertised[0].length - 3))).toThrow(/malformed/);
    for (const message of advertised) server.receiveAdvertiseKeys(message);
    expect(() => server.receiveAdvertiseKeys(advertised[0])).toThrow(expect.objectContaining({ code: 'SECAGG_DUPLICATE' }));
    const keys = server.closeAdvertiseKeys();
    for (const id of ids) server.receiveShareKeys(clients.get(id)!.shareKeys(keys.get(id)!));
    const shares = server.closeShareKeys();
    const confirmations = ids.map((id) => clients.get(id)!.confirmShares(shares.get(id)!));
    // A blame signed by someone else than its sender.
    const confirmation = decodeMessage('shareConfirmation', confirmations[0]);
    const fakeBlame = encodeMessage('shareConfirmation', { ...confirmation, blames: [{ owner: 'c1', reason: 1, signature: new Uint8Array(64) }] });
    expect(() => server.receiveShareConfirmation(fakeBlame)).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_SIGNATURE' }));
    for (const message of confirmations) server.receiveShareConfirmation(message);
    const confirmed = server.closeShareConfirmation();
    const masked = ids.map((id) => clients.get(id)!.maskedInput(confirmed.get(id)!, inputs.get(id)!));
    // A wrong vector length, however well-formed.
    const { header, vector } = decodeMaskedInput(masked[0]);
    const short = encodeMaskedInput({ ...header, length: vector.length - 1 }, vector.subarray(1));
    expect(() => server.receiveMaskedInput(short)).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_MESSAGE' }));
    expect(() => server.receiveMaskedInput(masked[0].subarray(0, masked[0].length - 4))).toThrow(/announces 8 words/);
    for (const message of masked) server.receiveMaskedInput(message);
    const survivors = server.closeMaskedInputCollection();
    for (const id of ids) server.receiveConsistencySignature(clients.get(id)!.consistencyCheck(survivors.get(id)!));
    const proof = server.closeConsistencyCheck();
    for (const id of ids) server.receiveUnmaskShares(clients.get(id)!.unmask(proof.get(id)!));
    const result = server.finish();
    expect([...result.quantisedSum]).toEqual(new Array(8).fill(1 + 2 + 3 + 4));
    expect(result.blamed).toEqual([]);
  });
});

/** Pearson's chi-square statistic of counts against a uniform expectation. */
function chiSquare(counts: readonly number[], total: number): number {
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

describe('a mask prepared before the input is known', () => {
  it('prepareMask then maskInput gives the vector maskedInput would, and the server sums it exactly', () => {
    const round = setup(4, 8, { degree: 3 });
    const confirmed = throughConfirmation(round);
    // Masks are fixed once the partners are: preparing early changes nothing the server sees.
    for (const id of round.ids) round.clients.get(id)!.prepareMask(confirmed.get(id)!);
    for (const id of round.ids) round.server.receiveMaskedInput(round.clients.get(id)!.maskInput(round.inputs.get(id)!));
    const survivors = round.server.closeMaskedInputCollection();
    for (const id of round.ids) round.server.receiveConsistencySignature(round.clients.get(id)!.consistencyCheck(survivors.get(id)!));
    const proof = round.server.closeConsistencyCheck();
    for (const id of round.ids) round.server.receiveUnmaskShares(round.clients.get(id)!.unmask(proof.get(id)!));
    expect([...round.server.finish().quantisedSum]).toEqual(new Array(8).fill(1 + 2 + 3 + 4));
  });

  it('an input cannot be masked before the mask is prepared, nor twice, and a wrong length aborts the client', () => {
    const round = setup(3, 8, { degree: 2 });
    const confirmed = throughConfirmation(round);
    const c0 = round.clients.get('c0')!;
    expect(() => c0.maskInput(round.inputs.get('c0')!)).toThrow(expect.objectContaining({ code: 'SECAGG_OUT_OF_ORDER' }));
    const c1 = round.clients.get('c1')!;
    c1.prepareMask(confirmed.get('c1')!);
    c1.maskInput(round.inputs.get('c1')!);
    expect(() => c1.maskInput(round.inputs.get('c1')!)).toThrow(expect.objectContaining({ code: 'SECAGG_OUT_OF_ORDER' }));
    const c2 = round.clients.get('c2')!;
    c2.prepareMask(confirmed.get('c2')!);
    expect(() => c2.maskInput(new Uint32Array(7))).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_INPUT' }));
    expect(c2.finished).toBe(true);
  });
});

describe('what the server holds', () => {
  it('a single masked vector is indistinguishable from uniform in Z_2^32, even for an all-zero input', () => {
    const d = 1 << 17;
    const round = setup(3, d, { degree: 2 });
    for (const id of round.ids) round.inputs.set(id, quantise(new Float32Array(d), round.roundConfig.quantisation));
    const confirmed = throughConfirmation(round);
    const { vector } = decodeMaskedInput(round.clients.get('c0')!.maskedInput(confirmed.get('c0')!, round.inputs.get('c0')!));
    const top = new Array(256).fill(0);
    const bits = new Array(32).fill(0);
    for (const word of vector) {
      top[word >>> 24]++;
      for (let b = 0; b < 32; b++) bits[b] += (word >>> b) & 1;
    }
    // Chi-square with 255 degrees of freedom: p = 1e-6 is near 370; the plain quantised input scores about 3e7.
    expect(chiSquare(top, d)).toBeLessThan(370);
    const plainTop = new Array(256).fill(0);
    for (const word of round.inputs.get('c0')!) plainTop[word >>> 24]++;
    expect(chiSquare(plainTop, d)).toBeGreaterThan(1e6);
    // Every bit is 1 half of the time, within 5 standard deviations.
    for (const count of bits) expect(Math.abs(count - d / 2)).toBeLessThan(5 * Math.sqrt(d / 4));
  });

  it('the server API takes and returns serialised bytes only', () => {
    const round = setup(3, 8, { degree: 2 });
    const methods = Object.getOwnPropertyNames(ServerSecAgg.prototype).filter((m) => m.startsWith('receive'));
    expect(methods).toHaveLength(6);
    for (const m of methods) expect((ServerSecAgg.prototype as unknown as Record<string, (x: unknown) => unknown>)[m].length).toBe(1);
    for (const id of round.ids) round.server.receiveAdvertiseKeys(round.clients.get(id)!.advertiseKeys());
    for (const message of round.server.closeAdvertiseKeys().values()) expect(message).toBeInstanceOf(Uint8Array);
  });
});
