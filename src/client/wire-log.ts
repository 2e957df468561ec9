import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { InvalidInputError } from '../core/errors.js';

/**
 * An opt-in record of every message a participant's agent writes to the coordinator, whole and as
 * signed, before TLS encrypts it: what a data owner can inspect to see exactly what left its node.
 * The file is a sequence of records, each a 4-byte big-endian length and that many bytes.
 */
export class WireLog {
  private fd: number | null;

  private constructor(readonly path: string) {
    // Created anew and readable by the owner only: it holds what the node sent, model updates included.
    this.fd = openSync(path, 'w', 0o600);
  }

  /** Opens (truncating) the log at `path`. */
  static open(path: string): WireLog {
    try {
      return new WireLog(path);
    } catch (error) {
      throw new InvalidInputError('WIRE_LOG_UNWRITABLE', `cannot write the wire log '${path}' (${(error as NodeJS.ErrnoException).code ?? 'error'}); give a file in a folder you can write to`);
    }
  }

  /** Appends one message; written synchronously, so that the record is complete however the process ends. */
  readonly record = (message: Uint8Array): void => {
    if (this.fd === null) return;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(message.byteLength);
    writeSync(this.fd, length);
    writeSync(this.fd, message);
  };

  /** Closes the file; later records are dropped. */
  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

/** Reads a wire log back: the messages in the order they were sent. */
export function readWireLog(path: string): Buffer[] {
  const bytes = readFileSync(path);
  const messages: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new InvalidInputError('WIRE_LOG_TRUNCATED', `the wire log '${path}' ends inside a record's length at byte ${at}`);
    const length = bytes.readUInt32BE(at);
    if (at + 4 + length > bytes.length) throw new InvalidInputError('WIRE_LOG_TRUNCATED', `the wire log '${path}' ends inside a ${length}-byte record at byte ${at}`);
    messages.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return messages;
}
