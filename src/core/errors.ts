/** Base class of every error Cipher Nexus throws on purpose: a stable `code` and a message that says what to do. */
export class CipherNexusError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG_INVALID`. */
  readonly code: string;
  /** The offending value or extra context, when there is one. */
  readonly details?: unknown;

  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** Input from a user (a config, a flag, a file) is malformed or impossible; the CLI exits with code 2. */
export class InvalidInputError extends CipherNexusError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, details);
  }
}

/** A referenced entity (node, task, model, round, job) does not exist. */
export class NotFoundError extends CipherNexusError {
  constructor(kind: string, id: string) {
    super(`${kind.toUpperCase()}_NOT_FOUND`, `${kind} '${id}' does not exist; list the known ones first`, { id });
  }
}

/** An operation is not allowed in the entity's current state (a closed round, a busy node). */
export class StateError extends CipherNexusError {}
