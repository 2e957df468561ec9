import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AUDIT_GENESIS_HASH, AuditTrail, AuditTrailError, verifyAuditTrail, type AuditEntry } from './audit-trail.js';
import { CipherNexusError, InvalidInputError } from './errors.js';

let dir: string;
let file: string;
let clock: number;
const now = (): Date => new Date(clock++ * 1000 + Date.UTC(2026, 0, 1));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-audit-'));
  file = join(dir, 'nested', 'audit.jsonl');
  clock = 0;
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

async function trailOf(count: number): Promise<AuditEntry[]> {
  const trail = await AuditTrail.open(file, { now });
  const entries: AuditEntry[] = [];
  for (let i = 1; i <= count; i++) entries.push(await trail.append('round.finalized', 'coordinator', { round: i }));
  await trail.close();
  return entries;
}

const storedLines = (): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);
const store = (lines: string[]): void => writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function failure(promise: Promise<unknown>): Promise<CipherNexusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CipherNexusError);
  return error as CipherNexusError;
}

describe('AuditTrail', () => {
  it('hashes the canonical JSON of each entry without its hash, chained from the genesis hash', async () => {
    const trail = await AuditTrail.open(file, { now });
    expect(trail.head).toEqual({ seq: 0, hash: AUDIT_GENESIS_HASH });
    const first = await trail.append('job.started', 'coordinator', { z: 1, a: [{ d: 2, c: null }], skipped: undefined });
    // The published form: keys sorted at every depth, no whitespace, undefined members dropped.
    const canonical =
      '{"actor":"coordinator","at":"2026-01-01T00:00:00.000Z","details":{"a":[{"c":null,"d":2}],"z":1},"kind":"job.started","prevHash":"' + AUDIT_GENESIS_HASH + '","seq":1}';
    expect(first).toEqual({
      seq: 1,
      at: '2026-01-01T00:00:00.000Z',
      kind: 'job.started',
      actor: 'coordinator',
      details: { z: 1, a: [{ d: 2, c: null }] },
      prevHash: AUDIT_GENESIS_HASH,
      hash: sha256(canonical),
    });
    const second = await trail.append('participant.connected', 'clinic-a');
    expect(second).toMatchObject({ seq: 2, details: {}, prevHash: first.hash });
    expect(trail.head).toEqual({ seq: 2, hash: second.hash });
    await trail.close();
    expect(storedLines().map((l) => JSON.parse(l))).toEqual([first, second]);
    expect(verifyAuditTrail(file)).toEqual({ ok: true, entries: 2, head: second.hash });
  });

  it('serialises concurrent appends in call order', async () => {
    const trail = await AuditTrail.open(file, { now });
    const entries = await Promise.all(Array.from({ length: 50 }, (_, i) => trail.append('update.accepted', `p-${i}`, { i })));
    await trail.close();
    expect(entries.map((e) => [e.seq, e.actor])).toEqual(entries.map((_, i) => [i + 1, `p-${i}`]));
    expect(verifyAuditTrail(file)).toMatchObject({ ok: true, entries: 50 });
  });

  it('resumes the chain after a restart, with or without a clean close', async () => {
    const before = await trailOf(3);
    const resumed = await AuditTrail.open(file, { now });
    expect(resumed.head).toEqual({ seq: 3, hash: before[2].hash });
    const fourth = await resumed.append('job.resumed', 'coordinator');
    expect(fourth).toMatchObject({ seq: 4, prevHash: before[2].hash });
    // A process that dies keeps what it appended: the next one resumes from it.
    const again = await AuditTrail.open(file, { now });
    expect(again.head).toEqual({ seq: 4, hash: fourth.hash });
    await again.append('job.completed', 'coordinator');
    await again.close();
    await resumed.close();
    expect(verifyAuditTrail(file)).toMatchObject({ ok: true, entries: 5 });
  });

  it('refuses details that are not JSON, entries without a kind or actor, and appends after close', async () => {
    const trail = await AuditTrail.open(file, { now });
    expect(await failure(trail.append('x', 'y', { amount: 1n }))).toMatchObject({ code: 'AUDIT_ENTRY_INVALID' });
    expect(await failure(trail.append('', 'coordinator'))).toMatchObject({ code: 'AUDIT_ENTRY_INVALID', message: expect.stringContaining("entry field 'kind'") });
    expect(await failure(trail.append('x', ''))).toMatchObject({ code: 'AUDIT_ENTRY_INVALID' });
    expect(await failure(trail.append('x', 'y', { blob: 'x'.repeat(1 << 20) }))).toMatchObject({ code: 'AUDIT_ENTRY_INVALID' });
    expect(trail.head.seq).toBe(0);
    await trail.append('x', 'y', { at: new Date(0) });
    await trail.close();
    await trail.close();
    expect(await failure(trail.append('x', 'y'))).toMatchObject({ code: 'AUDIT_CLOSED' });
    expect(storedLines().map((l) => JSON.parse(l).details)).toEqual([{ at: '1970-01-01T00:00:00.000Z' }]);
  });

  it('cuts a failed append back so the next entry follows the last whole one, and stops appending when it cannot', async () => {
    const trail = await AuditTrail.open(file, { now });
    await trail.append('job.started', 'coordinator');
    const probe = await open(file, 'r');
    const prototype = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const writeFile = prototype.writeFile;
    const diskFull = async function (this: FileHandle, data: string | Uint8Array): Promise<void> {
      await writeFile.call(this, data.slice(0, 10));
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    vi.spyOn(prototype, 'writeFile').mockImplementationOnce(diskFull);
    await expect(trail.append('update.accepted', 'clinic-a')).rejects.toThrow('no space left on device');
    expect(trail.head.seq).toBe(1);
    await trail.append('update.accepted', 'clinic-b');
    expect(verifyAuditTrail(file)).toMatchObject({ ok: true, entries: 2 });

    vi.spyOn(prototype, 'writeFile').mockImplementationOnce(diskFull);
    vi.spyOn(prototype, 'truncate').mockRejectedValueOnce(new Error('EIO'));
    await expect(trail.append('update.accepted', 'clinic-c')).rejects.toThrow('no space left on device');
    expect(await failure(trail.append('update.accepted', 'clinic-d'))).toMatchObject({ code: 'AUDIT_WRITE_FAILED' });
    vi.restoreAllMocks();
    await trail.close();
    expect(verifyAuditTrail(file)).toMatchObject({ ok: false, entries: 2, firstBadSeq: 3 });
  });

  it('writes entries appended while a write is in flight together, with one fsync per batch, in call order', async () => {
    const trail = await AuditTrail.open(file, { now });
    const probe = await open(file, 'r');
    const prototype = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const sync = vi.spyOn(prototype, 'sync');
    const entries = await Promise.all(Array.from({ length: 50 }, (_, i) => trail.append('update.accepted', `clinic-${i}`)));
    const syncs = sync.mock.calls.length;
    vi.restoreAllMocks();
    await trail.close();
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThan(50);
    expect(verifyAuditTrail(file)).toMatchObject({ ok: true, entries: 50, head: entries[49].hash });
  });

  it('refuses to resume a file that ends with a torn entry, and cuts it off on request, recording the cut', async () => {
    const entries = await trailOf(2);
    const fragment = '{"seq":3,"at":"2026-01-01T00:00:0';
    appendFileSync(file, fragment);
    const error = await failure(AuditTrail.open(file, { now }));
    expect(error).toBeInstanceOf(AuditTrailError);
    expect(error).toMatchObject({ code: 'AUDIT_TORN_TAIL', details: { tornBytes: fragment.length } });
    expect(error.message).toContain('repairTornTail');

    const repaired = await AuditTrail.open(file, { now, repairTornTail: true });
    expect(repaired.head.seq).toBe(3);
    await repaired.close();
    const last = JSON.parse(storedLines()[2]);
    expect(last).toMatchObject({ seq: 3, kind: 'audit.tail_repaired', prevHash: entries[1].hash, details: { discardedBytes: fragment.length, discardedSha256: sha256(fragment) } });
    expect(verifyAuditTrail(file)).toMatchObject({ ok: true, entries: 3 });
  });

  it('treats a file holding only a torn first entry the same way', async () => {
    mkdirSync(join(dir, 'nested'));
    writeFileSync(file, '{"seq":1,');
    expect(await failure(AuditTrail.open(file))).toMatchObject({ code: 'AUDIT_TORN_TAIL' });
    const trail = await AuditTrail.open(file, { repairTornTail: true });
    expect(trail.head.seq).toBe(1);
    await trail.close();
    expect(verifyAuditTrail(file)).toMatchObject({ ok: true, entries: 1 });
  });

  it('refuses to resume after a last entry that was edited or is not an entry', async () => {
    await trailOf(2);
    const lines = storedLines();
    store([lines[0], lines[1].replace('"round":2', '"round":7')]);
    expect(await failure(AuditTrail.open(file))).toMatchObject({ code: 'AUDIT_TAMPERED', message: expect.stringContaining('entry 2 was edited') });
    store([lines[0], '{"hello":1}']);
    expect(await failure(AuditTrail.open(file))).toMatchObject({ code: 'AUDIT_TAMPERED' });
  });
});

describe('verifyAuditTrail', () => {
  const rehash = (entry: Record<string, unknown>): string => {
    const { hash: _hash, ...rest } = entry;
    const canonical = (value: unknown): string =>
      value === null || typeof value !== 'object'
        ? JSON.stringify(value)
        : Array.isArray(value)
          ? `[${value.map(canonical).join(',')}]`
          : `{${Object.keys(value)
              .sort()
              .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
              .join(',')}}`;
    return sha256(canonical(rest));
  };

  it('accepts an empty trail', async () => {
    await (await AuditTrail.open(file)).close();
    expect(verifyAuditTrail(file)).toEqual({ ok: true, entries: 0, head: AUDIT_GENESIS_HASH });
  });

  it.each<[string, (lines: string[]) => string[], number, RegExp]>([
    ['an edited entry', (l) => [l[0], l[1], l[2].replace('"round":3', '"round":30'), l[3], l[4]], 3, /^entry 3 was edited: its hash does not match its contents$/],
    ['an edited timestamp', (l) => [l[0], l[1].replace('00:00:01', '00:00:09'), ...l.slice(2)], 2, /^entry 2 was edited/],
    [
      'an edited entry whose hash was recomputed',
      (l) => {
        const entry = JSON.parse(l[1].replace('"round":2', '"round":20'));
        return [l[0], JSON.stringify({ ...entry, hash: rehash(entry) }), ...l.slice(2)];
      },
      3,
      /^entry 3 does not chain to the entry before it/,
    ],
    ['a deleted entry', (l) => [l[0], l[1], l[3], l[4]], 3, /^entry 3 is missing \(found 4 in its place\): entries were deleted or reordered$/],
    ['a deleted first entry', (l) => l.slice(1), 1, /^entry 1 is missing \(found 2 in its place\)/],
    ['two swapped entries', (l) => [l[0], l[2], l[1], l[3], l[4]], 2, /^entry 2 is missing \(found 3 in its place\)/],
    ['a duplicated entry', (l) => [l[0], l[1], l[1], ...l.slice(2)], 3, /^entry 2 appears again after entry 2: entries were inserted or reordered$/],
    [
      'an inserted entry that chains to its predecessor',
      (l) => {
        const forged = { ...JSON.parse(l[2]), details: { round: 99 } };
        return [l[0], l[1], JSON.stringify({ ...forged, hash: rehash(forged) }), ...l.slice(2)];
      },
      4,
      /^entry 3 appears again after entry 3/,
    ],
    [
      'entries renumbered after a deletion',
      (l) => {
        const renumbered = { ...JSON.parse(l[3]), seq: 3 };
        return [l[0], l[1], JSON.stringify({ ...renumbered, hash: rehash(renumbered) })];
      },
      3,
      /^entry 3 does not chain to the entry before it/,
    ],
    ['a line that is not JSON', (l) => [l[0], '{"seq":2,', ...l.slice(2)], 2, /^line 2 is not JSON$/],
    ['a blank line', (l) => [l[0], '', ...l.slice(1)], 2, /^line 2 is not JSON$/],
    ['a line that is not an entry', (l) => [l[0], l[1].replace('"actor"', '"who"'), ...l.slice(2)], 2, /^line 2 is not an audit entry: entry field 'actor' is missing/],
  ])('finds %s and reports where', async (_what, tamper, firstBadSeq, reason) => {
    await trailOf(5);
    store(tamper(storedLines()));
    const result = verifyAuditTrail(file);
    expect(result).toMatchObject({ ok: false, entries: firstBadSeq - 1, firstBadSeq });
    expect(result.reason).toMatch(reason);
  });

  it('reports a torn last line after the entries that verified', async () => {
    const entries = await trailOf(3);
    appendFileSync(file, '{"seq":4');
    expect(verifyAuditTrail(file)).toEqual({
      ok: false,
      entries: 3,
      head: entries[2].hash,
      firstBadSeq: 4,
      reason: 'the file ends with an incomplete entry of 8 bytes: a crash during an append, or a cut',
    });
  });

  it('cannot see entries cut off the end, but its head then differs from the one anchored before', async () => {
    const entries = await trailOf(4);
    const anchored = verifyAuditTrail(file).head;
    expect(anchored).toBe(entries[3].hash);
    store(storedLines().slice(0, 3));
    const after = verifyAuditTrail(file);
    expect(after).toMatchObject({ ok: true, entries: 3 });
    expect(after.head).not.toBe(anchored);
  });

  it('reads a trail longer than its read chunk, and refuses a line longer than any entry', async () => {
    const trail = await AuditTrail.open(file, { now });
    for (let i = 0; i < 40; i++) await trail.append('update.accepted', 'clinic-a', { padding: 'x'.repeat(5000), i });
    await trail.close();
    expect(verifyAuditTrail(file)).toMatchObject({ ok: true, entries: 40 });
    appendFileSync(file, 'x'.repeat((1 << 20) + 10));
    expect(verifyAuditTrail(file)).toMatchObject({ ok: false, entries: 40, firstBadSeq: 41, reason: 'line 41 is longer than any entry' });
  });

  it('refuses a file that does not exist or is not a file as bad input', () => {
    expect(() => verifyAuditTrail(join(dir, 'none.jsonl'))).toThrow(expect.objectContaining({ code: 'AUDIT_NOT_FOUND' }));
    expect(() => verifyAuditTrail(dir)).toThrow(InvalidInputError);
    expect(() => verifyAuditTrail(dir)).toThrow(expect.objectContaining({ code: 'AUDIT_UNREADABLE' }));
  });

  it('finds a cut in the middle of the last line that ends the file without a newline', async () => {
    await trailOf(2);
    truncateSync(file, readFileSync(file).length - 1);
    expect(verifyAuditTrail(file)).toMatchObject({ ok: false, entries: 1, firstBadSeq: 2 });
  });
});
