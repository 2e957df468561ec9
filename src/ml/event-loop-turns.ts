import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Turns given back to the event loop during a long synchronous loop (a training run): once `everyMs` have passed
 * since the last turn, `take` lets timers and I/O run, so a process that trains still sends its heartbeats and answers
 * its coordinator's pings. Between turns `take` costs a clock read.
 */
export class EventLoopTurns {
  private last = performance.now();

  constructor(private readonly everyMs: number) {}

  /** Yields to the event loop when a turn is due. */
  async take(): Promise<void> {
    if (performance.now() - this.last < this.everyMs) return;
    await nextTurn();
    this.last = performance.now();
  }
}
