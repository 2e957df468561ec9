import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UpdateRejectedError } from '../round-errors.js';
import { concatBytes } from '../../core/index.js';
import { packParts, packedParts, partText, textPart, unpackParts } from './parts.js';

describe('protocol message parts', () => {
  it('round-trips any list of byte strings', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (parts) => {
        expect(unpackParts(packParts(parts), 'test').map((p) => [...p])).toEqual(parts.map((p) => [...p]));
      }),
    );
    expect(partText(unpackParts(packParts([textPart('clinic-a')]), 'test')[0])).toBe('clinic-a');
  });

  it('packedParts is packParts in chunks: a large part is a chunk of its own, the same bytes and not a copy', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 64 * 1024, max: 70 * 1024 }).map((n) => new Uint8Array(n).fill(n % 251))), { maxLength: 6 }), (parts) => {
        const chunks = packedParts(parts);
        expect(Buffer.from(concatBytes(chunks)).equals(Buffer.from(packParts(parts)))).toBe(true);
        for (const part of parts.filter((p) => p.byteLength >= 64 * 1024)) expect(chunks).toContain(part);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses truncated, overlong and miscounted bodies with one clear error, never anything else', () => {
    const good = packParts([new Uint8Array([1, 2, 3]), new Uint8Array(5)]);
    expect(() => unpackParts(good.subarray(0, good.length - 1), 'identities')).toThrow(/the identities message is malformed: part 2 runs past the end/);
    expect(() => unpackParts(new Uint8Array([...good, 0]), 'identities')).toThrow(/1 bytes follow the last part/);
    expect(() => unpackParts(good, 'identities', { min: 3, max: 3 })).toThrow(/it has 2 parts, expected 3/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          unpackParts(bytes, 'fuzz');
        } catch (error) {
          expect(error).toBeInstanceOf(UpdateRejectedError);
          expect((error as UpdateRejectedError).code).toBe('PROTOCOL_PARTS_MALFORMED');
        }
      }),
    );
  });
});
