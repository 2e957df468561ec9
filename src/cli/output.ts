import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CommanderError } from 'commander';
import { CipherNexusError, InvalidInputError, NotFoundError } from '../core/errors.js';

/** Exit codes of the CLI: 2 for anything the user can fix in their input. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/**
 * A job ran to its end but its model missed a `validation` threshold. Not 1, which a supervisor
 * restarts (a restarted coordinator resumes its job): the same seeded config would train the same
 * model again. Not 2: the input was valid and the job changed the store.
 */
export const EXIT_VALIDATION_FAILED = 3;

// The code of fl's JobValidationError, matched by code so that the CLI need not load the FL layer (and TF.js) to report it.
const JOB_VALIDATION_FAILED = 'JOB_VALIDATION_FAILED';

/** An operator aborted the coordinator's job: the process did as told, and a supervisor should not start it again. */
export const EXIT_ABORTED = 4;

/** Writes JSON to a file atomically, so a reader never sees half a report. */
export function writeJsonFile(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Prints an error as one line on stderr and returns the exit code it deserves; never a stack trace unless CIPHER_NEXUS_DEBUG is set. */
export function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander has already printed its own one-line message.
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (process.env.CIPHER_NEXUS_DEBUG) console.error(error);
  if (error instanceof InvalidInputError || error instanceof NotFoundError) {
    process.stderr.write(`error [${error.code}]: ${error.message}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof CipherNexusError) {
    process.stderr.write(`error [${error.code}]: ${error.message}\n`);
    return error.code === JOB_VALIDATION_FAILED ? EXIT_VALIDATION_FAILED : EXIT_FAILURE;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message} (set CIPHER_NEXUS_DEBUG=1 for details)\n`);
  return EXIT_FAILURE;
}

/** Prints a value as JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
