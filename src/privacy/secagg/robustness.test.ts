import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientSecAgg } from './client.js';
import { createRoundConfig } from './config.js';
import { generateIdentity } from './keys.js';
import { SecAggAbortError } from './errors.js';
import { decodeMessage, encodeMessage } from './messages.js';
import { ServerSecAgg, type SecAggResult } from './server.js';

/**
 * Malicious clients against an honest coordinator: one deals shares its holders cannot decrypt,
 * one reveals a corrupt share in round 4. Each must be blamed by id and the round must complete
 * with the exact sum of the inputs it reports.
 */

const N = 10;
const D = 6;

interface Hooks {
  /** Rewrites a client's ShareKeys message before the server sees it (a client dealing bad shares). */
  shareKeys?: (id: string, bytes: Uint8Array) => Uint8Array;
  /** Rewrites a client's unmasking message (a client revealing a bad share). */
  unmask?: (id: string, bytes: Uint8Array) => Uint8Array;
  /** Clients that vanish after share confirmation (their mask keys must then be rebuilt). */
  dropAfterConfirmation?: ReadonlySet<string>;
  /** The drop-out fraction the round is configured for (default DEFAULT_DELTA): each misbehaving client uses up one drop-out. */
  delta?: number;
}

/** One round of n clients with default parameters, every message through `hooks`. */
function play(hooks: Hooks): { result: SecAggResult; inputs: Map<string, Uint32Array> } {
  const ids = Array.from({ length: N }, (_, i) => `c${i}`);
  const config = createRoundConfig({ participants: ids, vectorLength: D, clip: 1, delta: hooks.delta });
  const identities = new Map(ids.map((id) => [id, generateIdentity()]));
  const identityKeys = new Map([...identities].map(([id, pair]) => [id, pair.publicKey]));
  const clients = new Map(ids.map((id) => [id, new ClientSecAgg({ id, config, identity: identities.get(id)!.privateKey, identityKeys })]));
  const server = new ServerSecAgg({ config, identityKeys });
  const inputs = new Map(ids.map((id, i) => [id, Uint32Array.from({ length: D }, (_, j) => 1000 * i + j)]));
  // A client that aborts (e.g. a partner that dealt it a bad share still holds one of its own) is a drop-out.
  const exchange = (inbox: Map<string, Uint8Array>, step: (client: ClientSecAgg, id: string, message: Uint8Array) => Uint8Array, receive: (bytes: Uint8Array) => void) => {
    for (const [id, message] of inbox) {
      let reply: Uint8Array;
      try {
        reply = step(clients.get(id)!, id, message);
      } catch (error) {
        if (error instanceof SecAggAbortError) continue;
        throw error;
      }
      receive(reply);
    }
  };
  for (const id of ids) server.receiveAdvertiseKeys(clients.get(id)!.advertiseKeys());
  exchange(server.closeAdvertiseKeys(), (c, id, m) => (hooks.shareKeys ?? ((_, b) => b))(id, c.shareKeys(m)), (b) => server.receiveShareKeys(b));
  exchange(server.closeShareKeys(), (c, _, m) => c.confirmShares(m), (b) => server.receiveShareConfirmation(b));
  const confirmed = server.closeShareConfirmation();
  for (const id of hooks.dropAfterConfirmation ?? []) confirmed.delete(id);
  exchange(confirmed, (c, id, m) => c.maskedInput(m, inputs.get(id)!), (b) => server.receiveMaskedInput(b));
  exchange(server.closeMaskedInputCollection(), (c, _, m) => c.consistencyCheck(m), (b) => server.receiveConsistencySignature(b));
  exchange(server.closeConsistencyCheck(), (c, id, m) => (hooks.unmask ?? ((_, b) => b))(id, c.unmask(m)), (b) => server.receiveUnmaskShares(b));
  return { result: server.finish(), inputs };
}

function plainSum(inputs: ReadonlyMap<string, Uint32Array>, summands: readonly string[]): Uint32Array {
  const sum = new Uint32Array(D);
  for (const id of summands) inputs.get(id)!.forEach((x, j) => (sum[j] += x));
  return sum;
}

/** Flips one bit of the AES-GCM ciphertext of `owner`'s shares to the holders in `to` (all if omitted). */
const garble = (owner: string, to?: ReadonlySet<string>) => (id: string, bytes: Uint8Array): Uint8Array => {
  if (id !== owner) return bytes;
  const message = decodeMessage('shareKeys', bytes);
  const shares = message.shares.map((s) => (to && !to.has(s.receiver) ? s : { ...s, ciphertext: s.ciphertext.map((b, j) => (j === 3 ? b ^ 0x10 : b)) }));
  return encodeMessage('shareKeys', { ...message, shares });
};

