import { StateError } from '../../core/errors.js';
import type { ParticipantChannel, RemoteUpdate, StageMessage, TaskProtection } from '../participant-channel.js';
import type { RoundResult, TrainingManager } from '../training-manager.js';
import type { SubmitOutcome } from '../update-admission.js';

/** An update the coordinator could read, kept for the poisoning detector. */
export interface VisibleUpdate {
  clientId: string;
  weights: Float32Array;
  numExamples: number;
  loss: number;
  seconds: number;
}

/** What one open round needs to know to collect its participants' updates. */
export interface RoundContext {
  manager: TrainingManager;
  channel: ParticipantChannel;
  roundId: string;
  round: number;
  participants: readonly string[];
  /** The global weights the participants start from. */
  global: Float32Array;
  /** When the round stops waiting for updates (ms since the epoch). */
  deadline: number;
  /** Accepted updates the round needs. */
  quorum: number;
  /** Examples each participant declared when it joined. */
  examples: ReadonlyMap<string, number>;
  /**
   * The most each participant's update may weigh this round (`roundWeightBounds`): its declared
   * count, cut so no one exceeds the job's `aggregation.maxWeightShare` of the round's total.
   */
  weightBounds: ReadonlyMap<string, number>;
  /** Keep plain updates for the poisoning detector (memory grows with the participants). */
  keepUpdates: boolean;
  /** A refused protocol message that is not an update (logged and counted by the coordinator). */
  onRefused(participantId: string, code: string, message: string): void;
}

/** A round once its updates are combined and the model's next version stored. */
export interface CollectedRound {
  finalized: RoundResult;
  /** Bytes each participant sent for its update and protocol messages, on average. */
  bytesPerClient: number;
  /** The plain updates, when the coordinator could read them and was asked to keep them. */
  updates?: VisibleUpdate[];
}

/**
 * The coordinator's half of one round under one protection: what it asks of each participant, how
 * it takes in their messages, and how it turns them into the next model.
 */
export interface RoundCollection {
  readonly kind: 'none' | 'secagg' | 'ckks' | 'tee';
  /** Whether the coordinator sees individual updates (robust rules and the poisoning detector need them). */
  readonly individualUpdatesVisible: boolean;
  /** Work before the round's tasks go out (an enclave opens the round and attests its key). */
  prepare?(): Promise<void>;
  /** The protection section of a participant's task. */
  taskProtection(participantId: string): TaskProtection;
  /** An update (after offer and pull): 'accepted', 'duplicate', or an UpdateRejectedError. */
  submit(participantId: string, update: RemoteUpdate): Promise<SubmitOutcome>;
  /** A protocol message of this round's protection. */
  receiveStage(participantId: string, message: StageMessage): Promise<void>;
  /** Stops waiting for a participant whose update was refused for good: it takes no further part in the round. */
  excuse(participantId: string): void;
  /** Waits for the participants (until the deadline), combines what arrived and closes the round. */
  finish(signal?: AbortSignal): Promise<CollectedRound>;
}

/**
 * Waits until `ready()` holds, re-checked on each `poke()`, or until the deadline passes or the
 * signal aborts (JOB_ABORTED). Used for "every expected message is in, or time is up".
 */
export class Waiter {
  private wake: (() => void) | null = null;

  /** Re-checks the condition of whoever is waiting. */
  poke(): void {
    this.wake?.();
  }

  /** Resolves when `ready()` is true or at `deadline`; rejects when `signal` aborts. */
  until(ready: () => boolean | Promise<boolean>, deadline: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.wake = null;
        signal?.removeEventListener('abort', aborted);
        if (error) reject(error);
        else resolve();
      };
      const aborted = (): void => finish(new StateError('JOB_ABORTED', 'the coordinator stopped during a round'));
      const check = (): void => {
        Promise.resolve(ready()).then((done) => done && finish(), finish);
      };
      if (signal?.aborted) return aborted();
      const timer = setTimeout(() => finish(), Math.max(0, deadline - Date.now()));
      this.wake = check;
      signal?.addEventListener('abort', aborted, { once: true });
      check();
    });
  }
}
