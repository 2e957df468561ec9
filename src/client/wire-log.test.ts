import { mkdtempSync, rmSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { WireLog, readWireLog } from './wire-log.js';

const dir = mkdtempSync(join(tmpdir(), 'cn-wire-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('wire log', () => {
  it('reads back every message recorded, whole and in order', () => {
    const file = join(dir, 'round-trip.bin');
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (messages) => {
        const log = WireLog.open(file);
        for (const m of messages) log.record(m);
        log.close();
        expect(readWireLog(file).map((b) => [...b])).toEqual(messages.map((m) => [...m]));
      }),
    );
  });

  it('drops records after close, and refuses a cut-off file with its code', () => {
    const file = join(dir, 'cut.bin');
    const log = WireLog.open(file);
    log.record(Uint8Array.of(1, 2, 3));
    log.close();
    log.record(Uint8Array.of(4));
    expect(readWireLog(file)).toEqual([Buffer.from([1, 2, 3])]);
    truncateSync(file, statSync(file).size - 1);
    expect(() => readWireLog(file)).toThrow(expect.objectContaining({ code: 'WIRE_LOG_TRUNCATED' }));
    truncateSync(file, 2);
    expect(() => readWireLog(file)).toThrow(expect.objectContaining({ code: 'WIRE_LOG_TRUNCATED' }));
  });

  it('says which file it cannot write', () => {
    expect(() => WireLog.open(join(dir, 'no', 'such', 'folder', 'log.bin'))).toThrow(expect.objectContaining({ code: 'WIRE_LOG_UNWRITABLE' }));
  });
});
