/**
 * Just enough DER (ITU-T X.690 §8.1, definite lengths only) to find the exact bytes a signature
 * covers and to read Intel's SGX certificate extension, which no installed library models.
 */

/** One DER element: its tag byte and where its header and contents lie in the buffer it was read from. */
export interface DerElement {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the element. */
  end: number;
}

/** Reads the element at `offset`, or null when the bytes there are not a complete DER element. */
export function readElement(bytes: Uint8Array, offset: number, limit = bytes.length): DerElement | null {
  if (offset + 2 > limit) return null;
  const tag = bytes[offset];
  // Multi-byte tags never occur in the structures read here.
  if ((tag & 0x1f) === 0x1f) return null;
  let cursor = offset + 1;
  const first = bytes[cursor++];
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4 || cursor + count > limit) return null;
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + bytes[cursor++];
  }
  const end = cursor + length;
  if (end > limit) return null;
  return { tag, start: offset, contentStart: cursor, end };
}

/** The elements directly inside a constructed element, or null when its contents do not parse. */
export function childrenOf(bytes: Uint8Array, parent: DerElement): DerElement[] | null {
  const children: DerElement[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readElement(bytes, offset, parent.end);
    if (child === null) return null;
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The content bytes of an element. */
export function contentOf(bytes: Uint8Array, element: DerElement): Uint8Array {
  return bytes.subarray(element.contentStart, element.end);
}

/** A non-negative INTEGER or ENUMERATED of at most 6 bytes as a number, or null. */
export function unsignedOf(bytes: Uint8Array, element: DerElement): number | null {
  const content = contentOf(bytes, element);
  if (content.length === 0 || content.length > 6 || content[0] & 0x80) return null;
  return content.reduce((value, byte) => value * 256 + byte, 0);
}

/** An OBJECT IDENTIFIER's dotted text (X.690 §8.19). */
export function oidOf(bytes: Uint8Array, element: DerElement): string {
  const content = contentOf(bytes, element);
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  if (arcs.length === 0) return '';
  const head = arcs[0] < 80 ? [Math.floor(arcs[0] / 40), arcs[0] % 40] : [2, arcs[0] - 80];
  return [...head, ...arcs.slice(1)].join('.');
}
