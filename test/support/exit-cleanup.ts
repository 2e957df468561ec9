const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs `cleanup` (synchronous) once, when this process exits or is interrupted, whichever comes
 * first; the returned function runs it now instead and unregisters it.
 */
export function onExitOrInterrupt(cleanup: () => void): () => void {
  let done = false;
  const run = (): void => {
    if (done) return;
    done = true;
    for (const signal of SIGNALS) process.off(signal, onSignal);
    process.off('exit', run);
    cleanup();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    run();
    // Only this listener was keeping the default (exit on the signal) away: restore it.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  // Prepended: vitest's own handlers call process.exit(), after which later listeners never run.
  for (const signal of SIGNALS) process.prependOnceListener(signal, onSignal);
  process.prependOnceListener('exit', run);
  return run;
}
