import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { parseWithSchema } from './config.js';
import { NotFoundError } from './errors.js';
import { Mutex } from './mutex.js';
import { findShortfall, ResourceMetricsSchema, ResourceRequirementsSchema, type ResourceShortfall } from './resources.js';
import type { NodeRecord, NodeStatus, ResourceMetrics, ResourceRequirements, Storage } from './storage/repository.js';

const NodeIdSchema = z.string().trim().min(1);

const NodeRegistrationSchema = z.object({
  id: NodeIdSchema,
  resources: ResourceMetricsSchema,
  labels: z.record(z.string()).default({}),
  status: z.enum(['online', 'busy', 'offline']).default('online'),
});

/** What a node says about itself when it joins; `status` defaults to 'online', `labels` to none. */
export type NodeRegistration = z.input<typeof NodeRegistrationSchema>;

/** Options of a NodeManager. */
export interface NodeManagerOptions {
  /** A node whose last heartbeat is older than this is marked offline by `checkHeartbeats`. Default 30 000 ms. */
  heartbeatTimeoutMs?: number;
  /** Clock in ms since the epoch; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

/** Events a NodeManager emits, each with the node as it is after the change. */
export type NodeManagerEvents = {
  'node:registered': [node: NodeRecord];
  'node:unregistered': [node: NodeRecord];
  'node:metrics': [node: NodeRecord];
  'node:offline': [node: NodeRecord];
  'node:online': [node: NodeRecord];
};

/**
 * The registry of compute nodes: registration, heartbeats, resource metrics and liveness.
 * Storage is the source of truth; the in-memory map mirrors it so reads need no query. If a
 * storage transaction around these calls rolls back, call `reload()` to re-sync the mirror.
 */
export class NodeManager extends EventEmitter<NodeManagerEvents> {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly mutex = new Mutex();
  private readonly heartbeatTimeoutMs: number;
  private readonly now: () => number;
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly storage: Storage,
    options: NodeManagerOptions = {},
  ) {
    super();
    this.heartbeatTimeoutMs = parseWithSchema(options.heartbeatTimeoutMs ?? 30_000, z.number().positive(), 'heartbeat timeout');
    this.now = options.now ?? Date.now;
  }

  /** Adds a node, or refreshes one that registers again (keeping its first registration time). */
  async registerNode(registration: NodeRegistration): Promise<NodeRecord> {
    const input = parseWithSchema(registration, NodeRegistrationSchema, 'node');
    return this.exclusive(async () => {
      const now = this.now();
      const node: NodeRecord = {
        id: input.id,
        status: input.status,
        resources: input.resources,
        labels: input.labels,
        registeredAt: this.nodes.get(input.id)?.registeredAt ?? now,
        lastHeartbeat: now,
      };
      await this.save(node);
      this.emit('node:registered', structuredClone(node));
      return structuredClone(node);
    });
  }

  /** Removes a node from the registry. */
  async unregisterNode(nodeId: string): Promise<void> {
    const id = parseWithSchema(nodeId, NodeIdSchema, 'node id');
    return this.exclusive(async () => {
      const node = this.require(id);
      await this.storage.nodes.delete(id);
      this.nodes.delete(id);
      this.emit('node:unregistered', structuredClone(node));
    });
  }

  /** Replaces a node's reported resources; does not count as a heartbeat. */
  async updateMetrics(nodeId: string, metrics: ResourceMetrics): Promise<NodeRecord> {
    const id = parseWithSchema(nodeId, NodeIdSchema, 'node id');
    const resources = parseWithSchema(metrics, ResourceMetricsSchema, 'metrics');
    return this.exclusive(async () => {
      const node = { ...this.require(id), resources };
      await this.save(node);
      this.emit('node:metrics', structuredClone(node));
      return structuredClone(node);
    });
  }

