import { Waiter } from './round-collection.js';

/**
 * Where a multi-message protection protocol stands at the coordinator: the current stage, who owes
 * an answer to it, and who has answered. A stage ends when everyone expected has answered, or when
 * its time is up; who did not answer by then is a drop-out.
 */
export class StageTracker<S extends string> {
  private expected: Set<string>;
  private readonly answered = new Set<string>();
  private readonly waiter = new Waiter();

  constructor(
    private stage: S,
    expected: Iterable<string>,
  ) {
    this.expected = new Set(expected);
  }

  /** The stage whose answers are being collected. */
  get current(): S {
    return this.stage;
  }

  /** Who answered the current stage so far. */
  get answers(): ReadonlySet<string> {
    return this.answered;
  }

  /** Whether `participantId` owes an answer to `stage` now (not yet given). */
  due(participantId: string, stage: string): boolean {
    return stage === this.stage && this.expected.has(participantId) && !this.answered.has(participantId);
  }

  /** Records an answer to the current stage. */
  answer(participantId: string): void {
    this.answered.add(participantId);
    this.waiter.poke();
  }

  /** Stops expecting an answer from `participantId` at this stage (its contribution was refused). */
  drop(participantId: string): void {
    this.expected.delete(participantId);
    this.waiter.poke();
  }

  /** Moves to the next stage; answers to the previous one no longer count. */
  next(stage: S, expected: Iterable<string>): void {
    this.stage = stage;
    this.expected = new Set(expected);
    this.answered.clear();
  }

  /** Waits until everyone expected has answered, or until `until` (ms since the epoch). */
  wait(until: number, signal?: AbortSignal): Promise<void> {
    return this.waiter.until(() => [...this.expected].every((id) => this.answered.has(id)), until, signal);
  }
}
