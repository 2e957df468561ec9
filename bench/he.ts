import { availableParallelism } from 'node:os';
import {
  HeWorkerPool,
  HomomorphicEncryption,
  aggregateEncrypted,
  decryptAggregate,
  encodedSize,
  encryptUpdate,
  evaluationKeysOf,
  generateJobKeys,
  type EncryptedData,
  type EncryptedSummer,
  type UpdateEncryptor,
} from '../src/privacy/he/index.js';
import type { BenchResult } from './bench-result.js';

const DIMENSIONS = [10_000, 100_000, 1_000_000];
const CLIENTS = [10, 100];
// Distinct client updates encrypted per dimension. Rows with more clients cycle through these ciphertexts: a
// ciphertext addition costs the same whatever it encrypts, and the plaintext sum cycles through the same updates.
const DISTINCT = 10;
// The worker pool is measured where it could matter, at the largest dimension.
const POOL_DIMENSIONS = [1_000_000];
const POOL_SIZE = Math.min(availableParallelism(), 4);

/** Milliseconds `fn` takes. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}

/** CKKS encrypted FedAvg (n8192, seeded symmetric encryption at the sum level) against the plaintext weighted sum. */
export async function benchHe(): Promise<BenchResult> {
  const keys = await generateJobKeys('bench-he', 'n8192');
  const client = await HomomorphicEncryption.create(keys);
  const coordinator = await HomomorphicEncryption.create(evaluationKeysOf(keys));
  await client.encrypt(new Float32Array(4096)); // warm the module, the context and the JIT
  const clientPool = await HeWorkerPool.create(keys, POOL_SIZE);
  const coordinatorPool = await HeWorkerPool.create(evaluationKeysOf(keys), POOL_SIZE);
  const rows = [];
  for (const d of DIMENSIONS) {
    const updates = Array.from({ length: DISTINCT }, () => Float32Array.from({ length: d }, () => Math.random() * 2 - 1));
    const samples = updates.map(() => 1 + Math.floor(Math.random() * 500));
    const modes: [string, UpdateEncryptor, EncryptedSummer][] = [['in-process', client, coordinator]];
    if (POOL_DIMENSIONS.includes(d)) modes.push([`workers(${POOL_SIZE})`, clientPool, coordinatorPool]);
    for (const [mode, encryptor, summer] of modes) {
      const encrypted: EncryptedData[] = [];
      let encryptMs = 0;
      for (let k = 0; k < DISTINCT; k++) {
        const { value, ms } = await timed(() => encryptUpdate(encryptor, updates[k], samples[k]));
        encrypted.push(value);
        encryptMs += ms / DISTINCT;
      }
      const bytesPerParam = encodedSize(encrypted[0]) / d;
      for (const n of CLIENTS) {
        const pick = (k: number): number => k % DISTINCT;
        const plainSum = (): Float64Array => {
          const sum = new Float64Array(d);
          for (let k = 0; k < n; k++) {
            const u = updates[pick(k)];
            const w = samples[pick(k)];
            for (let i = 0; i < d; i++) sum[i] += u[i] * w;
          }
          return sum;
        };
        plainSum(); // warm the JIT, as the encrypted path was warmed
        const plain = await timed(async () => plainSum());
        const total = Array.from({ length: n }, (_, k) => samples[pick(k)]).reduce((s, w) => s + w, 0);
        const inputs = Array.from({ length: n }, (_, k) => encrypted[pick(k)]);
        const aggregate = await timed(() => aggregateEncrypted(summer, inputs));
        const decrypted = await timed(() => decryptAggregate(client, aggregate.value, total));
        let maxError = 0;
        for (let i = 0; i < d; i++) maxError = Math.max(maxError, Math.abs(decrypted.value[i] - plain.value[i] / total));
        rows.push({
          d,
          n,
          mode,
          encryptMs,
          aggregateMs: aggregate.ms,
          decryptMs: decrypted.ms,
          plainMs: plain.ms,
          bytesPerParam,
          aggregateBytesPerParam: encodedSize(aggregate.value) / d,
          ciphertextsPerUpdate: encrypted[0].ciphertexts.length,
          distinctUpdates: Math.min(n, DISTINCT),
          maxError,
          aggregateRatio: aggregate.ms / plain.ms,
          totalRatio: (encryptMs + aggregate.ms + decrypted.ms) / plain.ms,
        });
      }
    }
  }
  await Promise.all([clientPool.close(), coordinatorPool.close()]);
  client.dispose();
  coordinator.dispose();
  const header = '      d    n  mode        encrypt ms  aggregate ms  decrypt ms  plain ms  B/param  aggr/plain  total/plain  max error';
  const lines = rows.map(
    (r) =>
      `${String(r.d).padStart(7)}  ${String(r.n).padStart(3)}  ${r.mode.padEnd(10)}  ${r.encryptMs.toFixed(1).padStart(10)}  ${r.aggregateMs.toFixed(1).padStart(12)}  ${r.decryptMs.toFixed(1).padStart(10)}  ${r.plainMs.toFixed(2).padStart(8)}  ${r.bytesPerParam.toFixed(2).padStart(7)}  ${r.aggregateRatio.toFixed(0).padStart(10)}  ${r.totalRatio.toFixed(0).padStart(11)}  ${r.maxError.toExponential(1).padStart(9)}`,
  );
  return {
    name: 'he',
    description:
      `CKKS encrypted FedAvg, n8192 [60,40,40,60] scale 2^40: one client's seeded symmetric encryption at the sum level (bytes/param on the wire), ` +
      `the coordinator's ciphertext sum of n updates (evaluation keys only), one client's decryption; plaintext weighted sum of the same updates in the same run. ` +
      `${DISTINCT} distinct updates per d, cycled for n > ${DISTINCT} (a ciphertext addition costs the same whatever it holds); ` +
      `workers(k): encryption and summation split over k worker threads, decryption in-process`,
    rows,
    table: [header, ...lines].join('\n'),
  };
}
