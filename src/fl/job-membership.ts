import { StateError } from '../core/errors.js';
import type { Storage } from '../core/index.js';
import { EXAMPLES_REDECLARED } from './weight-bound.js';

/** A participant of the job: what it declared, and the identity key it is registered with. */
interface Member {
  numExamples: number;
  identityKey: Uint8Array;
}

/** Who takes part in a job: the connected participants, those refused for good, and the round loop waiting for them. */
export class JobMembership {
  private readonly members = new Map<string, Member>();
  /** Participants the incentives refused during the job: they take no further part. */
  private readonly excluded = new Set<string>();
  private joinWaiters: (() => void)[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly jobId: string,
  ) {}

  /** Refuses a participant that joins again declaring another example count than before: the count is fixed for the job. */
  async checkDeclared(participantId: string, numExamples: number): Promise<void> {
    // The count a participant declares bounds the weight of every update it sends: it is declared once per job.
    const declared = (await this.declaredExamples([participantId])).get(participantId);
    if (declared !== undefined && declared !== numExamples) {
      throw new StateError(EXAMPLES_REDECLARED, `'${participantId}' declared ${declared} examples for this job and now declares ${numExamples}; the count is fixed for the job: join with the same data, or ask the operator to start a new job`, {
        participantId,
        declared,
        numExamples,
      });
    }
  }

  /** A participant connected (again). */
  add(participantId: string, member: Member): void {
    this.members.set(participantId, member);
  }

  /** A participant's connection closed. */
  remove(participantId: string): void {
    this.members.delete(participantId);
  }

  /** True while the participant is connected. */
  has(participantId: string): boolean {
    return this.members.has(participantId);
  }

  /** Takes the participant out of the job for good (it may stay connected). */
  exclude(participantId: string): void {
    this.excluded.add(participantId);
  }

  /** True for a participant taken out of the job. */
  isExcluded(participantId: string): boolean {
    return this.excluded.has(participantId);
  }

  /** The connected participants' identity keys, for the round's protection. */
  identityKeys(): Map<string, Uint8Array> {
    return new Map([...this.members].map(([id, member]) => [id, member.identityKey]));
  }

  /** Wakes the round loop waiting for a participant to join. */
  wakeWaiters(): void {
    const waiters = this.joinWaiters;
    this.joinWaiters = [];
    for (const wake of waiters) wake();
  }

  /** What each participant declared when it joined this job: from its membership, or from the store for one that joined a previous coordinator process. */
  async declaredExamples(ids: readonly string[]): Promise<Map<string, number>> {
    const declared = new Map<string, number>();
    for (const id of ids) {
      const member = this.members.get(id);
      if (member) {
        declared.set(id, member.numExamples);
        continue;
      }
      const node = await this.storage.nodes.get(id);
      const stored = node?.labels.job === this.jobId ? Number(node.labels.examples) : Number.NaN;
      if (Number.isInteger(stored) && stored > 0) declared.set(id, stored);
    }
    return declared;
  }

  /** Waits until at least `count` participants are connected; without open membership, fails at once when too few are. */
  async waitFor(count: number, openMembership: boolean, signal: AbortSignal): Promise<void> {
    // Excluded participants may stay connected, but they are not selected.
    const eligible = (): number => [...this.members.keys()].filter((id) => !this.excluded.has(id)).length;
    if (!openMembership && eligible() < count) {
      throw new StateError('SELECTION_INSUFFICIENT', `${eligible()} participants take part and a round needs at least ${count}; lower selection.minClients or add clients`);
    }
    while (eligible() < count) {
      if (signal.aborted) throw new StateError('JOB_ABORTED', 'the coordinator stopped while waiting for participants');
      await this.nextJoin(signal);
    }
  }

  /** Resolves at the next join, or when `signal` aborts. */
  nextJoin(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      this.joinWaiters.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }
}
