/**
 * A first-come, first-served shared/exclusive lock: shared holders run side by side, an exclusive
 * holder runs alone. A caller waits only for the callers before it that it conflicts with, so an
 * exclusive caller never starves and a shared caller that asked after it does not overtake it.
 * The PostgreSQL store uses it so independent calls share its connection pool while a transaction
 * still sees, as with SQLite, no other call of the same process slip in beside it.
 */
export class SharedExclusiveLock {
  /** Settles once the latest exclusive holder queued so far has finished. */
  private exclusiveDone: Promise<void> = Promise.resolve();
  /** Shared holders queued since that exclusive one and not yet finished. */
  private readonly shared = new Set<Promise<void>>();

  /** Runs `fn` alongside other shared holders, once every exclusive holder queued before it has finished. */
  runShared<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.exclusiveDone.then(fn);
    const done = settled(run);
    this.shared.add(done);
    void done.then(() => this.shared.delete(done));
    return run;
  }

  /** Runs `fn` alone, once every holder queued before it, shared or exclusive, has finished. */
  runExclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = Promise.all([this.exclusiveDone, ...this.shared]).then(fn);
    this.exclusiveDone = settled(run);
    this.shared.clear();
    return run;
  }
}

/** Resolves when `promise` settles either way: a failed holder must not block the ones behind it. */
function settled(promise: Promise<unknown>): Promise<void> {
  return promise.then(
    () => undefined,
    () => undefined,
  );
}
