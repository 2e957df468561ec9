import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ZkArtefactError } from './errors.js';

// The verification key decides which proofs are accepted, so it is pinned here: a key swapped on disk is refused
// rather than trusted. `npm run circuits` prints the new hash in circuits/ARTEFACTS.sha256 when the circuit changes.
const MEMBERSHIP_VKEY_SHA256 = '64c6e69e105a4196dca1685da45a4c16b39afeeb4891b266e3eb42b8d32904d1';

// Three levels up from src/privacy/zk (or dist/privacy/zk) is the package root.
const buildDir = fileURLToPath(new URL('../../../circuits/build/', import.meta.url));

/** Paths of the membership circuit's prover artefacts (witness generator and final zkey) from `npm run circuits`. */
export const MEMBERSHIP_ARTEFACTS = { wasm: `${buildDir}membership.wasm`, zkey: `${buildDir}membership.zkey`, verificationKey: `${buildDir}membership.vkey.json` } as const;

/** Reads the membership verification key and checks it against the pinned sha256. */
export function loadVerificationKey(path: string = MEMBERSHIP_ARTEFACTS.verificationKey): object {
  const bytes = readFileSync(path);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== MEMBERSHIP_VKEY_SHA256) {
    throw new ZkArtefactError(`verification key ${path} has sha256 ${actual}, not the pinned ${MEMBERSHIP_VKEY_SHA256}; restore it from git or rerun npm run circuits and update the pin`, {
      path,
      actual,
      expected: MEMBERSHIP_VKEY_SHA256,
    });
  }
  return JSON.parse(bytes.toString('utf8')) as object;
}
