import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { parseWithSchema } from './config.js';
import { NotFoundError, StateError } from './errors.js';
import { Mutex } from './mutex.js';
import type { NodeManager } from './node-manager.js';
import { PriorityQueue } from './priority-queue.js';
import { describeShortfall, ResourceRequirementsSchema, sumRequirements } from './resources.js';
import type { NodeRecord, ResourceRequirements, Storage, TaskRecord, TaskStatus } from './storage/repository.js';

const TaskIdSchema = z.string().trim().min(1);

const TaskSpecSchema = z.object({
  id: TaskIdSchema.optional(),
  type: z.string().trim().min(1),
  priority: z.number().finite().default(0),
  requirements: ResourceRequirementsSchema.default({}),
  payload: z.unknown().optional(),
  maxAttempts: z.number().int().positive().optional(),
});

/** A task to schedule; higher `priority` runs first; `id` defaults to a random UUID. */
export type TaskSpec = z.input<typeof TaskSpecSchema>;

/** What a finished task produced; stored as JSON. */
export type TaskResult = unknown;

/** Options of a TaskScheduler. */
export interface TaskSchedulerOptions {
  /** How many times a task may be assigned before a failure is final, unless the task says otherwise. Default 3. */
  maxAttempts?: number;
  /** Clock in ms since the epoch; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

/** Events a TaskScheduler emits, each with the task as it is after the change. */
export type TaskSchedulerEvents = {
  'task:scheduled': [task: TaskRecord];
  'task:assigned': [task: TaskRecord];
  'task:completed': [task: TaskRecord];
  /** The task failed and has no attempts left. */
  'task:failed': [task: TaskRecord];
  /** The task failed and went back to the queue for another attempt. */
  'task:retry': [task: TaskRecord];
  /** Re-queueing the tasks of a node that left failed (usually a storage error). */
  error: [error: unknown];
};

/** A task placed on a node by `schedule()`. */
export interface Assignment {
  taskId: string;
  nodeId: string;
}

/**
 * Places tasks on compute nodes: a priority queue of pending tasks (higher priority first, FIFO
 * among equals), resource checks through the NodeManager with reservations for tasks already
 * placed, bounded retries, and re-queueing when a node goes offline or leaves.
 */
export class TaskScheduler extends EventEmitter<TaskSchedulerEvents> {
  /** Pending and assigned tasks; finished ones live only in storage. */
  private readonly active = new Map<string, TaskRecord>();
  private readonly queue = new PriorityQueue<TaskRecord>((a, b) => b.priority - a.priority);
  private readonly mutex = new Mutex();
  private readonly maxAttempts: number;
  private readonly now: () => number;
  private loaded: Promise<void> | undefined;
  private readonly onNodeOffline = (node: NodeRecord): void => this.releaseInBackground(node.id, `node '${node.id}' went offline`);
  private readonly onNodeUnregistered = (node: NodeRecord): void =>
    this.releaseInBackground(node.id, `node '${node.id}' was unregistered`);

  constructor(
    private readonly storage: Storage,
    private readonly nodeManager: NodeManager,
    options: TaskSchedulerOptions = {},
  ) {
    super();
    this.maxAttempts = parseWithSchema(options.maxAttempts ?? 3, z.number().int().positive(), 'max attempts');
    this.now = options.now ?? Date.now;
    nodeManager.on('node:offline', this.onNodeOffline);
    nodeManager.on('node:unregistered', this.onNodeUnregistered);
  }

  /** Adds a pending task to the queue and persists it. */
  async scheduleTask(spec: TaskSpec): Promise<TaskRecord> {
    const input = parseWithSchema(spec, TaskSpecSchema, 'task');
    return this.exclusive(async () => {
      const id = input.id ?? randomUUID();
      if (this.active.has(id) || (await this.storage.tasks.get(id))) {
        throw new StateError('TASK_DUPLICATE', `task '${id}' already exists; give the new task another id`, { id });
      }
      const task = this.pendingTask(id, input);
      await this.save(task);
      this.emit('task:scheduled', structuredClone(task));
      return structuredClone(task);
    });
  }

  /**
   * Schedules tasks, each placed at once on its own node when that node is online and has the
   * resources free (left pending otherwise, to be assigned when it returns), all in one storage
   * transaction: a round's hundreds of tasks cost one commit instead of two writes each. A task
   * whose id is already known is left as it is (a resumed round's). Returns the tasks it added.
   */
  async scheduleOnNodes(entries: readonly { spec: TaskSpec & { id: string }; nodeId: string }[]): Promise<TaskRecord[]> {
    const inputs = entries.map(({ spec, nodeId }) => ({ input: parseWithSchema(spec, TaskSpecSchema, 'task'), nodeId }));
    return this.exclusive(async () => {
      const added: { scheduled: TaskRecord; placed: TaskRecord | undefined }[] = [];
      try {
        await this.storage.transaction(async () => {
          for (const { input, nodeId } of inputs) {
            const id = input.id as string;
            if (this.active.has(id) || (await this.storage.tasks.get(id))) continue;
            const scheduled = this.pendingTask(id, input);
            const node = await this.nodeManager.getNode(nodeId);
            const fits = node.status === 'online' && !(await this.nodeManager.shortfall(node.id, scheduled.requirements, this.reservedOn(node.id)));
            const placed = fits ? this.placed(scheduled, node.id) : undefined;
            await this.save(placed ?? scheduled);
            added.push({ scheduled, placed });
          }
        });
      } catch (error) {
        // Rolled back: what this call put in memory is not in the store, so read the store again.
        this.loaded = undefined;
        throw error;
      }
      for (const { scheduled, placed } of added) {
        this.emit('task:scheduled', structuredClone(scheduled));
        if (placed) this.emit('task:assigned', structuredClone(placed));
      }
      return added.map(({ scheduled, placed }) => structuredClone(placed ?? scheduled));
    });
  }

