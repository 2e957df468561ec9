import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { CipherNexusError, InvalidInputError } from './errors.js';
import { formatZodIssue } from './config.js';

/**
 * An append-only, hash-chained audit trail in a JSON-lines file. Entry n carries
 * hash_n = sha256(canonical JSON of the entry without `hash`), and prevHash_n = hash_{n-1} (the
 * genesis hash for n = 1), so editing, deleting, reordering or inserting an entry breaks the chain
 * at that entry. Cutting entries off the end does not: compare `head` with a copy kept elsewhere
 * (a chain anchor, a report) to detect that. One process writes a trail at a time.
 */

/** prevHash of the first entry. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);
// Bounds what a reader holds in memory for one line; an entry's details must fit in it.
const MAX_LINE_BYTES = 1 << 20;
const READ_CHUNK = 1 << 16;

/** One audit entry as stored. `details` is JSON, stored as JSON.stringify stores it (undefined members dropped). */
export const AuditEntrySchema = z
  .object({
    seq: z.number().int().min(1),
    at: z.string().datetime(),
    kind: z.string().min(1).max(128),
    actor: z.string().min(1).max(256),
    details: z.record(z.string(), z.unknown()),
    prevHash: z.string().regex(/^[0-9a-f]{64}$/),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

/** One audit entry. */
export type AuditEntry = z.output<typeof AuditEntrySchema>;

/** The trail cannot be appended to as it is (`AUDIT_TORN_TAIL`, `AUDIT_TAMPERED`, `AUDIT_CLOSED`, `AUDIT_WRITE_FAILED`, `AUDIT_ENTRY_INVALID`). */
export class AuditTrailError extends CipherNexusError {}

/** The hash an entry must carry: sha256 over the canonical JSON of every field but `hash`. */
function entryHash(entry: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = entry;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** Why a stored line is not the next entry of the chain, or undefined when it is. */
function chainFault(raw: Record<string, unknown>, entry: AuditEntry, expectedSeq: number, prevHash: string): string | undefined {
  if (entryHash(raw) !== entry.hash) return `entry ${expectedSeq} was edited: its hash does not match its contents`;
  if (entry.seq > expectedSeq) return `entry ${expectedSeq} is missing (found ${entry.seq} in its place): entries were deleted or reordered`;
  if (entry.seq < expectedSeq) return `entry ${entry.seq} appears again after entry ${expectedSeq - 1}: entries were inserted or reordered`;
  if (entry.prevHash !== prevHash) return `entry ${expectedSeq} does not chain to the entry before it: an entry was inserted, deleted or replaced`;
  return undefined;
}

/** A stored line as an entry, or why it is not one. */
function parseLine(line: Buffer, lineNumber: number): { raw: Record<string, unknown>; entry: AuditEntry } | { fault: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line.toString('utf8'));
  } catch {
    return { fault: `line ${lineNumber} is not JSON` };
  }
  const result = AuditEntrySchema.safeParse(raw);
  if (!result.success) return { fault: `line ${lineNumber} is not an audit entry: ${formatZodIssue(result.error.issues[0], { what: 'entry', input: raw, schema: AuditEntrySchema })}` };
  // Hash what was stored, not zod's copy of it, so no key can be lost in between.
  return { raw: raw as Record<string, unknown>, entry: result.data };
}

/** Options of `AuditTrail.open`. */
export interface AuditTrailOptions {
  /** Clock for `at`; default the system clock. */
  now?: () => Date;
  /**
   * Cut off an incomplete last line (a crash in the middle of an append, which was therefore never
   * acknowledged) and record the cut as an `audit.tail_repaired` entry. Without it, such a file is refused.
   */
  repairTornTail?: boolean;
}

/** The end of a trail file: its last complete line and any incomplete bytes after it. */
interface Tail {
  lastLine?: Buffer;
  torn: Buffer;
}

async function readTail(handle: FileHandle, size: number, file: string): Promise<Tail> {
  const length = Math.min(size, 2 * (MAX_LINE_BYTES + 1));
  const buffer = Buffer.alloc(length);
  await handle.read(buffer, 0, length, size - length);
  const wholeFile = length === size;
  const end = buffer.lastIndexOf(0x0a);
  if (end === -1) {
    if (wholeFile) return { torn: buffer };
    throw tampered(file, 'its last line is longer than any entry');
  }
  const start = end === 0 ? -1 : buffer.lastIndexOf(0x0a, end - 1);
  if (start === -1 && !wholeFile) throw tampered(file, 'its last line is longer than any entry');
  return { lastLine: buffer.subarray(start + 1, end), torn: buffer.subarray(end + 1) };
}

function tampered(file: string, reason: string): AuditTrailError {
  return new AuditTrailError('AUDIT_TAMPERED', `audit trail '${file}' cannot be resumed: ${reason}; run \`cipher-nexus audit verify ${file}\`, keep the file as evidence and start a new trail`, {
    file,
    reason,
  });
}

/** Makes a new file's directory entry durable, so the file survives a crash along with its contents. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** An open audit trail that appends entries, one at a time, each on disk before its promise settles. */
export class AuditTrail {
  private readonly pending: { line: Buffer; entry: AuditEntry; resolve: (entry: AuditEntry) => void; reject: (error: unknown) => void }[] = [];
  private flushing: Promise<void> | null = null;
  /** The last entry on disk; the chain's head moves ahead of it while a batch is being written. */
  private durable: { seq: number; hash: string };
  private state: 'open' | 'broken' | 'closed' = 'open';

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    private seq: number,
    private hash: string,
    private size: number,
    private readonly now: () => Date,
  ) {
    this.durable = { seq, hash };
  }

  /** Opens (or creates) a trail and resumes its chain from the last entry; throws AuditTrailError when the file ends torn or its last entry is not intact. */
  static async open(file: string, options: AuditTrailOptions = {}): Promise<AuditTrail> {
    await mkdir(dirname(file), { recursive: true });
    const created = !existsSync(file);
    const handle = await open(file, 'a+');
    try {
      if (created) await syncDirectory(dirname(file));
      const { size } = await handle.stat();
      const tail = await readTail(handle, size, file);
      let seq = 0;
      let hash = AUDIT_GENESIS_HASH;
      if (tail.lastLine) {
        const parsed = parseLine(tail.lastLine, 0);
        if ('fault' in parsed) throw tampered(file, 'its last complete line is not an audit entry');
        if (entryHash(parsed.raw) !== parsed.entry.hash) throw tampered(file, `entry ${parsed.entry.seq} was edited`);
        ({ seq, hash } = parsed.entry);
      }
      if (tail.torn.length > 0 && !options.repairTornTail) {
        throw new AuditTrailError(
          'AUDIT_TORN_TAIL',
          `audit trail '${file}' ends with an incomplete entry of ${tail.torn.length} bytes, left by a crash during an append; check the rest with \`cipher-nexus audit verify ${file}\`, then open it with repairTornTail to cut the fragment off (the cut is recorded in the trail)`,
          { file, tornBytes: tail.torn.length },
        );
      }
      const trail = new AuditTrail(file, handle, seq, hash, size - tail.torn.length, options.now ?? (() => new Date()));
      if (tail.torn.length > 0) {
        const discarded = { discardedBytes: tail.torn.length, discardedSha256: createHash('sha256').update(tail.torn).digest('hex') };
        await handle.truncate(trail.size);
        await trail.append('audit.tail_repaired', 'audit-trail', discarded);
      }
      return trail;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** The last entry's seq and hash (0 and the genesis hash for an empty trail): what to anchor elsewhere. */
  get head(): { seq: number; hash: string } {
    return { seq: this.seq, hash: this.hash };
  }

  /**
   * Appends an entry; its promise settles once the entry is on disk. Entries chain in call order;
   * entries appended while a write is in flight go to disk together with one fsync (group commit),
   * so a busy coordinator pays one sync per batch instead of one per entry.
   */
  append(kind: string, actor: string, details: Readonly<Record<string, unknown>> = {}): Promise<AuditEntry> {
    if (this.state === 'closed') return Promise.reject(new AuditTrailError('AUDIT_CLOSED', `audit trail '${this.file}' is closed; open it again to append`));
    if (this.state === 'broken') {
      return Promise.reject(
        new AuditTrailError('AUDIT_WRITE_FAILED', `an earlier append to '${this.file}' failed; close the trail, then open it again (with repairTornTail if it ends torn)`),
      );
    }
    let entry: AuditEntry;
    let line: Buffer;
    try {
      entry = this.nextEntry(kind, actor, details);
      line = Buffer.from(`${JSON.stringify(entry)}\n`);
      if (line.length > MAX_LINE_BYTES) throw new AuditTrailError('AUDIT_ENTRY_INVALID', `the '${kind}' entry is ${line.length} bytes, over the ${MAX_LINE_BYTES}-byte limit; record a digest of large details instead`);
    } catch (error) {
      return Promise.reject(error);
    }
    this.seq = entry.seq;
    this.hash = entry.hash;
    return new Promise((resolve, reject) => {
      this.pending.push({ line, entry, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      const bytes = Buffer.concat(batch.map((p) => p.line));
      try {
        await this.handle.writeFile(bytes);
        await this.handle.sync();
      } catch (error) {
        // Leave no fragment behind: cut back to the last whole entry, and refuse the entries chained
        // on the failed ones too; the next append follows the last entry on disk.
        await this.handle.truncate(this.size).catch(() => {
          this.state = 'broken';
        });
        ({ seq: this.seq, hash: this.hash } = this.durable);
        for (const p of [...batch, ...this.pending.splice(0)]) p.reject(error);
        break;
      }
      this.size += bytes.length;
      const last = batch[batch.length - 1].entry;
      this.durable = { seq: last.seq, hash: last.hash };
      for (const p of batch) p.resolve(p.entry);
    }
    this.flushing = null;
  }

  private nextEntry(kind: string, actor: string, details: Readonly<Record<string, unknown>>): AuditEntry {
    let stored: unknown;
    try {
      stored = JSON.parse(JSON.stringify(details));
    } catch (error) {
      throw new AuditTrailError('AUDIT_ENTRY_INVALID', `the details of a '${kind}' entry cannot be stored as JSON (${(error as Error).message}); pass plain JSON values`);
    }
    const unsigned = { seq: this.seq + 1, at: this.now().toISOString(), kind, actor, details: stored, prevHash: this.hash };
    const entry = AuditEntrySchema.safeParse({ ...unsigned, hash: entryHash(unsigned) });
    if (!entry.success) {
      throw new AuditTrailError('AUDIT_ENTRY_INVALID', `cannot append: ${formatZodIssue(entry.error.issues[0], { what: 'entry', input: unsigned, schema: AuditEntrySchema })}`);
    }
    return entry.data;
  }

  /** Waits for pending appends and closes the file. */
  async close(): Promise<void> {
    await this.flushing;
    if (this.state === 'closed') return;
    this.state = 'closed';
    await this.handle.close();
  }
}

/** Result of `verifyAuditTrail`. */
export interface AuditVerification {
  ok: boolean;
  /** Entries that verified, from the first, before any fault. */
  entries: number;
  /** Hash of the last entry that verified (the genesis hash when none did). */
  head: string;
  /** Position in the chain of the first entry that failed. */
  firstBadSeq?: number;
  /** What is wrong there. */
  reason?: string;
}

/** Lines of a file, read in chunks so memory stays bounded; the last element is what follows the final newline. */
function* lines(file: string): Generator<{ line: Buffer; complete: boolean }> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InvalidInputError('AUDIT_NOT_FOUND', `audit trail '${file}' does not exist; give the trail's JSON-lines file`, { file });
    throw new InvalidInputError('AUDIT_UNREADABLE', `audit trail '${file}' cannot be read (${code ?? 'error'}); give the trail's JSON-lines file`, { file });
  }
  try {
    const chunk = Buffer.alloc(READ_CHUNK);
    let pending = Buffer.alloc(0);
    for (;;) {
      let read: number;
      try {
        read = readSync(fd, chunk, 0, READ_CHUNK, null);
      } catch (error) {
        throw new InvalidInputError('AUDIT_UNREADABLE', `audit trail '${file}' cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); give the trail's JSON-lines file`, { file });
      }
      if (read === 0) break;
      pending = Buffer.concat([pending, chunk.subarray(0, read)]);
      let newline: number;
      while ((newline = pending.indexOf(0x0a)) !== -1) {
        yield { line: pending.subarray(0, newline), complete: true };
        pending = pending.subarray(newline + 1);
      }
      if (pending.length > MAX_LINE_BYTES) {
        yield { line: pending, complete: true };
        return;
      }
    }
    if (pending.length > 0) yield { line: pending, complete: false };
  } finally {
    closeSync(fd);
  }
}

/** Checks a whole trail: every entry's hash, sequence and link to the one before; reports the first fault. */
export function verifyAuditTrail(file: string): AuditVerification {
  let expectedSeq = 1;
  let prevHash = AUDIT_GENESIS_HASH;
  const fail = (reason: string): AuditVerification => ({ ok: false, entries: expectedSeq - 1, head: prevHash, firstBadSeq: expectedSeq, reason });
  for (const { line, complete } of lines(file)) {
    const lineNumber = expectedSeq;
    if (!complete) return fail(`the file ends with an incomplete entry of ${line.length} bytes: a crash during an append, or a cut`);
    if (line.length > MAX_LINE_BYTES) return fail(`line ${lineNumber} is longer than any entry`);
    const parsed = parseLine(line, lineNumber);
    if ('fault' in parsed) return fail(parsed.fault);
    const fault = chainFault(parsed.raw, parsed.entry, expectedSeq, prevHash);
    if (fault) return fail(fault);
    prevHash = parsed.entry.hash;
    expectedSeq += 1;
  }
  return { ok: true, entries: expectedSeq - 1, head: prevHash };
}
