/**
 * A promise-chain mutex: callers run one at a time, in the order they asked. Used wherever
 * an async read-modify-write must not interleave with another (storage transactions, the
 * node registry, the task scheduler).
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `fn` once every earlier caller has finished, and settles with its outcome. */
  runExclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    // A failed caller must not poison the chain for the ones queued behind it.
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}
