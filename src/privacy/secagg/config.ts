import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseWithSchema } from '../../core/index.js';
import { defaultDegree, effectiveDegree, maskingGraph } from './graph.js';
import { QuantisationSchema, type QuantisationParams } from './quantise.js';
import { transcriptHash } from './transcript.js';

/**
 * The public parameters of one secure-aggregation round, fixed before round 0 and known to every
 * party. Its hash, the round context, is bound into every signature, AEAD tag and PRG key, so a
 * message from one round is useless in another.
 */

/** A client identifier as it appears in messages. */
export const ClientIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits and . _ : - (1 to 64 characters)');

const base64Bytes = (length: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64')
    .refine((s) => Buffer.from(s, 'base64').length === length, `${length} bytes in base64`);

/** The round configuration as sent to every party. */
export const RoundConfigSchema = z
  .object({
    roundId: z.string().min(1).max(128),
    /** Participants in a fixed order; position i + 1 is a client's Shamir evaluation point. */
    participants: z.array(ClientIdSchema).min(2).max(65535),
    /** Shamir threshold t: any t of a client's k + 1 shares (one per neighbour, one kept) rebuild its secrets. */
    threshold: z.number().int().min(1),
    /** Requested degree k of the masking graph (rounded up to even, at most n - 1). */
    degree: z.number().int().min(1),
    /** Public seed of the masking graph (32 bytes, base64). */
    graphSeed: base64Bytes(32),
    vectorLength: z.number().int().min(1).max(2 ** 28),
    quantisation: QuantisationSchema,
    /**
     * Fewest inputs the sum may hold, checked by the server and by every client before it signs U3.
     * With distributed DP noise each client adds N(0, σ²S²/minSummands), so a released sum always
     * carries at least σ²S² of noise variance (see README). Defaults to the threshold.
     */
    minSummands: z.number().int().min(1),
  })
  .strict()
  .superRefine((config, ctx) => {
    const n = config.participants.length;
    if (new Set(config.participants).size !== n) ctx.addIssue({ code: 'custom', path: ['participants'], message: 'ids must be distinct' });
    const shares = effectiveDegree(n, config.degree) + 1;
    // t > (k + 1) / 2: no two disjoint groups of a neighbourhood can each rebuild a secret (Bonawitz et al. 2017 §6).
    const least = Math.floor(shares / 2) + 1;
    if (config.threshold < least || config.threshold > shares) {
      ctx.addIssue({
        code: 'custom',
        path: ['threshold'],
        message: `expected an integer from ${least} to ${shares} (a majority of the ${shares} shares of each client), got ${config.threshold}`,
      });
    }
    if (config.minSummands > n) {
      ctx.addIssue({ code: 'custom', path: ['minSummands'], message: `expected at most the ${n} participants, got ${config.minSummands}` });
    }
    if (config.quantisation.maxSummands < n) {
      ctx.addIssue({
        code: 'custom',
        path: ['quantisation', 'maxSummands'],
        message: `expected at least the ${n} participants, or their sum could overflow; got ${config.quantisation.maxSummands}`,
      });
    }
  });
/** The round configuration. */
export type RoundConfig = z.infer<typeof RoundConfigSchema>;

/** Parameters of `createRoundConfig`; omitted ones get defaults (degree 2 ceil(log2 n), the least majority threshold). */
export interface CreateRoundConfigParameters {
  participants: readonly string[];
  vectorLength: number;
  clip: number;
  threshold?: number;
  degree?: number;
  maxSummands?: number;
  minSummands?: number;
  roundId?: string;
  graphSeed?: Uint8Array;
}

/** Builds and validates a round configuration, filling in defaults. */
export function createRoundConfig(parameters: CreateRoundConfigParameters): RoundConfig {
  const n = parameters.participants.length;
  const degree = parameters.degree ?? defaultDegree(n);
  const shares = effectiveDegree(Math.max(n, 2), degree) + 1;
  const threshold = parameters.threshold ?? Math.floor(shares / 2) + 1;
  return parseRoundConfig({
    roundId: parameters.roundId ?? randomUUID(),
    participants: [...parameters.participants],
    threshold,
    degree,
    graphSeed: Buffer.from(parameters.graphSeed ?? randomBytes(32)).toString('base64'),
    vectorLength: parameters.vectorLength,
    quantisation: { clip: parameters.clip, maxSummands: parameters.maxSummands ?? n },
    minSummands: parameters.minSummands ?? threshold,
  } satisfies RoundConfig);
}

/** Validates a round configuration, with a one-line error naming the bad field. */
export function parseRoundConfig(input: unknown): RoundConfig {
  return parseWithSchema(input, RoundConfigSchema, 'secure aggregation config', { code: 'SECAGG_CONFIG_INVALID' });
}

/** What every party derives from the configuration: the round context, indices and the masking graph. */
export class RoundPlan {
  readonly config: RoundConfig;
  /** SHA-256 of the canonical configuration. */
  readonly context: Uint8Array;
  /** The context in hex, as messages carry it. */
  readonly round: string;
  readonly threshold: number;
  /** Fewest inputs the released sum may hold: the threshold or the DP floor, whichever is larger. */
  readonly minSummands: number;
  readonly quantisation: QuantisationParams;
  private readonly index: Map<string, number>;
  private readonly graph: number[][];

  constructor(config: RoundConfig) {
    this.config = parseRoundConfig(config);
    const c = this.config;
    const canonical = JSON.stringify([
      c.roundId,
      c.participants,
      c.threshold,
      c.degree,
      c.graphSeed,
      c.vectorLength,
      c.quantisation.clip,
      c.quantisation.maxSummands,
      c.minSummands,
    ]);
    this.context = transcriptHash('round-context', canonical);
    this.round = Buffer.from(this.context).toString('hex');
    this.threshold = c.threshold;
    this.minSummands = Math.max(c.threshold, c.minSummands);
    this.quantisation = c.quantisation;
    this.index = new Map(c.participants.map((id, i) => [id, i]));
    this.graph = maskingGraph(c.participants.length, c.degree, Buffer.from(c.graphSeed, 'base64'));
  }

  /** Whether `id` is a participant. */
  has(id: string): boolean {
    return this.index.has(id);
  }

  /** 0-based position of a participant (its Shamir point is position + 1). */
  indexOf(id: string): number {
    const i = this.index.get(id);
    if (i === undefined) throw new RangeError(`'${id}' is not a participant of round ${this.config.roundId}`);
    return i;
  }

  /** Shamir evaluation point of a participant. */
  pointOf(id: string): number {
    return this.indexOf(id) + 1;
  }

  /** Neighbours of `id` in the masking graph (Bell et al. 2020 §3), in participant order. */
  neighbours(id: string): string[] {
    return this.graph[this.indexOf(id)].map((j) => this.config.participants[j]);
  }

  /** Who holds shares of `id`'s secrets: itself and its neighbours, H(v) = {v} ∪ N(v). */
  holders(id: string): string[] {
    return [id, ...this.neighbours(id)];
  }

  /** Whether u and v are neighbours. */
  adjacent(u: string, v: string): boolean {
    return this.graph[this.indexOf(u)].includes(this.indexOf(v));
  }

  /** Sign of the pairwise mask u adds for v: +1 if u comes after v, else -1 (Bonawitz et al. 2017 §4, p_uv = Δ_uv PRG(s_uv)). */
  pairSign(u: string, v: string): 1 | -1 {
    return this.indexOf(u) > this.indexOf(v) ? 1 : -1;
  }
}