  /** Places a pending task on a node, after checking the node is online and has the resources free. */
  async assignTask(nodeId: string, taskId: string): Promise<TaskRecord> {
    const id = parseWithSchema(taskId, TaskIdSchema, 'task id');
    return this.exclusive(async () => {
      const task = await this.requireActive(id, 'pending');
      const node = await this.nodeManager.getNode(nodeId);
      this.assertOnline(node);
      const shortfall = await this.nodeManager.shortfall(node.id, task.requirements, this.reservedOn(node.id));
      if (shortfall) {
        throw new StateError(
          'TASK_REQUIREMENTS_UNMET',
          `node '${node.id}' cannot run task '${task.id}': ${describeShortfall(shortfall)}; pick another node or lower the task's requirements`,
          { nodeId: node.id, taskId: task.id, ...shortfall },
        );
      }
      return this.place(task, node.id);
    });
  }

  /** Places the highest-priority pending task this node can run; undefined when none fits. */
  async assignNext(nodeId: string): Promise<TaskRecord | undefined> {
    return this.exclusive(async () => {
      const node = await this.nodeManager.getNode(nodeId);
      this.assertOnline(node);
      for (const task of this.queue.toSortedArray()) {
        if (!(await this.nodeManager.shortfall(node.id, task.requirements, this.reservedOn(node.id)))) {
          return this.place(task, node.id);
        }
      }
      return undefined;
    });
  }

  /**
   * Greedily places pending tasks, highest priority first, each on the fitting online node with
   * the fewest tasks already placed (earliest registered on ties); returns what it placed.
   */
  async schedule(): Promise<Assignment[]> {
    return this.exclusive(async () => {
      const assignments: Assignment[] = [];
      for (const task of this.queue.toSortedArray()) {
        const candidates = await this.nodeManager.availableNodes(task.requirements, this.reservations());
        if (candidates.length === 0) continue;
        const load = (node: NodeRecord): number => this.tasksOn(node.id).length;
        // Stable sort keeps registration order among equally loaded nodes.
        const [target] = [...candidates].sort((a, b) => load(a) - load(b));
        await this.place(task, target.id);
        assignments.push({ taskId: task.id, nodeId: target.id });
      }
      return assignments;
    });
  }

  /** Records an assigned task's result and frees its node's resources. */
  async completeTask(taskId: string, result: TaskResult): Promise<TaskRecord> {
    const id = parseWithSchema(taskId, TaskIdSchema, 'task id');
    return this.exclusive(async () => {
      const task = await this.requireActive(id, 'assigned');
      const done: TaskRecord = { ...task, status: 'completed', result, error: null, updatedAt: this.now() };
      await this.save(done);
      this.emit('task:completed', structuredClone(done));
      return structuredClone(done);
    });
  }

  /** Records a failed attempt: re-queued (behind equal-priority tasks) while attempts remain, else failed for good. */
  async failTask(taskId: string, error: string | Error): Promise<TaskRecord> {
    const id = parseWithSchema(taskId, TaskIdSchema, 'task id');
    const reason = typeof error === 'string' ? error : error.message;
    return this.exclusive(async () => this.fail(await this.requireActive(id, 'assigned'), reason));
  }

  /** Fails (and so retries or gives up on) every task placed on a node, e.g. when it went offline. */
  async releaseNode(nodeId: string, reason: string): Promise<TaskRecord[]> {
    return this.exclusive(async () => {
      const released: TaskRecord[] = [];
      for (const task of this.tasksOn(nodeId)) released.push(await this.fail(task, reason));
      return released;
    });
  }

  /** The task with this id, whatever its status; NotFoundError when there is none. */
  async getTask(taskId: string): Promise<TaskRecord> {
    const id = parseWithSchema(taskId, TaskIdSchema, 'task id');
    return this.exclusive(async () => {
      const task = this.active.get(id) ?? (await this.storage.tasks.get(id));
      if (!task) throw new NotFoundError('task', id);
      return structuredClone(task);
    });
  }

  /** Stored tasks, optionally filtered by status or node, oldest first. */
  async listTasks(filter: { status?: TaskStatus; nodeId?: string } = {}): Promise<TaskRecord[]> {
    return this.exclusive(() => this.storage.tasks.list(filter));
  }

