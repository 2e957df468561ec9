/**
 * Joins byte arrays into one fresh, unpooled buffer with a single copy, returned as a plain Uint8Array view.
 * `new Uint8Array(Buffer.concat(parts))` copies a second time, element by element: for the megabytes of a CKKS
 * vector that second copy cost more than the concatenation and the SHA-256 over it together.
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.byteLength;
  // Never from Node's shared pool, so that `.buffer` of the result holds only these bytes.
  const out = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return new Uint8Array(out.buffer, out.byteOffset, total);
}
