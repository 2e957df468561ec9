import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePlainUpdate } from './plain.js';

const update = (body: Uint8Array) => ({ roundId: 'r', numExamples: 1, seconds: 1, encoding: 'float32' as const, body });

describe('decodePlainUpdate', () => {
  it('reads float32 weights wherever the body lies in its buffer: in place when aligned, copied otherwise', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 50 }), fc.nat(7), (values, offset) => {
        const weights = Float32Array.from(values);
        const frame = new Uint8Array(offset + weights.byteLength);
        frame.set(new Uint8Array(weights.buffer), offset);
        const decoded = decodePlainUpdate('p1', update(frame.subarray(offset)), new Float32Array(weights.length));
        expect(Array.from(decoded)).toEqual(Array.from(weights));
        // Aligned bytes are viewed where they arrived; others are copied to a buffer of their own.
        expect(decoded.buffer === frame.buffer).toBe(offset % 4 === 0);
      }),
    );
  });

  it('refuses a float32 body whose size is not the model size', () => {
    expect(() => decodePlainUpdate('p1', update(new Uint8Array(12)), new Float32Array(4))).toThrow(/carries 12 bytes; 4 float32 weights \(16 bytes\)/);
  });
});
