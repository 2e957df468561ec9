import { readFileSync } from 'node:fs';

/** The bytes of one SEV-SNP test vector in this folder (see README.md for where each comes from). */
export function snpVector(name: string): Buffer {
  return readFileSync(new URL(name, import.meta.url));
}

/** The text of one SEV-SNP test vector (PEM chains, the hex report). */
export function snpVectorText(name: string): string {
  return snpVector(name).toString('utf8');
}
