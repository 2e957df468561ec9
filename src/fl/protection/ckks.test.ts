import { createPublicKey, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { HeAggregateRefusedError, sumContributions, type HolderInfo } from '../../privacy/he/index.js';
import type { ClientResult } from '../client-training.js';
import type { CkksTaskProtection } from '../participant-channel.js';
import { CkksParticipant, byId, roundSetup } from './ckks.js';
import { packParts, partText, unpackParts } from './parts.js';
import { generateCurveKeyPair } from '../../core/index.js';

// One CKKS round played message by message between participants' halves and a coordinator written
// out here, honest until the decryption request: the malicious coordinator then relays one
// participant's ciphertext as "the aggregate".
const IDS = ['p1', 'p2', 'p3', 'p4'];
const COMMITTEE = ['p1', 'p2', 'p3'];
const LENGTH = 600;
const ROUND = 'round-ckks-test';
const JOB = 'job-ckks-test';

const raw = (key: KeyObject): Uint8Array => new Uint8Array(Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x ?? '', 'base64url'));

describe('a CKKS round between participants and a coordinator', () => {
  const signing = new Map(IDS.map((id) => [id, generateCurveKeyPair('ed25519').privateKey]));
  const examples = new Map(IDS.map((id, i) => [id, 100 + 50 * i]));
  const global = Float32Array.from({ length: LENGTH }, (_, k) => Math.sin(k));
  const deltas = new Map(IDS.map((id, i) => [id, Float32Array.from({ length: LENGTH }, (_, k) => Math.cos(k * (i + 1)) / 10)]));
  const protection: CkksTaskProtection = {
    kind: 'ckks',
    preset: 'n8192',
    committee: COMMITTEE,
    minContributors: 2,
    weights: Object.fromEntries(examples),
    identityKeys: Object.fromEntries(IDS.map((id) => [id, Buffer.from(raw(signing.get(id) as KeyObject)).toString('base64')])),
  };
  const trained = (id: string) => async (): Promise<{ result: ClientResult; global: Float32Array }> => {
    const delta = deltas.get(id) as Float32Array;
    return { result: { clientId: id, weights: global.map((w, k) => w + delta[k]), numExamples: examples.get(id) as number, loss: 0, seconds: 0 }, global };
  };
  let participants: Map<string, CkksParticipant>;
  let contributions: Map<string, Uint8Array>;
  let holders: HolderInfo[];

  /** Runs the round up to the contributions, honestly. */
  beforeAll(async () => {
    participants = new Map(IDS.map((id) => [id, new CkksParticipant(id, JOB, ROUND, protection, signing.get(id) as KeyObject, examples.get(id) as number)]));
    const identities = byId(IDS.map((id) => [id, (participants.get(id) as CkksParticipant).identity()]));
    const commitments = new Map<string, Uint8Array>();
    for (const id of IDS) {
      const answer = await (participants.get(id) as CkksParticipant).answer('identities', identities, trained(id));
      if (answer) commitments.set(id, answer.body);
    }
    expect([...commitments.keys()]).toEqual(COMMITTEE);
    const commitmentsBody = byId(commitments);
    const shares = new Map<string, Uint8Array>();
    for (const id of COMMITTEE) shares.set(id, ((await (participants.get(id) as CkksParticipant).answer('commitments', commitmentsBody, trained(id))) as { body: Uint8Array }).body);
    const publicShares = packParts([commitmentsBody, byId(shares)]);
    contributions = new Map();
    for (const id of IDS) {
      const answer = await (participants.get(id) as CkksParticipant).answer('publicShares', publicShares, trained(id));
      expect(answer?.stage).toBe('contribution');
      contributions.set(id, (answer as { body: Uint8Array }).body);
    }
    const identityParts = unpackParts(identities, 'identities');
    holders = COMMITTEE.map((id) => {
      const keys = unpackParts(identityParts[2 * IDS.indexOf(id) + 1], 'identity');
      return { id, signingPublicKey: keys[1], transportPublicKey: keys[2] };
    });
  }, 60_000);

  const claimOf = (ids: readonly string[]): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(ids.map((id) => ({ id, weight: examples.get(id) })))));

  it('refuses every relay of one participant’s ciphertext as the aggregate: no holder gives a decryption share', async () => {
    const one = contributions.get('p4') as Uint8Array;
    const attempts: { what: string; sent: string[]; claimed: string[] }[] = [
      { what: 'alone, as itself', sent: ['p4'], claimed: ['p4'] },
      { what: 'claimed to be everyone’s sum', sent: IDS, claimed: IDS },
      { what: 'claimed to be the sum of two', sent: ['p4', 'p1'], claimed: ['p4', 'p1'] },
      { what: 'with no contributions to check it against', sent: [], claimed: IDS },
    ];
    for (const { what, sent, claimed } of attempts) {
      for (const holder of COMMITTEE) {
        const fresh = participants.get(holder) as CkksParticipant;
        for (const id of sent) await fresh.answer('contribution', byId([[id, contributions.get(id) as Uint8Array]]), trained(holder));
        const refusal = await fresh.answer('decrypt', packParts([one, claimOf(claimed)]), trained(holder)).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(refusal, `${holder} decrypted one ciphertext relayed ${what}`).toBeInstanceOf(HeAggregateRefusedError);
      }
    }
  }, 60_000);

  it('refuses to weigh an update by more than its participant declared, and a claim of other weights than the round fixed', async () => {
    const inflated: CkksTaskProtection = { ...protection, weights: { ...protection.weights, p2: (examples.get('p2') as number) + 1 } };
    expect(() => new CkksParticipant('p2', JOB, ROUND, inflated, signing.get('p2') as KeyObject, examples.get('p2') as number)).toThrow(/declared 150 examples/);
    const claim = new Uint8Array(Buffer.from(JSON.stringify(IDS.map((id) => ({ id, weight: id === 'p4' ? 1e12 : examples.get(id) })))));
    for (const holder of COMMITTEE) {
      await expect((participants.get(holder) as CkksParticipant).answer('decrypt', packParts([contributions.get('p1') as Uint8Array, claim]), trained(holder))).rejects.toMatchObject({ code: 'CKKS_WEIGHT_INVALID' });
    }
  });

  it('opens the honest sum to the weighted mean of the deltas', async () => {
    const setup = roundSetup(JOB, ROUND, 'n8192', holders, 2);
    const aggregate = await sumContributions(setup, IDS.map((id) => contributions.get(id) as Uint8Array));
    const shares = new Map<string, Uint8Array[]>(COMMITTEE.map((id) => [id, []]));
    // The refusals above came before any decryption, so the holders' shares of this round are still unspent.
    for (const holder of COMMITTEE) {
      const half = participants.get(holder) as CkksParticipant;
      for (const id of IDS) await half.answer('contribution', byId([[id, contributions.get(id) as Uint8Array]]), trained(holder));
      const answer = await half.answer('decrypt', packParts([aggregate, claimOf(IDS)]), trained(holder));
      expect(answer?.stage).toBe('decryptionShares');
      const parts = unpackParts((answer as { body: Uint8Array }).body, 'shares');
      for (let i = 0; i < parts.length; i += 2) shares.get(partText(parts[i]))?.push(parts[i + 1]);
    }
    const total = IDS.reduce((s, id) => s + (examples.get(id) as number), 0);
    for (const holder of COMMITTEE) {
      const answer = await (participants.get(holder) as CkksParticipant).answer('openShares', packParts(shares.get(holder) as Uint8Array[]), trained(holder));
      expect(answer?.stage).toBe('opened');
      const mean = new Float32Array(new Uint8Array((answer as { body: Uint8Array }).body).buffer);
      for (let k = 0; k < LENGTH; k += 37) {
        const expected = IDS.reduce((s, id) => s + (examples.get(id) as number) * (deltas.get(id) as Float32Array)[k], 0) / total;
        expect(Math.abs(mean[k] - expected)).toBeLessThan(1e-5);
      }
    }
  }, 60_000);
});