  /** Pending tasks in the order they would be placed. */
  async pendingTasks(): Promise<TaskRecord[]> {
    return this.exclusive(async () => this.queue.toSortedArray().map((task) => structuredClone(task)));
  }

  /** Drops the in-memory queue and reads pending and assigned tasks from storage again. */
  reload(): Promise<void> {
    return this.mutex.runExclusive(async () => {
      this.loaded = undefined;
      await this.ready();
    });
  }

  /** Stops listening to the NodeManager; call when the scheduler is no longer used. */
  dispose(): void {
    this.nodeManager.off('node:offline', this.onNodeOffline);
    this.nodeManager.off('node:unregistered', this.onNodeUnregistered);
  }

  /** Event listeners cannot await; the mutex still orders this before any later scheduler call. */
  private releaseInBackground(nodeId: string, reason: string): void {
    this.releaseNode(nodeId, reason).catch((error: unknown) => this.emit('error', error));
  }

  private pendingTask(id: string, input: z.output<typeof TaskSpecSchema>): TaskRecord {
    const now = this.now();
    return {
      id,
      type: input.type,
      priority: input.priority,
      requirements: input.requirements,
      status: 'pending',
      nodeId: null,
      attempts: 0,
      maxAttempts: input.maxAttempts ?? this.maxAttempts,
      payload: input.payload,
      result: undefined,
      error: null,
      createdAt: now,
      updatedAt: now,
    };
  }

  private placed(task: TaskRecord, nodeId: string): TaskRecord {
    return { ...task, status: 'assigned', nodeId, attempts: task.attempts + 1, updatedAt: this.now() };
  }

  private async place(task: TaskRecord, nodeId: string): Promise<TaskRecord> {
    const assigned = this.placed(task, nodeId);
    await this.save(assigned);
    this.emit('task:assigned', structuredClone(assigned));
    return structuredClone(assigned);
  }

  private async fail(task: TaskRecord, reason: string): Promise<TaskRecord> {
    const retry = task.attempts < task.maxAttempts;
    const next: TaskRecord = {
      ...task,
      status: retry ? 'pending' : 'failed',
      nodeId: retry ? null : task.nodeId,
      error: reason,
      updatedAt: this.now(),
    };
    await this.save(next);
    this.emit(retry ? 'task:retry' : 'task:failed', structuredClone(next));
    return structuredClone(next);
  }

  private assertOnline(node: NodeRecord): void {
    if (node.status !== 'online') {
      throw new StateError('NODE_UNAVAILABLE', `node '${node.id}' is ${node.status}; assign the task to an online node`, {
        nodeId: node.id,
        status: node.status,
      });
    }
  }

  private async requireActive(id: string, status: 'pending' | 'assigned'): Promise<TaskRecord> {
    const task = this.active.get(id) ?? (await this.storage.tasks.get(id));
    if (!task) throw new NotFoundError('task', id);
    if (task.status !== status) {
      throw new StateError('TASK_STATE', `task '${id}' is ${task.status}, not ${status}; check its status before acting on it`, {
        id,
        status: task.status,
      });
    }
    return task;
  }

  private tasksOn(nodeId: string): TaskRecord[] {
    return [...this.active.values()].filter((task) => task.status === 'assigned' && task.nodeId === nodeId);
  }

  private reservedOn(nodeId: string): ResourceRequirements {
    return sumRequirements(this.tasksOn(nodeId).map((task) => task.requirements));
  }

  private reservations(): Map<string, ResourceRequirements> {
    const byNode = new Map<string, ResourceRequirements[]>();
    for (const task of this.active.values()) {
      if (task.status === 'assigned' && task.nodeId !== null) {
        byNode.set(task.nodeId, [...(byNode.get(task.nodeId) ?? []), task.requirements]);
      }
    }
    return new Map([...byNode].map(([nodeId, all]) => [nodeId, sumRequirements(all)]));
  }

  private ready(): Promise<void> {
    this.loaded ??= Promise.all([this.storage.tasks.list({ status: 'pending' }), this.storage.tasks.list({ status: 'assigned' })]).then(
      ([pending, assigned]) => {
        this.active.clear();
        this.queue.clear();
        // Storage lists oldest first, so pushing in that order keeps FIFO among equal priorities.
        for (const task of [...pending, ...assigned]) this.track(task);
      },
      (error: unknown) => {
        this.loaded = undefined;
        throw error;
      },
    );
    return this.loaded;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.runExclusive(async () => {
      await this.ready();
      return fn();
    });
  }

  /** Persists first, so a failed write leaves the queue and the active set as they were. */
  private async save(task: TaskRecord): Promise<void> {
    await this.storage.tasks.upsert(task);
    this.queue.remove((queued) => queued.id === task.id);
    this.active.delete(task.id);
    this.track(task);
  }

  private track(task: TaskRecord): void {
    if (task.status === 'pending') this.queue.push(task);
    if (task.status === 'pending' || task.status === 'assigned') this.active.set(task.id, task);
  }
}
