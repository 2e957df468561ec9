import { randomBytes } from 'node:crypto';
import {
  combinePublicKey,
  decryptionShares,
  encryptContribution,
  generateHolderIdentity,
  generateKeyShare,
  generateParticipantIdentity,
  openAggregate,
  sumContributions,
  zeroiseKeyShare,
  type MultipartySetup,
} from '../../privacy/he/index.js';

/**
 * What the coordinator of a multi-party CKKS round sees (Mouchet et al. 2021, the project's
 * `privacy/he`): each participant's contribution as ciphertext bytes, and, once the K key holders
 * have each given their decryption share, the weighted mean of all contributions. Runs the real
 * scheme in process: key shares, the joint public key, encryption, the homomorphic sum, decryption
 * shares and the opening.
 */

/** Parameters of `ckksView`. */
export interface CkksViewParameters {
  /** Each participant's delta (unweighted; the scheme weighs it), in participant order. */
  updates: readonly Float32Array[];
  /** Key holders (the committee); 2 by default. */
  holders?: number;
}

/** The coordinator's view of one CKKS round. */
export interface CkksView {
  /**
   * Each participant's contribution read as if it were the update: the last 64-bit coefficients of its
   * ciphertexts (before the holders' MACs), each an integer over the scale 2^40 (how CKKS carries a real), read as a signed 64-bit word.
   */
  ciphertexts: Float32Array[];
  /** The weighted mean the holders open: all the round reveals. */
  mean: Float32Array;
  /** Bytes of one contribution. */
  ciphertextBytes: number;
}

/** A contribution ends with one HMAC-SHA-256 per holder after its ciphertexts (he/contribution.ts). */
const MAC_BYTES = 32;
const SCALE = 2 ** 40;

/** Runs one multi-party CKKS round at the n8192 preset with equal weights and returns what its coordinator saw. */
export async function ckksView(parameters: CkksViewParameters): Promise<CkksView> {
  const { updates } = parameters;
  const length = updates[0].length;
  const holders = Array.from({ length: parameters.holders ?? 2 }, (_, i) => generateHolderIdentity(`holder-${i}`));
  const setup: MultipartySetup = { jobId: 'leakage', preset: 'n8192', crs: randomBytes(32), holders: holders.map((h) => h.info), minContributors: 2 };
  const shares = [];
  for (const h of holders) shares.push(await generateKeyShare(setup, h.identity));
  const publicKey = await combinePublicKey(setup, shares.map((s) => s.publicShare), shares.map((s) => s.commitment));
  const participants = updates.map((_, i) => generateParticipantIdentity(`p${String(i).padStart(2, '0')}`));
  const round = { roundContext: 'leakage-round', participants: participants.map((p) => p.info) };
  const contributions: Uint8Array[] = [];
  for (let i = 0; i < updates.length; i++) contributions.push(await encryptContribution(setup, publicKey, { ...round, self: participants[i].identity, weights: updates[i], weight: 1 }));
  const aggregate = await sumContributions(setup, contributions);
  const expectation = { ...round, contributors: participants.map((p) => ({ id: p.info.id, weight: 1 })) };
  const sealed = [];
  for (const s of shares) sealed.push(await decryptionShares(s.secret, setup, aggregate, expectation));
  const opener = shares[0].secret;
  const mine = sealed.map((list) => list.find((s) => s.recipient === opener.holderId)?.share ?? new Uint8Array());
  const opened = await openAggregate(opener, setup, aggregate, mine, expectation);
  for (const s of shares) zeroiseKeyShare(s.secret);

  const ciphertexts = contributions.map((bytes) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset + bytes.byteLength - MAC_BYTES * holders.length - 8 * length, 8 * length);
    return Float32Array.from({ length }, (_, k) => Number(view.getBigInt64(8 * k, true)) / SCALE);
  });
  return { ciphertexts, mean: Float32Array.from(opened.mean), ciphertextBytes: contributions[0].byteLength };
}
