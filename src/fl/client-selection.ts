import { z } from 'zod';
import { InvalidInputError, StateError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { NodeRecord, ResourceMetrics, ResourceRequirements } from '../core/storage/repository.js';

/** The part of a node record selection looks at. */
export type SelectionCandidate = Pick<NodeRecord, 'id' | 'status' | 'resources'>;

/** How many clients a round wants and which ones qualify. */
export const ClientSelectionOptionsSchema = z
  .object({
    /** Fraction C of eligible nodes to select (McMahan et al. 2017, Algorithm 1: m = max(C·K, 1)). */
    fraction: z.number().gt(0).lte(1),
    /** A round does not start with fewer clients than this. */
    minClients: z.number().int().positive(),
    maxClients: z.number().int().positive().optional(),
    requirements: z
      .object({
        cpuCores: z.number().nonnegative().optional(),
        memoryMb: z.number().nonnegative().optional(),
        gpuCount: z.number().nonnegative().optional(),
      })
      .optional(),
    /** Sampling weight per node id (e.g. reputation); a node missing here has weight 0. */
    weights: z.record(z.string(), z.number().finite().nonnegative()).optional(),
  })
  .refine((o) => o.maxClients === undefined || o.maxClients >= o.minClients, {
    message: 'maxClients must be at least minClients',
    path: ['maxClients'],
  });
export type ClientSelectionOptions = z.infer<typeof ClientSelectionOptionsSchema>;

/** Whether a node's reported resources meet every stated requirement. */
export function meetsRequirements(resources: ResourceMetrics, requirements: ResourceRequirements = {}): boolean {
  return (
    resources.cpuCores >= (requirements.cpuCores ?? 0) &&
    resources.memoryMb >= (requirements.memoryMb ?? 0) &&
    (resources.gpuCount ?? 0) >= (requirements.gpuCount ?? 0)
  );
}

/**
 * Picks this round's participants: online nodes that meet the requirements, count =
 * clamp(⌈fraction · eligible⌉, minClients, maxClients), drawn without replacement (weighted when
 * `weights` is given). Deterministic for a seed; returns ids sorted. Throws StateError
 * 'SELECTION_INSUFFICIENT' when fewer than minClients nodes are eligible.
 */
export function selectClients(candidates: readonly SelectionCandidate[], options: ClientSelectionOptions, rng: Rng): string[] {
  const parsed = ClientSelectionOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new InvalidInputError(
      'SELECTION_OPTIONS_INVALID',
      `client selection options are invalid (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); need 0 < fraction <= 1 and integers 1 <= minClients <= maxClients`,
      parsed.error.issues,
    );
  }
  const { fraction, minClients, maxClients, requirements, weights } = parsed.data;

  const ids = new Set<string>();
  for (const c of candidates) {
    if (ids.has(c.id)) {
      throw new InvalidInputError('SELECTION_DUPLICATE_NODE', `node '${c.id}' is listed twice among the candidates; pass each node once`, { id: c.id });
    }
    ids.add(c.id);
  }

  // Drawing in id order makes the result depend on the seed and the set of nodes, not on the
  // order a registry happened to list them in.
  const eligible = candidates
    .filter((c) => c.status === 'online' && meetsRequirements(c.resources, requirements))
    .map((c) => c.id)
    .sort();
  if (eligible.length < minClients) {
    throw new StateError(
      'SELECTION_INSUFFICIENT',
      `need at least ${minClients} clients but only ${eligible.length} of ${candidates.length} nodes are online and meet the requirements; lower minClients or wait for more nodes`,
      { needed: minClients, eligible: eligible.length, candidates: candidates.length },
    );
  }
  // Rounding first keeps 0.07 · 100 = 7.000000000000001 from turning into 8 clients.
  const wanted = Math.ceil(Number((fraction * eligible.length).toPrecision(12)));
  const count = Math.min(Math.max(wanted, minClients), maxClients ?? Number.POSITIVE_INFINITY, eligible.length);

  // Weighted sampling without replacement, Efraimidis & Spirakis 2006 (A-Res): key = u^(1/w), the
  // `count` largest keys win; compared as ln(u)/w for range. Zero-weight nodes only fill places the
  // weighted ones leave, in uniform random order.
  const keyed = eligible.map((id) => {
    const w = weights === undefined ? 1 : (weights[id] ?? 0);
    const u = 1 - rng.next(); // (0, 1]: ln(u) is finite
    return { id, tier: w > 0 ? 0 : 1, key: w > 0 ? Math.log(u) / w : u };
  });
  keyed.sort((a, b) => a.tier - b.tier || b.key - a.key || (a.id < b.id ? -1 : 1));
  return keyed
    .slice(0, count)
    .map((k) => k.id)
    .sort();
}
