import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadVerificationKey, MEMBERSHIP_ARTEFACTS } from './artefacts.js';
import { ZkArtefactError } from './errors.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const listed = readFileSync(join(root, 'circuits', 'ARTEFACTS.sha256'), 'utf8')
  .trim()
  .split('\n')
  .map((line) => line.split(/\s+/) as [string, string]);

describe('circuit artefacts', () => {
  // The development ceremony takes minutes, so CI checks the committed outputs against their list instead of rerunning it.
  it.each(listed)('%s is the hash of %s', (hash, file) => {
    expect(createHash('sha256').update(readFileSync(join(root, file))).digest('hex')).toBe(hash);
  });

  it('lists the circuit source and every artefact the prover and verifier load', () => {
    const files = listed.map(([, file]) => join(root, file));
    expect(files).toEqual(expect.arrayContaining([join(root, 'circuits', 'membership.circom'), ...Object.values(MEMBERSHIP_ARTEFACTS)]));
  });

  it('pins the verification key', () => {
    expect(loadVerificationKey()).toMatchObject({ protocol: 'groth16', curve: 'bn128', nPublic: 4 });
    const swapped = join(mkdtempSync(join(tmpdir(), 'zk-')), 'vkey.json');
    writeFileSync(swapped, readFileSync(MEMBERSHIP_ARTEFACTS.verificationKey, 'utf8').replace('"nPublic": 4', '"nPublic": 4 '));
    expect(() => loadVerificationKey(swapped)).toThrow(ZkArtefactError);
  });
});