/** Changes every share `holder` reveals in round 4 to another field element. */
const corruptReveal = (holder: string) => (id: string, bytes: Uint8Array): Uint8Array => {
  if (id !== holder) return bytes;
  const message = decodeMessage('unmaskShares', bytes);
  const bad = (list: typeof message.selfMaskShares) => list.map((s) => ({ ...s, share: s.share.map((b, j) => (j === 2 ? b ^ 1 : b)) }));
  return encodeMessage('unmaskShares', { ...message, selfMaskShares: bad(message.selfMaskShares), keyShares: bad(message.keyShares) });
};

describe('a client dealing undecryptable shares is blamed, and the round completes', () => {
  it('one bad share: its holder blames it, the two stop masking with each other, its input still counts', () => {
    // Which holder gets the bad share is only known from c3's message: garble the first one it addresses.
    let victim = '';
    const { result, inputs } = play({
      shareKeys: (id, bytes) => {
        if (id !== 'c3') return bytes;
        victim = decodeMessage('shareKeys', bytes).shares[0].receiver;
        return garble('c3', new Set([victim]))(id, bytes);
      },
    });
    expect(result.blamed).toEqual([
      expect.objectContaining({ id: 'c3', stage: 'confirmShares', reason: 'undecryptable-share', reportedBy: [victim], inputExcluded: false }),
    ]);
    expect(result.summands).toHaveLength(N);
    expect(result.quantisedSum).toEqual(plainSum(inputs, result.summands));
  });

  it('all its shares bad: it keeps no good holder, is dropped before masking, and the sum leaves it out', () => {
    const { result, inputs } = play({ shareKeys: garble('c3') });
    expect(result.blamed).toEqual([expect.objectContaining({ id: 'c3', reason: 'undecryptable-share', inputExcluded: true, message: expect.stringContaining('dropped before masking') })]);
    expect(result.blamed[0].reportedBy.length).toBeGreaterThan(0);
    expect(result.sets.shared).toContain('c3');
    expect(result.sets.confirmed).not.toContain('c3');
    expect(result.summands).not.toContain('c3');
    expect(result.quantisedSum).toEqual(plainSum(inputs, result.summands));
  });
});

describe('a client revealing a bad share in round 4 is blamed, and the round completes', () => {
  it('its shares are set aside as if it had dropped out of round 4; the secrets are rebuilt from the others', () => {
    // c9 drops after confirmation, so round 4 rebuilds its mask key as well as the survivors' seeds.
    const { result, inputs } = play({ unmask: corruptReveal('c5'), dropAfterConfirmation: new Set(['c9']) });
    expect(result.blamed).toEqual([expect.objectContaining({ id: 'c5', stage: 'unmasking', reason: 'bad-unmasking-share', reportedBy: [], inputExcluded: false })]);
    expect(result.summands).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8']);
    expect(result.quantisedSum).toEqual(plainSum(inputs, result.summands));
  });

  it('property: a bad dealer and a bad revealer, within the configured drop-outs, give the exact sum of the reported summands, both named', () => {
    const ids = Array.from({ length: N }, (_, i) => `c${i}`);
    fc.assert(
      fc.property(fc.constantFrom(...ids), fc.boolean(), fc.constantFrom(...ids), (dealer, allShares, revealer) => {
        fc.pre(dealer !== revealer);
        // The dealer garbles its shares to all its holders, or to those among c0..c4 only. Configured for
        // three drop-outs: a client that both holds a share of the dealer and has the dealer as a holder
        // loses two shares of its own secrets (the broken edge, and its own share, which it keeps back),
        // and the bad revealer one.
        const { result, inputs } = play({ shareKeys: garble(dealer, allShares ? undefined : new Set(ids.slice(0, 5))), unmask: corruptReveal(revealer), delta: 0.3 });
        expect(result.quantisedSum).toEqual(plainSum(inputs, result.summands));
        const blamedIds = new Set(result.blamed.map((b) => b.id));
        // A dealer none of whose holders is among c0..c4 dealt no bad share: nothing to blame it for.
        if (allShares) expect(blamedIds.has(dealer)).toBe(true);
        expect(blamedIds.has(revealer)).toBe(true);
        for (const blame of result.blamed) expect(blame.inputExcluded).toBe(!result.summands.includes(blame.id));
      }),
      { numRuns: 16 },
    );
  });
});
