import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes } from './bytes.js';

describe('concatBytes', () => {
  it('holds the parts in order, in a buffer of its own', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (parts) => {
        const joined = concatBytes(parts);
        expect(Array.from(joined)).toEqual(parts.flatMap((p) => Array.from(p)));
        expect(joined.byteOffset).toBe(0);
        expect(joined.buffer.byteLength).toBe(joined.byteLength);
        expect(Object.getPrototypeOf(joined)).toBe(Uint8Array.prototype);
      }),
    );
  });

  it('copies: changing a part later leaves the result alone', () => {
    const part = new Uint8Array([1, 2, 3]);
    const joined = concatBytes([part, Buffer.from([4])]);
    part[0] = 9;
    expect(Array.from(joined)).toEqual([1, 2, 3, 4]);
  });
});
