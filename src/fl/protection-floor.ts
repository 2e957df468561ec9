import { CipherNexusError, InvalidInputError } from '../core/errors.js';
import type { TaskProtection } from './participant-channel.js';

/**
 * A participant's own floor on how its update travels. The coordinator names each round's
 * protection in the task; without a floor a participant follows it, so a coordinator (or an edge)
 * could ask for a plain round and read every update. With one, a task naming any other protection
 * is refused before training, and the coordinator is told why.
 */

/** How a round's update can travel: plain, SecAgg+, CKKS, or sealed to an aggregation enclave. */
export type ProtectionKind = TaskProtection['kind'];

/** Every protection a task can name, as the CLI spells them. */
export const PROTECTION_KINDS: readonly ProtectionKind[] = ['none', 'secagg', 'ckks', 'tee'];

/** The round's protection is not one this participant accepts. */
export class ProtectionRefusedError extends CipherNexusError {}

/** Parses a comma-separated list of protections (`secagg,ckks`); throws InvalidInputError naming what is unknown. */
export function parseProtectionFloor(list: string): ReadonlySet<ProtectionKind> {
  const names = list.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  const unknown = names.filter((name) => !(PROTECTION_KINDS as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new InvalidInputError(
      'PROTECTION_FLOOR_INVALID',
      `--protection takes a comma-separated list of ${PROTECTION_KINDS.join(', ')}; got ${names.length === 0 ? 'nothing' : unknown.map((name) => `'${name}'`).join(', ')}`,
    );
  }
  return new Set(names as ProtectionKind[]);
}

/** Throws ProtectionRefusedError when the task's protection is not in `accepted`. */
export function checkProtectionFloor(protection: ProtectionKind, accepted: ReadonlySet<ProtectionKind>): void {
  if (accepted.has(protection)) return;
  throw new ProtectionRefusedError(
    'PROTECTION_REFUSED',
    `the round asks for ${protection === 'none' ? 'plain updates' : `'${protection}'`}; this participant sends its update only under ${[...accepted].map((kind) => `'${kind}'`).join(' or ')} (client --protection)`,
  );
}
