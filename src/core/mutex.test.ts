import { describe, expect, it } from 'vitest';
import { Mutex } from './mutex.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Mutex', () => {
  it('runs callers one at a time in arrival order, even when they yield', async () => {
    const mutex = new Mutex();
    const log: string[] = [];
    const job = (name: string) => async (): Promise<string> => {
      log.push(`${name}:start`);
      await tick();
      log.push(`${name}:end`);
      return name;
    };
    const results = await Promise.all([mutex.runExclusive(job('a')), mutex.runExclusive(job('b'))]);
    expect(results).toEqual(['a', 'b']);
    expect(log).toEqual(['a:start', 'a:end', 'b:start', 'b:end']);
  });

  it('keeps serving later callers after one fails', async () => {
    const mutex = new Mutex();
    const failed = mutex.runExclusive(() => {
      throw new Error('boom');
    });
    const next = mutex.runExclusive(() => 7);
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe(7);
  });
});
