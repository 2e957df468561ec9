import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError, StateError } from './errors.js';
import { NodeManager } from './node-manager.js';
import { openStorage } from './storage/index.js';
import type { Storage, TaskRecord } from './storage/repository.js';
import { TaskScheduler } from './task-scheduler.js';

let storage: Storage;
let clock: number;
let nodes: NodeManager;
let scheduler: TaskScheduler;

beforeEach(() => {
  storage = openStorage({ path: ':memory:' });
  clock = 1_000;
  nodes = new NodeManager(storage, { heartbeatTimeoutMs: 100, now: () => clock });
  scheduler = new TaskScheduler(storage, nodes, { now: () => clock });
});

afterEach(async () => {
  scheduler.dispose();
  await storage.close();
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return (error as { code?: string } | undefined)?.code;
}

function recordEvents(): string[] {
  const events: string[] = [];
  for (const name of ['task:scheduled', 'task:assigned', 'task:completed', 'task:failed', 'task:retry'] as const) {
    scheduler.on(name, (task: TaskRecord) => events.push(`${name}:${task.id}`));
  }
  return events;
}

describe('TaskScheduler', () => {
  it('schedules a pending task with defaults and persists it', async () => {
    const events = recordEvents();
    const task = await scheduler.scheduleTask({ type: 'train', payload: { round: 1 } });
    expect(task).toMatchObject({ type: 'train', priority: 0, requirements: {}, status: 'pending', nodeId: null, attempts: 0, maxAttempts: 3 });
    expect(task.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await storage.tasks.get(task.id)).toEqual(task);
    expect(events).toEqual([`task:scheduled:${task.id}`]);
    expect(await codeOf(scheduler.scheduleTask({ id: task.id, type: 'train' }))).toBe('TASK_DUPLICATE');
  });

  it('orders pending tasks by priority, first-in first-out among equals', async () => {
    for (const [id, priority] of [['a', 1], ['b', 5], ['c', 1], ['d', 5], ['e', 3]] as const) {
      clock++;
      await scheduler.scheduleTask({ id, type: 't', priority });
    }
    expect((await scheduler.pendingTasks()).map((t) => t.id)).toEqual(['b', 'd', 'e', 'a', 'c']);
    // A new scheduler over the same storage rebuilds the same order.
    const again = new TaskScheduler(storage, nodes);
    expect((await again.pendingTasks()).map((t) => t.id)).toEqual(['b', 'd', 'e', 'a', 'c']);
    again.dispose();
  });

  it('assigns a task to a node with room for it, reserving the resources it needs', async () => {
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 4, memoryMb: 4096 } });
    await scheduler.scheduleTask({ id: 't1', type: 'train', requirements: { cpuCores: 3 } });
    await scheduler.scheduleTask({ id: 't2', type: 'train', requirements: { cpuCores: 2 } });
    const assigned = await scheduler.assignTask('n1', 't1');
    expect(assigned).toMatchObject({ status: 'assigned', nodeId: 'n1', attempts: 1 });
    expect(await storage.tasks.get('t1')).toEqual(assigned);

    const error = await scheduler.assignTask('n1', 't2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateError);
    expect(error).toMatchObject({ code: 'TASK_REQUIREMENTS_UNMET', details: { resource: 'cpuCores', needed: 2, available: 1 } });
    expect((error as Error).message).toContain('1 CPU cores free, 2 needed');
    expect((await storage.tasks.get('t2'))?.status).toBe('pending');

    await scheduler.completeTask('t1', { loss: 0.3 });
    expect((await scheduler.assignTask('n1', 't2')).nodeId).toBe('n1');
  });

  it('names the short resource when the node lacks memory or GPUs', async () => {
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 8, memoryMb: 1024 } });
    await scheduler.scheduleTask({ id: 'mem', type: 't', requirements: { memoryMb: 2048 } });
    await scheduler.scheduleTask({ id: 'gpu', type: 't', requirements: { gpuCount: 1 } });
    expect(await scheduler.assignTask('n1', 'mem').catch((e: unknown) => e)).toMatchObject({ details: { resource: 'memoryMb' } });
    expect(await scheduler.assignTask('n1', 'gpu').catch((e: unknown) => e)).toMatchObject({ details: { resource: 'gpuCount' } });
  });

  it('refuses to assign to unknown, offline or busy nodes, and unknown or non-pending tasks', async () => {
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 4, memoryMb: 4096 } });
    await nodes.registerNode({ id: 'busy', resources: { cpuCores: 4, memoryMb: 4096 }, status: 'busy' });
    await scheduler.scheduleTask({ id: 't1', type: 'train' });
    expect(await codeOf(scheduler.assignTask('ghost', 't1'))).toBe('NODE_NOT_FOUND');
    expect(await codeOf(scheduler.assignTask('busy', 't1'))).toBe('NODE_UNAVAILABLE');
    expect(await codeOf(scheduler.assignTask('n1', 'nope'))).toBe('TASK_NOT_FOUND');
    await scheduler.assignTask('n1', 't1');
    expect(await codeOf(scheduler.assignTask('n1', 't1'))).toBe('TASK_STATE');
    clock += 1_000;
    await nodes.checkHeartbeats();
    await scheduler.scheduleTask({ id: 't2', type: 'train' });
    expect(await codeOf(scheduler.assignTask('n1', 't2'))).toBe('NODE_UNAVAILABLE');
  });

  it('assignNext picks the highest-priority pending task the node can run', async () => {
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 2, memoryMb: 1024 } });
    await scheduler.scheduleTask({ id: 'big', type: 't', priority: 9, requirements: { cpuCores: 8 } });
    await scheduler.scheduleTask({ id: 'low', type: 't', priority: 1 });
    await scheduler.scheduleTask({ id: 'mid', type: 't', priority: 5, requirements: { cpuCores: 2 } });
    expect((await scheduler.assignNext('n1'))?.id).toBe('mid');
    // The node's two cores are now reserved by 'mid'; 'low' needs none, so it still fits.
    expect((await scheduler.assignNext('n1'))?.id).toBe('low');
    expect(await scheduler.assignNext('n1')).toBeUndefined();
    expect((await scheduler.pendingTasks()).map((t) => t.id)).toEqual(['big']);
  });

  it('schedule() greedily places tasks by priority on the least-loaded fitting node', async () => {
    await nodes.registerNode({ id: 'a', resources: { cpuCores: 4, memoryMb: 8192 } });
    clock++;
    await nodes.registerNode({ id: 'b', resources: { cpuCores: 2, memoryMb: 8192, gpuCount: 1 } });
    await scheduler.scheduleTask({ id: 'gpu', type: 't', priority: 1, requirements: { gpuCount: 1, cpuCores: 1 } });
    await scheduler.scheduleTask({ id: 'p9', type: 't', priority: 9, requirements: { cpuCores: 2 } });
    await scheduler.scheduleTask({ id: 'p5', type: 't', priority: 5, requirements: { cpuCores: 2 } });
    await scheduler.scheduleTask({ id: 'p3', type: 't', priority: 3, requirements: { cpuCores: 2 } });
    await scheduler.scheduleTask({ id: 'huge', type: 't', priority: 10, requirements: { cpuCores: 64 } });
    const placed = await scheduler.schedule();
    expect(placed).toEqual([
      { taskId: 'p9', nodeId: 'a' },
      { taskId: 'p5', nodeId: 'b' },
      { taskId: 'p3', nodeId: 'a' },
    ]);
    // 'gpu' fits nowhere any more: b's cores are taken by p5; 'huge' fits nowhere at all.
    expect((await scheduler.pendingTasks()).map((t) => t.id)).toEqual(['huge', 'gpu']);
    for (const { taskId, nodeId } of placed) expect((await storage.tasks.get(taskId))?.nodeId).toBe(nodeId);
    await scheduler.completeTask('p5', null);
    expect(await scheduler.schedule()).toEqual([{ taskId: 'gpu', nodeId: 'b' }]);
  });

  it('retries a failed task until it has used maxAttempts, then marks it failed', async () => {
    const events = recordEvents();
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 1, memoryMb: 1 } });
    await scheduler.scheduleTask({ id: 't', type: 't', maxAttempts: 2 });
    await scheduler.assignTask('n1', 't');
    const retried = await scheduler.failTask('t', new Error('out of memory'));
    expect(retried).toMatchObject({ status: 'pending', nodeId: null, attempts: 1, error: 'out of memory' });
    await scheduler.assignTask('n1', 't');
    const failed = await scheduler.failTask('t', 'crashed again');
    expect(failed).toMatchObject({ status: 'failed', nodeId: 'n1', attempts: 2, error: 'crashed again' });
    expect(await storage.tasks.get('t')).toEqual(failed);
    expect(await scheduler.pendingTasks()).toEqual([]);
    expect(await codeOf(scheduler.failTask('t', 'again'))).toBe('TASK_STATE');
    expect(events).toEqual(['task:scheduled:t', 'task:assigned:t', 'task:retry:t', 'task:assigned:t', 'task:failed:t']);
  });

  it('completes an assigned task, storing its result', async () => {
    const events = recordEvents();
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 1, memoryMb: 1 } });
    await scheduler.scheduleTask({ id: 't', type: 't' });
    expect(await codeOf(scheduler.completeTask('t', 1))).toBe('TASK_STATE');
    await scheduler.assignTask('n1', 't');
    const done = await scheduler.completeTask('t', { loss: 0.25, numExamples: 80 });
    expect(done).toMatchObject({ status: 'completed', result: { loss: 0.25, numExamples: 80 } });
    expect(await scheduler.getTask('t')).toEqual(done);
    expect(await storage.tasks.get('t')).toEqual(done);
    expect(events.at(-1)).toBe('task:completed:t');
    expect(await scheduler.getTask('ghost').catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
  });

  it('re-queues the tasks of a node that goes offline, and fails those out of attempts', async () => {
    await nodes.registerNode({ id: 'flaky', resources: { cpuCores: 4, memoryMb: 4096 } });
    await nodes.registerNode({ id: 'steady', resources: { cpuCores: 4, memoryMb: 4096 } });
    await scheduler.scheduleTask({ id: 'again', type: 't', maxAttempts: 3 });
    await scheduler.scheduleTask({ id: 'last', type: 't', maxAttempts: 1 });
    await scheduler.scheduleTask({ id: 'safe', type: 't' });
    await scheduler.assignTask('flaky', 'again');
    await scheduler.assignTask('flaky', 'last');
    await scheduler.assignTask('steady', 'safe');

    clock = 1_050;
    await nodes.heartbeat('steady');
    clock = 1_120;
    expect((await nodes.checkHeartbeats()).map((n) => n.id)).toEqual(['flaky']);

    expect(await scheduler.getTask('again')).toMatchObject({ status: 'pending', nodeId: null, error: "node 'flaky' went offline" });
    expect(await scheduler.getTask('last')).toMatchObject({ status: 'failed', error: "node 'flaky' went offline" });
    expect(await scheduler.getTask('safe')).toMatchObject({ status: 'assigned', nodeId: 'steady' });
    expect(await scheduler.schedule()).toEqual([{ taskId: 'again', nodeId: 'steady' }]);
  });

  it('re-queues the tasks of a node that is unregistered', async () => {
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 1, memoryMb: 1 } });
    await scheduler.scheduleTask({ id: 't', type: 't' });
    await scheduler.assignTask('n1', 't');
    await nodes.unregisterNode('n1');
    expect(await scheduler.getTask('t')).toMatchObject({ status: 'pending', error: "node 'n1' was unregistered" });
  });

  it('picks up assigned tasks and reservations from storage in a new scheduler', async () => {
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 2, memoryMb: 1 } });
    await scheduler.scheduleTask({ id: 'held', type: 't', requirements: { cpuCores: 2 } });
    await scheduler.assignTask('n1', 'held');
    const restarted = new TaskScheduler(storage, nodes);
    await restarted.scheduleTask({ id: 'more', type: 't', requirements: { cpuCores: 1 } });
    expect(await codeOf(restarted.assignTask('n1', 'more'))).toBe('TASK_REQUIREMENTS_UNMET');
    await restarted.completeTask('held', 'ok');
    expect((await restarted.assignTask('n1', 'more')).status).toBe('assigned');
    restarted.dispose();
  });

  it('scheduleOnNodes places each task on its own node when it fits, leaves the rest pending, keeps known ids, in one commit', async () => {
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 2, memoryMb: 1024 } });
    await nodes.registerNode({ id: 'n2', resources: { cpuCores: 1, memoryMb: 1024 } });
    await nodes.registerNode({ id: 'gone', resources: { cpuCores: 2, memoryMb: 1024 }, status: 'offline' });
    await scheduler.scheduleTask({ id: 'kept', type: 't' });
    const events = recordEvents();
    const spec = (id: string, cpuCores = 1) => ({ id, type: 'train', requirements: { cpuCores } });
    const added = await scheduler.scheduleOnNodes([
      { spec: spec('a'), nodeId: 'n1' },
      { spec: spec('b', 2), nodeId: 'n2' },
      { spec: spec('c'), nodeId: 'gone' },
      { spec: spec('kept'), nodeId: 'n1' },
    ]);
    expect(added.map((t) => [t.id, t.status, t.nodeId])).toEqual([['a', 'assigned', 'n1'], ['b', 'pending', null], ['c', 'pending', null]]);
    expect(events).toEqual(['task:scheduled:a', 'task:assigned:a', 'task:scheduled:b', 'task:scheduled:c']);
    for (const task of added) expect(await storage.tasks.get(task.id)).toEqual(task);
    expect((await storage.tasks.get('kept'))?.status).toBe('pending');
    // The placed task reserves its node as assignTask's would.
    await scheduler.scheduleTask({ id: 'd', type: 't', requirements: { cpuCores: 2 } });
    expect(await codeOf(scheduler.assignTask('n1', 'd'))).toBe('TASK_REQUIREMENTS_UNMET');
  });

  it('scheduleOnNodes stores nothing when one of its tasks fails, and the scheduler still agrees with the store', async () => {
    await nodes.registerNode({ id: 'n1', resources: { cpuCores: 2, memoryMb: 1024 } });
    const error = await scheduler.scheduleOnNodes([{ spec: { id: 'a', type: 't' }, nodeId: 'n1' }, { spec: { id: 'b', type: 't' }, nodeId: 'ghost' }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(await storage.tasks.list()).toEqual([]);
    expect(await scheduler.pendingTasks()).toEqual([]);
    expect(await codeOf(scheduler.getTask('a'))).toBe('TASK_NOT_FOUND');
    expect((await scheduler.scheduleOnNodes([{ spec: { id: 'a', type: 't' }, nodeId: 'n1' }]))[0].status).toBe('assigned');
  });

  it('rejects invalid task specs with InvalidInputError naming the field', async () => {
    const error = await scheduler.scheduleTask({ type: 't', requirements: { cpuCores: -2 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toBe("task field 'requirements.cpuCores': expected a non-negative number, got -2");
    expect(await codeOf(scheduler.scheduleTask({ type: '' }))).toBe('TASK_INVALID');
    expect(await codeOf(scheduler.scheduleTask({ type: 't', maxAttempts: 0 }))).toBe('TASK_INVALID');
    expect(await codeOf(scheduler.scheduleTask({ type: 't', priority: Number.POSITIVE_INFINITY }))).toBe('TASK_INVALID');
    expect(await storage.tasks.list()).toEqual([]);
  });
});
