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
  type KeyShareSecret,
  type MultipartySetup,
  type SealedShare,
} from '../src/privacy/he/index.js';
import type { BenchResult } from './bench-result.js';

const DIMENSION = 100_000;
const HOLDERS = 3;
/** Participants in the round (the contributor block is this wide) and ciphertexts summed. */
const SUMMED = 100;
// Distinct contributions encrypted; the sum of 100 cycles through them (an addition costs the same whatever it adds),
// and the aggregate that is shared and opened is the honest sum of these.
const DISTINCT = 10;

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}

/** Multi-party CKKS at the default preset (n8192), 3 holders, a 100,000-parameter update: each step's time and bytes. */
export async function benchHeMultiparty(): Promise<BenchResult> {
  const holders = Array.from({ length: HOLDERS }, (_, i) => generateHolderIdentity(`holder-${i}`));
  const setup: MultipartySetup = { jobId: 'bench-mp', preset: 'n8192', crs: randomBytes(32), holders: holders.map((h) => h.info), minContributors: 3 };
  const keygen = await timed(async () => {
    const shares = [];
    for (const h of holders) shares.push(await generateKeyShare(setup, h.identity));
    return shares;
  });
  const secrets: KeyShareSecret[] = keygen.value.map((s) => s.secret);
  const combine = await timed(() => combinePublicKey(setup, keygen.value.map((s) => s.publicShare), keygen.value.map((s) => s.commitment)));
  const publicKey = combine.value;
  const participants = Array.from({ length: SUMMED }, (_, i) => generateParticipantIdentity(`p${String(i).padStart(3, '0')}`));
  const round = { roundContext: 'bench-round', participants: participants.map((p) => p.info) };
  const updates = Array.from({ length: DISTINCT }, () => Float32Array.from({ length: DIMENSION }, () => Math.random() * 2 - 1));
  const weights = updates.map(() => 1 + Math.floor(Math.random() * 500));
  await encryptContribution(setup, publicKey, { ...round, self: participants[0].identity, weights: updates[0].subarray(0, 10), weight: 1 }); // warm-up
  const contributions: Uint8Array[] = [];
  let encryptMs = 0;
  for (let k = 0; k < DISTINCT; k++) {
    const { value, ms } = await timed(() => encryptContribution(setup, publicKey, { ...round, self: participants[k].identity, weights: updates[k], weight: weights[k] }));
    contributions.push(value);
    encryptMs += ms / DISTINCT;
  }
  const sum100 = await timed(() => sumContributions(setup, Array.from({ length: SUMMED }, (_, k) => contributions[k % DISTINCT])));
  // The baseline in the same run: the plaintext weighted sum of as many float32 updates (what a plain coordinator does).
  const plain = await timed(async () => {
    const acc = new Float64Array(DIMENSION);
    for (let k = 0; k < SUMMED; k++) {
      const u = updates[k % DISTINCT];
      const w = weights[k % DISTINCT];
      for (let i = 0; i < DIMENSION; i++) acc[i] += w * u[i];
    }
    return acc;
  });
  const aggregate = await sumContributions(setup, contributions);
  const expectation = { ...round, contributors: weights.map((weight, k) => ({ id: participants[k].info.id, weight })) };
  const sealed: SealedShare[][] = [];
  let shareMs = 0;
  for (const secret of secrets) {
    const { value, ms } = await timed(() => decryptionShares(secret, setup, aggregate, expectation));
    sealed.push(value);
    shareMs += ms / HOLDERS;
  }
  const verified = await timed(() => decryptionShares({ ...secrets[0], spentRounds: new Set() }, setup, aggregate, expectation, { contributions }));
  const opener = secrets[0];
  const mine = sealed.map((list) => list.find((s) => s.recipient === opener.holderId)?.share ?? new Uint8Array());
  const open = await timed(() => openAggregate(opener, setup, aggregate, mine, expectation));
  const total = weights.reduce((s, w) => s + w, 0);
  let maxError = 0;
  for (let i = 0; i < DIMENSION; i++) {
    const expected = updates.reduce((s, u, k) => s + weights[k] * u[i], 0) / total;
    maxError = Math.max(maxError, Math.abs(open.value.mean[i] - expected));
  }
  const row = {
    dimension: DIMENSION,
    holders: HOLDERS,
    roundParticipants: SUMMED,
    keygenMsPerHolder: keygen.ms / HOLDERS,
    plainSum100Ms: plain.ms,
    combinePublicKeyMs: combine.ms,
    publicShareBytes: keygen.value[0].publicShare.length,
    publicKeyBytes: publicKey.length,
    encryptMs,
    contributionBytes: contributions[0].length,
    sum100Ms: sum100.ms,
    aggregateBytes: aggregate.length,
    shareMsPerHolder: shareMs,
    shareVerifiedMs: verified.ms,
    shareBytesPerRecipient: sealed[0][0].share.length,
    openMs: open.ms,
    maxError,
  };
  const mb = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const table = [
    `key share ${row.keygenMsPerHolder.toFixed(0)} ms/holder (public share ${mb(row.publicShareBytes)}), joint key ${row.combinePublicKeyMs.toFixed(0)} ms (${mb(row.publicKeyBytes)})`,
    `encrypt ${row.encryptMs.toFixed(0)} ms, contribution ${mb(row.contributionBytes)}`,
    `sum of ${SUMMED} ${row.sum100Ms.toFixed(0)} ms (plain float32 sum ${row.plainSum100Ms.toFixed(1)} ms, ${(row.sum100Ms / row.plainSum100Ms).toFixed(0)}x), aggregate ${mb(row.aggregateBytes)} (${(row.aggregateBytes / (4 * DIMENSION)).toFixed(1)}x the float32 update)`,
    `decryption share ${row.shareMsPerHolder.toFixed(0)} ms/holder sealed to ${HOLDERS} (${mb(row.shareBytesPerRecipient)} each); verified mode over ${DISTINCT} contributions ${row.shareVerifiedMs.toFixed(0)} ms`,
    `open (combine ${HOLDERS} shares, decode, check) ${row.openMs.toFixed(0)} ms, max error ${row.maxError.toExponential(2)}`,
  ].join('\n');
  return { name: 'he-multiparty', description: `multi-party CKKS, n8192, ${HOLDERS} holders, ${DIMENSION} parameters`, rows: [row], table };
}

