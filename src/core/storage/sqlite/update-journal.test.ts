import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpdateJournal } from './update-journal.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-journal-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (n: number, seed: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

describe('UpdateJournal', () => {
  it('gives back each client newest payload, from the same process and from a new one', async () => {
    const journal = new UpdateJournal(dir);
    await Promise.all([journal.append('r1', 'a', bytes(1000, 1)), journal.append('r1', 'b', bytes(0, 2)), journal.append('r2', 'a', bytes(7, 3))]);
    await journal.append('r1', 'a', bytes(10, 4));
    expect(await journal.read('r1', 'a')).toEqual(bytes(10, 4));
    expect(await journal.read('r1', 'b')).toEqual(new Uint8Array(0));
    expect(await journal.read('r1', 'nobody')).toBeUndefined();
    await journal.close();

    const later = new UpdateJournal(dir);
    expect(await later.read('r1', 'a')).toEqual(bytes(10, 4));
    expect(await later.read('r2', 'a')).toEqual(bytes(7, 3));
    expect(await later.remove('r1')).toBe(2);
    expect(existsSync(later.pathOf('r1'))).toBe(false);
    expect(await later.read('r1', 'a')).toBeUndefined();
    expect(await later.remove('r1')).toBe(0);
    await later.close();
  });

  it('cuts off a record torn by a crash and appends after the last whole one', async () => {
    const first = new UpdateJournal(dir);
    await first.append('r', 'a', bytes(500, 1));
    await first.close();
    const whole = statSync(first.pathOf('r')).size;
    // The crash: a header and half a payload of 'b' reached the file.
    const torn = readFileSync(first.pathOf('r')).subarray(0, whole);
    appendFileSync(first.pathOf('r'), torn.subarray(0, 300));

    const second = new UpdateJournal(dir);
    expect(await second.read('r', 'a')).toEqual(bytes(500, 1));
    expect(await second.read('r', 'b')).toBeUndefined();
    await second.append('r', 'b', bytes(64, 2));
    await second.close();
    const third = new UpdateJournal(dir);
    expect(await third.read('r', 'a')).toEqual(bytes(500, 1));
    expect(await third.read('r', 'b')).toEqual(bytes(64, 2));
    expect(statSync(third.pathOf('r')).size).toBeLessThan(2 * whole);
    await third.close();
  });

  it('does not return bytes damaged on disk', async () => {
    const journal = new UpdateJournal(dir);
    await journal.append('r', 'a', bytes(256, 9));
    await journal.close();
    const file = readFileSync(journal.pathOf('r'));
    file[file.length - 1] ^= 1;
    writeFileSync(journal.pathOf('r'), file);
    expect(await new UpdateJournal(dir).read('r', 'a')).toBeUndefined();
  });

  it('any sequence of appends reads back as each client last payload', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'ç', 'd'.repeat(300)), fc.uint8Array({ maxLength: 64 })), { maxLength: 20 }), async (appends) => {
        const round = `r-${Math.random()}`;
        const journal = new UpdateJournal(dir);
        await Promise.all(appends.map(([client, payload]) => journal.append(round, client, payload)));
        const last = new Map(appends.map(([client, payload]) => [client, payload]));
        await journal.close();
        const reopened = new UpdateJournal(dir);
        for (const [client, payload] of last) expect(await reopened.read(round, client)).toEqual(payload);
        expect(await reopened.remove(round)).toBe(last.size);
      }),
      { numRuns: 40 },
    );
  });
});
