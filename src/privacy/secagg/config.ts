import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseWithSchema } from '../../core/index.js';
import { holdersFromSeed } from './graph.js';
import { DEFAULT_DELTA, DEFAULT_GAMMA, checkParameters, chooseParameters, colludingHolderBound, leastSecureThreshold, maxInDegree } from './params.js';
import { QuantisationSchema, type QuantisationParams } from './quantise.js';
import { transcriptHash } from './transcript.js';

/**
 * The public parameters of one secure-aggregation round, fixed before round 0 and known to every
 * party. Its hash, the round context, is bound into every signature, AEAD tag and PRG key, so a
 * message from one round is useless in another. The coordinator proposes it; each client checks it
 * against its own policy (`ClientPolicy`) before sending anything. It holds no graph seed: every
 * client draws its own share holders (graph.ts), so there is nothing here for the coordinator to bias.
 */

/** A client identifier as it appears in messages. */
export const ClientIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits and . _ : - (1 to 64 characters)');

/** The round configuration as sent to every party. */
export const RoundConfigSchema = z
  .object({
    roundId: z.string().min(1).max(128),
    /** Participants in a fixed order; position i + 1 is a client's Shamir evaluation point. */
    participants: z.array(ClientIdSchema).min(2).max(65535),
    /** Fraction of participants that may collude with the coordinator; the degree and threshold must hold against it (params.ts). */
    gamma: z.number().min(0).lt(1),
    /** Fraction of participants that may drop out; the round must finish despite it with probability 1 - 2^-40. */
    delta: z.number().min(0).lt(1),
    /** Shamir threshold t: any t of a client's k + 1 shares (one per holder, one kept) rebuild its secrets. */
    threshold: z.number().int().min(1),
    /** Degree k: how many share holders each client draws among the others (it also masks with them). */
    degree: z.number().int().min(1),
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
    // Bell et al. 2020 parameter rules (params.ts): refuse any pair that gives no 2^-40 guarantee.
    const violation = checkParameters({ n, gamma: config.gamma, delta: config.delta, degree: config.degree, threshold: config.threshold });
    if (violation) ctx.addIssue({ code: 'custom', path: [violation.field], message: `${violation.message} (${violation.bound})` });
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

/**
 * Parameters of `createRoundConfig`. The threat model (gamma, delta) defaults to DEFAULT_GAMMA and
 * DEFAULT_DELTA; degree and threshold default to the least that give 2^-40 security and correctness
 * for it (`chooseParameters`), and a given degree gets the least secure threshold.
 */
export interface CreateRoundConfigParameters {
  participants: readonly string[];
  vectorLength: number;
  clip: number;
  gamma?: number;
  delta?: number;
  threshold?: number;
  degree?: number;
  maxSummands?: number;
  minSummands?: number;
  roundId?: string;
}

/** Builds and validates a round configuration, choosing degree and threshold from the threat model. */
export function createRoundConfig(parameters: CreateRoundConfigParameters): RoundConfig {
  const n = parameters.participants.length;
  const gamma = parameters.gamma ?? DEFAULT_GAMMA;
  const delta = parameters.delta ?? DEFAULT_DELTA;
  // Fewer than two participants (or a bad gamma) is for the schema to explain: derive nothing from it.
  const derivable = n >= 2 && gamma >= 0 && gamma < 1 && delta >= 0 && delta < 1;
  const chosen = derivable && parameters.degree === undefined ? chooseParameters({ n, gamma, delta }) : undefined;
  const degree = parameters.degree ?? chosen?.degree ?? 1;
  const threshold = parameters.threshold ?? chosen?.threshold ?? (derivable && degree >= 1 && degree < n ? leastSecureThreshold(n, gamma, degree) : 1);
  return parseRoundConfig({
    roundId: parameters.roundId ?? randomUUID(),
    participants: [...parameters.participants],
    gamma,
    delta,
    threshold,
    degree,
    vectorLength: parameters.vectorLength,
    quantisation: { clip: parameters.clip, maxSummands: parameters.maxSummands ?? n },
    minSummands: parameters.minSummands ?? threshold,
  } satisfies RoundConfig);
}

/** Validates a round configuration, with a one-line error naming the bad field (a `graphSeed` from an old coordinator is refused as unknown). */
export function parseRoundConfig(input: unknown): RoundConfig {
  return parseWithSchema(input, RoundConfigSchema, 'secure aggregation config', { code: 'SECAGG_CONFIG_INVALID' });
}

/** What every party derives from the configuration: the round context, indices and each client's holders. */
export class RoundPlan {
  readonly config: RoundConfig;
  /** SHA-256 of the canonical configuration. */
  readonly context: Uint8Array;
  /** The context in hex, as messages carry it. */
  readonly round: string;
  readonly threshold: number;
  readonly degree: number;
  /** Fewest inputs the released sum may hold: the threshold or the DP floor, whichever is larger. */
  readonly minSummands: number;
  /** Most clients that may choose one client as a holder (params.ts); more is a flood the client refuses. */
  readonly maxInDegree: number;
  /** A(k): colluders among an honest client's holders exceed it with probability below 2^-41/n (params.ts). */
  readonly colludingHolders: number;
  readonly quantisation: QuantisationParams;
  private readonly index: Map<string, number>;

  constructor(config: RoundConfig) {
    this.config = parseRoundConfig(config);
    const c = this.config;
    const canonical = JSON.stringify([
      c.roundId,
      c.participants,
      c.gamma,
      c.delta,
      c.threshold,
      c.degree,
      c.vectorLength,
      c.quantisation.clip,
      c.quantisation.maxSummands,
      c.minSummands,
    ]);
    this.context = transcriptHash('round-context', canonical);
    this.round = Buffer.from(this.context).toString('hex');
    this.threshold = c.threshold;
    this.degree = c.degree;
    this.minSummands = Math.max(c.threshold, c.minSummands);
    this.maxInDegree = maxInDegree(c.participants.length, c.degree);
    this.colludingHolders = colludingHolderBound(c.participants.length, c.gamma, c.degree);
    this.quantisation = c.quantisation;
    this.index = new Map(c.participants.map((id, i) => [id, i]));
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

  /** The k share holders that `id`'s own seed picks (Bell et al. 2020 §3, drawn by the client itself), in participant order. */
  holdersOf(id: string, holderSeed: Uint8Array): string[] {
    return holdersFromSeed(holderSeed, this.config.participants.length, this.indexOf(id), this.degree).map((j) => this.config.participants[j]);
  }

  /** Sign of the pairwise mask u adds for v: +1 if u comes after v, else -1 (Bonawitz et al. 2017 §4, p_uv = Δ_uv PRG(s_uv)). */
  pairSign(u: string, v: string): 1 | -1 {
    return this.indexOf(u) > this.indexOf(v) ? 1 : -1;
  }

  /** Sorts ids in participant order. */
  inOrder(ids: Iterable<string>): string[] {
    return [...ids].sort((a, b) => this.indexOf(a) - this.indexOf(b));
  }
}
