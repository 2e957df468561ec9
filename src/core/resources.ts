import { z } from 'zod';
import type { ResourceMetrics, ResourceRequirements } from './storage/repository.js';

const count = z.number().finite().nonnegative();
const fraction = z.number().min(0).max(1);

/** What a node reports about itself; every number is non-negative, loads are fractions. */
export const ResourceMetricsSchema = z.object({
  cpuCores: count,
  memoryMb: count,
  gpuCount: z.number().int().nonnegative().optional(),
  cpuLoad: fraction.optional(),
  memoryLoad: fraction.optional(),
  bandwidthMbps: count.optional(),
}) satisfies z.ZodType<ResourceMetrics, z.ZodTypeDef, unknown>;

/** What a task needs; omitted resources are not needed. */
export const ResourceRequirementsSchema = z.object({
  cpuCores: count.optional(),
  memoryMb: count.optional(),
  gpuCount: z.number().int().nonnegative().optional(),
}) satisfies z.ZodType<ResourceRequirements, z.ZodTypeDef, unknown>;

/** A resource a node has too little of for a task. */
export interface ResourceShortfall {
  resource: keyof ResourceRequirements;
  needed: number;
  available: number;
}

const RESOURCES: readonly (keyof ResourceRequirements)[] = ['cpuCores', 'memoryMb', 'gpuCount'];

const UNITS: Record<keyof ResourceRequirements, string> = {
  cpuCores: 'CPU cores',
  memoryMb: 'MB of memory',
  gpuCount: 'GPUs',
};

/** Adds up requirements, e.g. those of every task already placed on a node. */
export function sumRequirements(all: Iterable<ResourceRequirements>): Required<ResourceRequirements> {
  const total = { cpuCores: 0, memoryMb: 0, gpuCount: 0 };
  for (const r of all) for (const key of RESOURCES) total[key] += r[key] ?? 0;
  return total;
}

/**
 * The first resource for which `resources` minus `reserved` is below `needed`, or undefined when the
 * requirements fit. Reported totals are compared, not live load: load includes our own tasks and
 * moves with every heartbeat, while reservations are exact.
 */
export function findShortfall(
  resources: ResourceMetrics,
  needed: ResourceRequirements,
  reserved: ResourceRequirements = {},
): ResourceShortfall | undefined {
  for (const resource of RESOURCES) {
    const want = needed[resource] ?? 0;
    const available = (resources[resource] ?? 0) - (reserved[resource] ?? 0);
    if (want > available) return { resource, needed: want, available: Math.max(0, available) };
  }
  return undefined;
}

/** "2 CPU cores free, 4 needed". */
export function describeShortfall(shortfall: ResourceShortfall): string {
  return `${shortfall.available} ${UNITS[shortfall.resource]} free, ${shortfall.needed} needed`;
}
