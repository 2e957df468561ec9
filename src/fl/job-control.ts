/** Where a job stands: running, asked to pause (the round in progress finishes first), or holding before a round. */
export type ControlState = 'running' | 'pausing' | 'paused';

/** An operator's pause and resume of a job between rounds. Not persisted: a restarted coordinator runs. */
export class PauseControl {
  /** An operator asked the job to hold before its next round. */
  private requested = false;
  /** Wakes the round loop while it holds for a pause. */
  private wake: (() => void) | null = null;

  /** `onChange` hears every change of {@link state}. */
  constructor(private readonly onChange: (state: ControlState) => void) {}

  /** Where the job stands now. */
  get state(): ControlState {
    if (!this.requested) return 'running';
    return this.wake ? 'paused' : 'pausing';
  }

  /** True while a pause is asked for, until resumed. */
  get pauseRequested(): boolean {
    return this.requested;
  }

  /** Holds the job before its next round, leaving the round in progress to finish; false when it is already paused. */
  pause(): boolean {
    if (this.requested) return false;
    this.requested = true;
    this.onChange(this.state);
    return true;
  }

  /** Lets a paused job go on; false when it was not paused. */
  resume(): boolean {
    if (!this.requested) return false;
    this.requested = false;
    const wake = this.wake;
    this.wake = null;
    wake?.();
    this.onChange(this.state);
    return true;
  }

  /** Waits while a pause is requested, until resumed or aborted; participants stay connected and no round is open meanwhile. */
  async hold(signal: AbortSignal): Promise<void> {
    while (this.requested && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        this.wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.onChange(this.state);
      });
    }
    this.wake = null;
  }
}
