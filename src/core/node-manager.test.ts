import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError } from './errors.js';
import { NodeManager } from './node-manager.js';
import { openStorage } from './storage/index.js';
import type { NodeRecord, Storage } from './storage/repository.js';

let storage: Storage;
let clock: number;
let manager: NodeManager;

beforeEach(() => {
  storage = openStorage({ path: ':memory:' });
  clock = 1_000;
  manager = new NodeManager(storage, { heartbeatTimeoutMs: 100, now: () => clock });
});

afterEach(async () => {
  await storage.close();
});

const small = { cpuCores: 2, memoryMb: 1024 };
const large = { cpuCores: 16, memoryMb: 65536, gpuCount: 2 };

function record(manager: NodeManager): Array<[string, string]> {
  const events: Array<[string, string]> = [];
  for (const name of ['node:registered', 'node:unregistered', 'node:metrics', 'node:offline', 'node:online'] as const) {
    manager.on(name, (node: NodeRecord) => events.push([name, `${node.id}:${node.status}`]));
  }
  return events;
}

describe('NodeManager', () => {
  it('registers a node, persists it and emits node:registered', async () => {
    const events = record(manager);
    const node = await manager.registerNode({ id: 'n1', resources: small, labels: { org: 'a' } });
    expect(node).toEqual({ id: 'n1', status: 'online', resources: small, labels: { org: 'a' }, registeredAt: 1_000, lastHeartbeat: 1_000 });
    expect(await storage.nodes.get('n1')).toEqual(node);
    expect(await manager.getNode('n1')).toEqual(node);
    expect(events).toEqual([['node:registered', 'n1:online']]);
  });

  it('keeps the first registration time when a node registers again', async () => {
    await manager.registerNode({ id: 'n1', resources: small });
    clock = 5_000;
    const again = await manager.registerNode({ id: 'n1', resources: large });
    expect(again.registeredAt).toBe(1_000);
    expect(again.lastHeartbeat).toBe(5_000);
    expect(again.resources).toEqual(large);
    expect(await manager.listNodes()).toHaveLength(1);
  });

  it('loads nodes that an earlier manager persisted', async () => {
    await manager.registerNode({ id: 'n1', resources: small });
    const fresh = new NodeManager(storage);
    expect((await fresh.getNode('n1')).resources).toEqual(small);
  });

  it('unregisters a node from memory and storage', async () => {
    const events = record(manager);
    await manager.registerNode({ id: 'n1', resources: small });
    await manager.unregisterNode('n1');
    expect(await storage.nodes.get('n1')).toBeUndefined();
    await expect(manager.getNode('n1')).rejects.toBeInstanceOf(NotFoundError);
    expect(events.at(-1)).toEqual(['node:unregistered', 'n1:online']);
  });

  it('updates metrics without counting them as a heartbeat', async () => {
    const events = record(manager);
    await manager.registerNode({ id: 'n1', resources: small });
    clock = 2_000;
    const node = await manager.updateMetrics('n1', { ...small, cpuLoad: 0.9 });
    expect(node.resources.cpuLoad).toBe(0.9);
    expect(node.lastHeartbeat).toBe(1_000);
    expect((await storage.nodes.get('n1'))?.resources.cpuLoad).toBe(0.9);
    expect(events.at(-1)).toEqual(['node:metrics', 'n1:online']);
  });

  it('marks silent nodes offline and brings them back on their next heartbeat', async () => {
    const events = record(manager);
    await manager.registerNode({ id: 'quiet', resources: small });
    await manager.registerNode({ id: 'chatty', resources: small });
    clock = 1_080;
    await manager.heartbeat('chatty');
    clock = 1_100; // exactly the timeout for 'quiet': not yet stale
    expect(await manager.checkHeartbeats()).toEqual([]);
    clock = 1_101;
    expect((await manager.checkHeartbeats()).map((n) => n.id)).toEqual(['quiet']);
    expect((await storage.nodes.get('quiet'))?.status).toBe('offline');
    expect((await manager.listNodes({ status: 'online' })).map((n) => n.id)).toEqual(['chatty']);
    expect(await manager.checkHeartbeats()).toEqual([]); // already offline: no second event

    clock = 1_200;
    const back = await manager.heartbeat('quiet', large);
    expect(back).toMatchObject({ status: 'online', lastHeartbeat: 1_200, resources: large });
    expect(events.filter(([name]) => name !== 'node:registered')).toEqual([
      ['node:offline', 'quiet:offline'],
      ['node:metrics', 'quiet:online'],
      ['node:online', 'quiet:online'],
    ]);
  });

  it('accepts an explicit time in checkHeartbeats', async () => {
    await manager.registerNode({ id: 'n1', resources: small });
    expect((await manager.checkHeartbeats(50_000)).map((n) => n.id)).toEqual(['n1']);
  });

  it('lists available nodes: online, with enough resources beyond what is reserved', async () => {
    await manager.registerNode({ id: 'small', resources: small });
    await manager.registerNode({ id: 'large', resources: large });
    await manager.registerNode({ id: 'away', resources: large, status: 'offline' });
    await manager.registerNode({ id: 'busy', resources: large, status: 'busy' });
    const ids = async (...args: Parameters<NodeManager['availableNodes']>): Promise<string[]> =>
      (await manager.availableNodes(...args)).map((n) => n.id);
    expect(await ids()).toEqual(['small', 'large']);
    expect(await ids({ cpuCores: 4 })).toEqual(['large']);
    expect(await ids({ gpuCount: 1 })).toEqual(['large']);
    expect(await ids({ memoryMb: 1024 })).toEqual(['small', 'large']);
    expect(await ids({ cpuCores: 2 }, new Map([['small', { cpuCores: 1 }]]))).toEqual(['large']);
    expect(await manager.shortfall('small', { cpuCores: 1, memoryMb: 2048 })).toEqual({ resource: 'memoryMb', needed: 2048, available: 1024 });
    expect(await manager.shortfall('large', { cpuCores: 1 })).toBeUndefined();
  });

  it('serialises concurrent changes to one node without losing any', async () => {
    await manager.registerNode({ id: 'n1', resources: small });
    clock = 1_050;
    await Promise.all([manager.heartbeat('n1'), manager.updateMetrics('n1', large)]);
    const node = await storage.nodes.get('n1');
    expect(node?.lastHeartbeat).toBe(1_050);
    expect(node?.resources).toEqual(large);
  });

  it('rejects invalid input with InvalidInputError naming the field', async () => {
    const bad = async (promise: Promise<unknown>, pattern: RegExp): Promise<void> => {
      const error = await promise.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toMatch(pattern);
    };
    await bad(manager.registerNode({ id: '', resources: small }), /node field 'id'/);
    await bad(manager.registerNode({ id: 'n1', resources: { cpuCores: -1, memoryMb: 1 } }), /node field 'resources\.cpuCores': expected a non-negative number, got -1/);
    await bad(manager.registerNode({ id: 'n1', resources: { cpuCores: 1, memoryMb: 1, cpuLoad: 1.5 } }), /resources\.cpuLoad/);
    await manager.registerNode({ id: 'n1', resources: small });
    await bad(manager.updateMetrics('n1', { cpuCores: 1, memoryMb: Number.NaN }), /metrics field 'memoryMb'/);
    await bad(manager.availableNodes({ gpuCount: 0.5 }), /requirements field 'gpuCount'/);
    expect(() => new NodeManager(storage, { heartbeatTimeoutMs: 0 })).toThrow(InvalidInputError);
    expect((await storage.nodes.get('n1'))?.resources).toEqual(small);
  });

  it('throws NotFoundError for unknown nodes', async () => {
    for (const call of [
      manager.getNode('ghost'),
      manager.unregisterNode('ghost'),
      manager.heartbeat('ghost'),
      manager.updateMetrics('ghost', small),
    ]) {
      const error = await call.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error).toMatchObject({ code: 'NODE_NOT_FOUND' });
    }
  });

  it('re-syncs its mirror from storage on reload', async () => {
    await manager.registerNode({ id: 'n1', resources: small });
    await storage.nodes.delete('n1');
    await manager.reload();
    expect(await manager.listNodes()).toEqual([]);
  });
});
