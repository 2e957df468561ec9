import type { PresetName } from '../privacy/he/index.js';
import type { ClientResult } from './client-training.js';
import { HeCoordinator, HeParticipants } from './he-round.js';
import type { RoundResult, TrainingManager } from './training-manager.js';

/** How client updates travel to the coordinator and are combined. */
export interface RoundProtection {
  /** 'ckks': encrypted, summed as ciphertexts. */
  readonly kind: 'ckks';
  /** Whether the coordinator can see individual updates (robust rules and the poisoning detector need them). */
  readonly individualUpdatesVisible: boolean;
  /** Hands the clients' results to the training manager in this protection's form and closes the round. */
  collect(manager: TrainingManager, roundId: string, results: readonly ClientResult[], metrics: Record<string, number>, global: Float32Array): Promise<ProtectedRoundOutcome>;
  close(): void;
}

/** A closed round and what its updates cost on the wire. */
export interface ProtectedRoundOutcome {
  finalized: RoundResult;
  /** Bytes each client sent for its update, on average. */
  bytesPerClient: number;
  /** Seconds the clients spent protecting their updates (encryption), summed over clients. */
  clientSeconds: number;
}

/**
 * CKKS round: each client sends its update times its example count as a ciphertext; the
 * coordinator adds ciphertexts with evaluation keys only; a participant decrypts the sum and
 * divides by the total examples. The coordinator's code path never holds a secret key.
 */
export class CkksRound implements RoundProtection {
  readonly kind = 'ckks' as const;
  readonly individualUpdatesVisible = false;

  private constructor(
    private readonly participants: HeParticipants,
    private readonly coordinator: HeCoordinator,
  ) {}

  /** Generates the job's keys at a participant and gives the coordinator its evaluation keys. */
  static async create(jobId: string, preset: PresetName): Promise<CkksRound> {
    const participants = await HeParticipants.create(jobId, preset);
    return new CkksRound(participants, await HeCoordinator.create(participants.coordinatorKeys()));
  }

  async collect(manager: TrainingManager, roundId: string, results: readonly ClientResult[], metrics: Record<string, number>): Promise<ProtectedRoundOutcome> {
    let bytes = 0;
    const started = performance.now();
    const payloads = new Map<string, Uint8Array>();
    for (const result of results) payloads.set(result.clientId, await this.participants.encrypt(result.weights, result.numExamples));
    const clientSeconds = (performance.now() - started) / 1000;
    for (const result of results) {
      const payload = payloads.get(result.clientId) as Uint8Array;
      bytes += payload.byteLength;
      await manager.submitProtectedUpdate(roundId, {
        clientId: result.clientId,
        numExamples: result.numExamples,
        payload,
        metrics: { loss: result.loss, seconds: result.seconds },
      });
    }
    const finalized = await manager.finalizeProtectedRound(
      roundId,
      async (updates) => {
        const sum = await this.coordinator.aggregate(updates.map((u) => u.payload));
        return this.participants.decrypt(sum, updates.reduce((s, u) => s + u.numExamples, 0));
      },
      metrics,
    );
    return { finalized, bytesPerClient: results.length ? bytes / results.length : 0, clientSeconds };
  }

  close(): void {
    this.participants.dispose();
    this.coordinator.dispose();
  }
}