  /** Records that a node is alive (bringing it back online if it was offline), optionally with fresh metrics. */
  async heartbeat(nodeId: string, metrics?: ResourceMetrics): Promise<NodeRecord> {
    const id = parseWithSchema(nodeId, NodeIdSchema, 'node id');
    const resources = metrics === undefined ? undefined : parseWithSchema(metrics, ResourceMetricsSchema, 'metrics');
    return this.exclusive(async () => {
      const before = this.require(id);
      const status: NodeStatus = before.status === 'offline' ? 'online' : before.status;
      const node: NodeRecord = { ...before, status, resources: resources ?? before.resources, lastHeartbeat: this.now() };
      await this.save(node);
      if (resources) this.emit('node:metrics', structuredClone(node));
      if (before.status === 'offline') this.emit('node:online', structuredClone(node));
      return structuredClone(node);
    });
  }

  /** The node with this id; NotFoundError when there is none. */
  async getNode(nodeId: string): Promise<NodeRecord> {
    const id = parseWithSchema(nodeId, NodeIdSchema, 'node id');
    await this.ready();
    return structuredClone(this.require(id));
  }

  /** Every known node, optionally only those with one status, in registration order. */
  async listNodes(filter: { status?: NodeStatus } = {}): Promise<NodeRecord[]> {
    await this.ready();
    return [...this.nodes.values()]
      .filter((node) => filter.status === undefined || node.status === filter.status)
      .sort((a, b) => a.registeredAt - b.registeredAt)
      .map((node) => structuredClone(node));
  }

  /** Marks offline every live node silent for longer than the timeout; returns the nodes it marked. */
  async checkHeartbeats(now: number = this.now()): Promise<NodeRecord[]> {
    return this.exclusive(async () => {
      const stale = [...this.nodes.values()].filter(
        (node) => node.status !== 'offline' && now - node.lastHeartbeat > this.heartbeatTimeoutMs,
      );
      const marked: NodeRecord[] = [];
      for (const before of stale) {
        const node: NodeRecord = { ...before, status: 'offline' };
        await this.save(node);
        marked.push(node);
        this.emit('node:offline', structuredClone(node));
      }
      return marked.map((node) => structuredClone(node));
    });
  }

  /**
   * Online nodes whose resources, less what is `reserved` on each (by node id), cover `requirements`.
   */
  async availableNodes(
    requirements: ResourceRequirements = {},
    reserved: ReadonlyMap<string, ResourceRequirements> = new Map(),
  ): Promise<NodeRecord[]> {
    const needed = parseWithSchema(requirements, ResourceRequirementsSchema, 'requirements');
    const online = await this.listNodes({ status: 'online' });
    return online.filter((node) => findShortfall(node.resources, needed, reserved.get(node.id)) === undefined);
  }

  /** The first resource this node lacks for `requirements` beyond what is `reserved`, or undefined if it fits. */
  async shortfall(
    nodeId: string,
    requirements: ResourceRequirements,
    reserved: ResourceRequirements = {},
  ): Promise<ResourceShortfall | undefined> {
    const needed = parseWithSchema(requirements, ResourceRequirementsSchema, 'requirements');
    const node = await this.getNode(nodeId);
    return findShortfall(node.resources, needed, reserved);
  }

  /** Drops the in-memory mirror and reads every node from storage again. */
  reload(): Promise<void> {
    return this.mutex.runExclusive(async () => {
      this.loaded = undefined;
      await this.ready();
    });
  }

  private ready(): Promise<void> {
    this.loaded ??= this.storage.nodes.list().then(
      (nodes) => {
        this.nodes.clear();
        for (const node of nodes) this.nodes.set(node.id, node);
      },
      (error: unknown) => {
        this.loaded = undefined; // let the next call try again
        throw error;
      },
    );
    return this.loaded;
  }

  /** Serialises read-modify-write steps so concurrent calls cannot lose each other's changes. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.runExclusive(async () => {
      await this.ready();
      return fn();
    });
  }

  private require(id: string): NodeRecord {
    const node = this.nodes.get(id);
    if (!node) throw new NotFoundError('node', id);
    return node;
  }

  /** Persists first, so a failed write leaves the mirror as it was. */
  private async save(node: NodeRecord): Promise<void> {
    await this.storage.nodes.upsert(node);
    this.nodes.set(node.id, node);
  }
}
