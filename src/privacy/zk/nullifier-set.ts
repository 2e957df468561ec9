import { ZkProofRejectedError } from './errors.js';

/** Spent nullifiers per scope: the second proof from one identity in one scope (round, proposal) is refused. */
export class NullifierSet {
  // Keyed by scope so a finished round or proposal can be dropped whole.
  private readonly spent = new Map<bigint, Set<bigint>>();

  /** Whether `nullifier` was already spent in `scope`. */
  has(scope: bigint, nullifier: bigint): boolean {
    return this.spent.get(scope)?.has(nullifier) ?? false;
  }

  /** Records `nullifier` as spent in `scope`, or throws `ZK_NULLIFIER_REUSED` if it already was. */
  consume(scope: bigint, nullifier: bigint): void {
    let set = this.spent.get(scope);
    if (set === undefined) this.spent.set(scope, (set = new Set()));
    if (set.has(nullifier)) {
      throw new ZkProofRejectedError('ZK_NULLIFIER_REUSED', `nullifier ${nullifier} was already used in scope ${scope}: one proof per identity per scope`, {
        scope: String(scope),
        nullifier: String(nullifier),
      });
    }
    set.add(nullifier);
  }

  /** Forgets a finished scope's nullifiers. */
  clear(scope: bigint): void {
    this.spent.delete(scope);
  }
}
