import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregationEnclave } from '../fl/index.js';
import { loadSimulatedPlatformKey } from '../tee/index.js';
import { EnclaveWatch, type WatchedEnclave } from './enclave-watch.js';
import { ServerEvents } from './events.js';
import { CoordinatorMetrics } from './metrics.js';

const sample = (metrics: string, series: string): number => Number(metrics.split('\n').find((line) => line.startsWith(`${series} `))?.split(' ')[1] ?? NaN);

describe('EnclaveWatch', () => {
  let dir: string;
  let enclave: AggregationEnclave;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-enclave-watch-'));
    enclave = await AggregationEnclave.launch({ strategy: { name: 'fedavg' } }, { platform: loadSimulatedPlatformKey(dir), resources: { memoryMb: 256 } });
  });

  afterAll(async () => {
    await enclave?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const watching = (watched: WatchedEnclave) => {
    const metrics = new CoordinatorMetrics();
    const events = new ServerEvents();
    const audited: string[] = [];
    const watch = new EnclaveWatch(watched, { metrics, events, audit: { append: async (kind) => audited.push(kind) } });
    return { watch, metrics, events, audited };
  };

  it('puts the running enclave’s identity, health and memory in the metrics', async () => {
    const { watch, metrics, events } = watching(enclave);
    const usage = await watch.check();
    expect(usage?.heapUsedBytes).toBeGreaterThan(0);
    const text = await metrics.text();
    expect(text).toContain(`cipher_nexus_enclave_info{kind="simulated",measurement="${enclave.measurement}"} 1`);
    expect(sample(text, 'cipher_nexus_enclave_up')).toBe(1);
    expect(sample(text, 'cipher_nexus_enclave_heap_limit_bytes')).toBe(256 * 2 ** 20);
    expect(sample(text, 'cipher_nexus_enclave_heap_used_bytes')).toBe(usage?.heapUsedBytes);
    expect(sample(text, 'cipher_nexus_enclave_resident_bytes')).toBeGreaterThan(sample(text, 'cipher_nexus_enclave_heap_used_bytes'));
    expect(events.recentSecurityEvents()).toEqual([]);
  });

  it('raises an enclave near its heap ceiling once, not at every check', async () => {
    // The enclave's real usage, against a ceiling it has already passed.
    const { watch, events } = watching({ kind: enclave.kind, measurement: enclave.measurement, resources: { ...enclave.resources, memoryMb: 1 }, usage: () => enclave.usage() });
    await watch.check();
    await watch.check();
    expect(events.recentSecurityEvents().map((event) => event.kind)).toEqual(['enclave_memory']);
  });

  it('raises an enclave that stopped answering once, as a security event and in the audit trail', async () => {
    const { watch, metrics, events, audited } = watching(enclave);
    await enclave.destroy();
    expect(await watch.check()).toBeNull();
    await watch.check();
    expect(sample(await metrics.text(), 'cipher_nexus_enclave_up')).toBe(0);
    const raised = events.recentSecurityEvents();
    expect(raised.map((event) => event.kind)).toEqual(['enclave_down']);
    expect(raised[0].detail).toContain('does not answer');
    expect(audited).toEqual(['security.enclave_down']);
  });
});
