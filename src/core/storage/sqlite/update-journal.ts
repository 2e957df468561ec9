import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** Where an SQLite database's update journals go by default: beside the file, as its `-models` store. */
export function defaultUpdateJournalDir(databasePath: string): string {
  return `${databasePath}-updates`;
}

const MAGIC = Buffer.from('CNU1', 'latin1');
/** magic, CRC-32 of the payload, payload length, client id length (u32, u32, u16 little-endian); then the id and the payload. */
const HEADER_BYTES = MAGIC.length + 4 + 4 + 2;

/** Where one payload sits in its round's journal. */
interface Extent {
  offset: number;
  length: number;
  crc: number;
}

/** One round's journal file, its appends queued so that each record lands whole at a known offset. */
interface RoundFile {
  handle: Promise<FileHandle>;
  size: number;
  tail: Promise<void>;
  index: Map<string, Extent>;
}

/**
 * Accepted updates' bytes of open rounds, one append-only file per round, `<dir>/<hash of round id>.journal`:
 * written off the event loop (libuv's thread pool) where a blob in SQLite cost the coordinator about
 * 2 ms of its thread per 400 KB update. A record is the client's id, the payload's length and CRC-32,
 * and the bytes; the newest whole record of a client is its payload, a read checks its CRC, and a
 * torn record at the end (a crash mid-write) is cut off when the journal is next appended to. The
 * updates row is written after its record, so a record without a row is never asked for. Durable
 * against a crash of the process (the page cache keeps it), as SQLite's WAL is at `synchronous = NORMAL`.
 */
export class UpdateJournal {
  private readonly open = new Map<string, RoundFile>();

  constructor(readonly dir: string) {}

  /** Appends one payload to its round's journal; resolves once the bytes are in the file. */
  async append(roundId: string, clientId: string, payload: Uint8Array): Promise<void> {
    const file = this.roundFile(roundId);
    const id = Buffer.from(clientId, 'utf8');
    const crc = crc32(payload);
    const header = Buffer.alloc(HEADER_BYTES + id.length);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(crc, MAGIC.length);
    header.writeUInt32LE(payload.byteLength, MAGIC.length + 4);
    header.writeUInt16LE(id.length, MAGIC.length + 8);
    id.copy(header, HEADER_BYTES);
    const at = file.size;
    file.size += header.length + payload.byteLength;
    const write = file.tail.then(async () => {
      await (await file.handle).writev([header, payload], at);
      file.index.set(clientId, { offset: at + header.length, length: payload.byteLength, crc });
    });
    // A failed write must not wedge later appends, and the size no longer matches the file: forget it.
    file.tail = write.catch(() => this.forget(roundId));
    await write;
  }

  /** The client's newest payload in the round's journal, or undefined when none is whole there. */
  async read(roundId: string, clientId: string): Promise<Uint8Array | undefined> {
    const file = this.open.get(roundId);
    if (file) await file.tail;
    const index = file?.index ?? this.scan(roundId);
    const extent = index.get(clientId);
    if (!extent) return undefined;
    const bytes = new Uint8Array(extent.length);
    const fd = openSync(this.pathOf(roundId), 'r');
    try {
      for (let done = 0; done < bytes.length; ) {
        const n = readSync(fd, bytes, done, bytes.length - done, extent.offset + done);
        if (n === 0) return undefined;
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return crc32(bytes) === extent.crc ? bytes : undefined;
  }

  /** Calls `take` with each client's newest whole payload in the round's journal, one at a time. */
  async forEach(roundId: string, take: (clientId: string, payload: Uint8Array) => void): Promise<void> {
    const file = this.open.get(roundId);
    if (file) await file.tail;
    for (const clientId of (file?.index ?? this.scan(roundId)).keys()) {
      const payload = await this.read(roundId, clientId);
      if (payload) take(clientId, payload);
    }
  }

  /** How many clients' payloads the round's journal holds. */
  async count(roundId: string): Promise<number> {
    const file = this.open.get(roundId);
    if (file) await file.tail;
    return (file?.index ?? this.scan(roundId)).size;
  }

  /** Deletes the round's journal (its aggregate is stored); returns how many clients' payloads it held. */
  async remove(roundId: string): Promise<number> {
    const file = this.open.get(roundId);
    if (file) await file.tail;
    const records = (file?.index ?? this.scan(roundId)).size;
    await this.forget(roundId);
    // Freeing hundreds of MB takes the kernel a while: off the event loop.
    await rm(this.pathOf(roundId), { force: true });
    return records;
  }

  /** Closes every open journal file. */
  async close(): Promise<void> {
    await Promise.all([...this.open.keys()].map((roundId) => this.forget(roundId)));
  }

  /** The journal file of a round: its id is hashed, so any id makes a safe file name. */
  pathOf(roundId: string): string {
    return join(this.dir, `${createHash('sha256').update(roundId).digest('hex').slice(0, 32)}.journal`);
  }

  private roundFile(roundId: string): RoundFile {
    let file = this.open.get(roundId);
    if (!file) {
      mkdirSync(this.dir, { recursive: true });
      const path = this.pathOf(roundId);
      const index = this.scan(roundId);
      // A journal left by an earlier process is appended to after its last whole record: a torn one is cut off.
      const size = [...index.values()].reduce((end, e) => Math.max(end, e.offset + e.length), 0);
      const handle = open(path, existsSync(path) ? 'r+' : 'w+').then(async (h) => {
        await h.truncate(size);
        return h;
      });
      file = { handle, size, tail: Promise.resolve(), index };
      this.open.set(roundId, file);
    }
    return file;
  }

  private async forget(roundId: string): Promise<void> {
    const file = this.open.get(roundId);
    if (!file) return;
    this.open.delete(roundId);
    // A handle that never opened has nothing to close; its error reached the append that needed it.
    await file.handle.then((h) => h.close(), () => undefined);
  }

  /** Reads the record headers of a round's journal: each client's newest extent, stopping at a torn or foreign record. */
  private scan(roundId: string): Map<string, Extent> {
    const index = new Map<string, Extent>();
    const path = this.pathOf(roundId);
    if (!existsSync(path)) return index;
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const header = Buffer.alloc(HEADER_BYTES + 0xffff);
      for (let at = 0; at + HEADER_BYTES <= size; ) {
        if (readSync(fd, header, 0, HEADER_BYTES, at) !== HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) break;
        const crc = header.readUInt32LE(MAGIC.length);
        const length = header.readUInt32LE(MAGIC.length + 4);
        const idLength = header.readUInt16LE(MAGIC.length + 8);
        const start = at + HEADER_BYTES + idLength;
        if (start + length > size || readSync(fd, header, HEADER_BYTES, idLength, at + HEADER_BYTES) !== idLength) break;
        index.set(header.toString('utf8', HEADER_BYTES, HEADER_BYTES + idLength), { offset: start, length, crc });
        at = start + length;
      }
    } finally {
      closeSync(fd);
    }
    return index;
  }
}
