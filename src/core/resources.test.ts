import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { describeShortfall, findShortfall, sumRequirements } from './resources.js';

describe('resources', () => {
  it('finds no shortfall when every requirement fits, and the first short resource otherwise', () => {
    const node = { cpuCores: 4, memoryMb: 2048, gpuCount: 1 };
    expect(findShortfall(node, {})).toBeUndefined();
    expect(findShortfall(node, { cpuCores: 4, memoryMb: 2048, gpuCount: 1 })).toBeUndefined();
    expect(findShortfall(node, { cpuCores: 5, memoryMb: 9999 })).toEqual({ resource: 'cpuCores', needed: 5, available: 4 });
    expect(findShortfall({ cpuCores: 4, memoryMb: 2048 }, { gpuCount: 1 })).toEqual({ resource: 'gpuCount', needed: 1, available: 0 });
    expect(findShortfall(node, { memoryMb: 1024 }, { memoryMb: 1536 })).toEqual({ resource: 'memoryMb', needed: 1024, available: 512 });
  });

  it('never reports negative free resources when reservations exceed the total', () => {
    expect(findShortfall({ cpuCores: 1, memoryMb: 1 }, { cpuCores: 1 }, { cpuCores: 3 })).toEqual({ resource: 'cpuCores', needed: 1, available: 0 });
  });

  it('agrees with a fit computed from the summed reservations', () => {
    const req = fc.record({ cpuCores: fc.nat(8), memoryMb: fc.nat(4096), gpuCount: fc.nat(2) }, { requiredKeys: [] });
    fc.assert(
      fc.property(req, fc.array(req, { maxLength: 5 }), req, (total, placed, next) => {
        const node = { cpuCores: total.cpuCores ?? 0, memoryMb: total.memoryMb ?? 0, gpuCount: total.gpuCount };
        const reserved = sumRequirements(placed);
        const fits = (['cpuCores', 'memoryMb', 'gpuCount'] as const).every(
          (k) => (next[k] ?? 0) <= (node[k] ?? 0) - reserved[k],
        );
        expect(findShortfall(node, next, reserved) === undefined).toBe(fits);
      }),
    );
  });

  it('describes a shortfall in words', () => {
    expect(describeShortfall({ resource: 'memoryMb', needed: 2048, available: 512 })).toBe('512 MB of memory free, 2048 needed');
  });
});
