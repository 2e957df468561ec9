import { describe, expect, it } from 'vitest';
import { SharedExclusiveLock } from './shared-exclusive-lock.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SharedExclusiveLock', () => {
  it('lets shared holders overlap', async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const job = (name: string) => async (): Promise<void> => {
      log.push(`${name}:start`);
      await tick();
      log.push(`${name}:end`);
    };
    await Promise.all([lock.runShared(job('a')), lock.runShared(job('b'))]);
    expect(log).toEqual(['a:start', 'b:start', 'a:end', 'b:end']);
  });

  it('runs an exclusive holder alone, after earlier holders and before later ones, in arrival order', async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const job = (name: string) => async (): Promise<string> => {
      log.push(`${name}:start`);
      await tick();
      await tick();
      log.push(`${name}:end`);
      return name;
    };
    const results = await Promise.all([
      lock.runShared(job('s1')),
      lock.runShared(job('s2')),
      lock.runExclusive(job('x1')),
      lock.runShared(job('s3')),
      lock.runExclusive(job('x2')),
      lock.runShared(job('s4')),
    ]);
    expect(results).toEqual(['s1', 's2', 'x1', 's3', 'x2', 's4']);
    expect(log).toEqual([
      's1:start', 's2:start', 's1:end', 's2:end',
      'x1:start', 'x1:end',
      's3:start', 's3:end',
      'x2:start', 'x2:end',
      's4:start', 's4:end',
    ]);
  });

  it('keeps serving later callers after a holder fails', async () => {
    const lock = new SharedExclusiveLock();
    const failedShared = lock.runShared(() => {
      throw new Error('shared boom');
    });
    const failedExclusive = lock.runExclusive(async () => {
      throw new Error('exclusive boom');
    });
    const next = lock.runShared(() => 7);
    const last = lock.runExclusive(() => 8);
    await expect(failedShared).rejects.toThrow('shared boom');
    await expect(failedExclusive).rejects.toThrow('exclusive boom');
    await expect(next).resolves.toBe(7);
    await expect(last).resolves.toBe(8);
  });
});
