/** Loads the SGX DCAP vectors of this folder (see README.md for what each one is and where it came from). */
import { readFileSync } from 'node:fs';

const folder = new URL('./', import.meta.url);

/** A vector's bytes. */
export function sgxVector(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, folder)));
}

/** A vector's text, exactly as stored. */
export function sgxVectorText(name: string): string {
  return readFileSync(new URL(name, folder), 'utf8');
}
