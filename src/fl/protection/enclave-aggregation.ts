import { z } from 'zod';
import { SecureNoiseSource, SeededNoiseSource } from '../../privacy/dp/index.js';
import { createIoKeyPair, decryptInEnclave, type EnclaveMessage, type IoKeyPair } from '../../tee/index.js';
import { DpFixedClipping, StrategyConfigSchema, createStrategy, type ClientUpdate, type Strategy } from '../strategies/index.js';

/**
 * What runs inside the aggregation enclave: per round it makes a fresh X25519 key for the
 * participants' encrypted updates, and when the coordinator hands it the round's ciphertexts it opens
 * each one, runs the job's strategy on the individual updates (robust rules such as Multi-Krum
 * included, since the enclave may see them one by one), adds client-level DP noise when the job asks
 * for it (McMahan et al. 2018, as `DpFixedClipping` does on a plain coordinator), and returns only the
 * next global model. Plaintext updates and the round's key are wiped before it answers.
 */

const floats = z.instanceof(Float32Array);
const bytes = z.instanceof(Uint8Array);

/** Opens a round: its context, the model it starts from, and how to aggregate. */
export const OpenRoundRequestSchema = z
  .object({
    op: z.literal('open'),
    roundContext: z.string().min(1).max(512),
    round: z.number().int().positive(),
    global: floats,
    strategy: StrategyConfigSchema,
    /** Client-level DP: each update clipped, Gaussian noise on the sum, inside the enclave. */
    dp: z
      .object({
        clipNorm: z.number().positive(),
        noiseMultiplier: z.number().positive(),
        noise: z.enum(['secure', 'seeded-insecure']),
        seed: z.number().int().nonnegative(),
        gridStep: z.number().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Aggregates the round's encrypted updates: each participant's id, its bounded weight and its ciphertext. */
export const AggregateRequestSchema = z
  .object({
    op: z.literal('aggregate'),
    roundContext: z.string().min(1).max(512),
    contributions: z.array(z.object({ id: z.string().min(1).max(128), numExamples: z.number().positive(), envelope: bytes }).strict()).min(1),
  })
  .strict();

export type OpenRoundRequest = z.output<typeof OpenRoundRequestSchema>;
export type AggregateRequest = z.output<typeof AggregateRequestSchema>;

/** The context a participant's ciphertext is bound to: the round's, and its own id, so it cannot be replayed as another's. */
export function contributionContext(roundContext: string, participantId: string): string {
  return `${roundContext}\0${participantId}`;
}

/** The aggregation enclave's program state: the job's strategy (kept across rounds, with its state) and the open round. */
export class EnclaveAggregator {
  private strategy: { key: string; strategy: Strategy } | null = null;
  private open: { request: OpenRoundRequest; keys: IoKeyPair } | null = null;

  /** Answers one request from the host. */
  handle(request: EnclaveMessage): EnclaveMessage {
    if (request.op === 'open') return this.openRound(OpenRoundRequestSchema.parse(request));
    if (request.op === 'aggregate') return this.aggregate(AggregateRequestSchema.parse(request));
    throw new Error(`the aggregation enclave has no operation '${String(request.op).slice(0, 40)}'`);
  }

  private openRound(request: OpenRoundRequest): EnclaveMessage {
    const key = JSON.stringify([request.strategy, request.dp ?? null]);
    if (this.strategy?.key !== key) {
      const base = createStrategy(request.strategy);
      const dp = request.dp;
      const noise = dp ? (dp.noise === 'seeded-insecure' ? new SeededNoiseSource(dp.seed ^ 0x5eed) : new SecureNoiseSource()) : undefined;
      this.strategy = { key, strategy: dp && noise ? new DpFixedClipping(base, { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, noise, gridStep: dp.gridStep }) : base };
    }
    this.open = { request, keys: createIoKeyPair() };
    return { op: 'opened', publicKey: this.open.keys.publicKey };
  }

  private aggregate(request: AggregateRequest): EnclaveMessage {
    const open = this.open;
    if (!open || open.request.roundContext !== request.roundContext) throw new Error(`the aggregation enclave has no open round '${request.roundContext.slice(0, 80)}'`);
    // The round's key is used once: whatever happens next, its ciphertexts never open again.
    this.open = null;
    const { global, round } = open.request;
    const updates: ClientUpdate[] = [];
    try {
      for (const { id, numExamples, envelope } of request.contributions) {
        const plain = decryptInEnclave(open.keys, envelope, contributionContext(request.roundContext, id));
        if (plain.byteLength !== global.length * 4) {
          plain.fill(0);
          throw new Error(`the update of '${id}' has ${plain.byteLength} bytes; ${global.length} float32 weights were expected`);
        }
        updates.push({ clientId: id, weights: new Float32Array(plain.buffer, plain.byteOffset, global.length), numExamples });
      }
      const weights = (this.strategy as { strategy: Strategy }).strategy.aggregate(global, updates, round);
      return { op: 'aggregated', weights };
    } finally {
      for (const update of updates) update.weights.fill(0);
    }
  }
}
