import { createHash } from 'node:crypto';

/** Unambiguous byte encoding of a labelled tuple (each part length-prefixed), for signatures, AEAD data and hashes. */
export function transcript(label: string, ...parts: (Uint8Array | string)[]): Uint8Array {
  const chunks: Buffer[] = [];
  for (const part of [`cipher-nexus/secagg/v1/${label}`, ...parts]) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** SHA-256 of a transcript. */
export function transcriptHash(label: string, ...parts: (Uint8Array | string)[]): Uint8Array {
  return new Uint8Array(createHash('sha256').update(transcript(label, ...parts)).digest());
}
